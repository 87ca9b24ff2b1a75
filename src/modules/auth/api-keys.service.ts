import { Injectable, Logger } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { Repository } from 'typeorm';
import { RedisService } from 'src/infra/redis/redis.service';
import { ApiKey, ApiKeyScope } from 'src/modules/auth/api-key.entity';
import { displayPrefix, generateApiKey, hashApiKey } from 'src/modules/auth/api-key.format';

export interface AuthenticatedKey {
  id: number;
  name: string;
  scope: ApiKeyScope;
}

export interface CreatedApiKey {
  id: number;
  name: string;
  scope: ApiKeyScope;
  key: string;
}

const LAST_USED_RESOLUTION_S = 60;

@Injectable()
export class ApiKeysService {
  private readonly logger = new Logger(ApiKeysService.name);

  constructor(
    @InjectRepository(ApiKey) private readonly keys: Repository<ApiKey>,
    private readonly redis: RedisService,
  ) {}

  async create(name: string, scope: ApiKeyScope = 'full'): Promise<CreatedApiKey> {
    const key = generateApiKey();
    const row = await this.keys.save(
      this.keys.create({
        name,
        scope,
        keyPrefix: displayPrefix(key),
        keyHash: hashApiKey(key),
        active: true,
      }),
    );
    return { id: row.id, name: row.name, scope: row.scope, key };
  }

  /**
   * Creates a first key when none exists; `null` if there already is one. Serialised with a
   * transaction-scoped advisory lock so processes booting together create only one.
   */
  async createFirstKeyIfNone(name: string): Promise<CreatedApiKey | null> {
    return this.keys.manager.transaction(async (em) => {
      await em.query(`SELECT pg_advisory_xact_lock(hashtext('email-sender:first-api-key'))`);
      if ((await em.count(ApiKey)) > 0) return null;
      const key = generateApiKey();
      const row = await em.save(
        em.create(ApiKey, {
          name,
          scope: 'full',
          keyPrefix: displayPrefix(key),
          keyHash: hashApiKey(key),
          active: true,
        }),
      );
      return { id: row.id, name: row.name, scope: row.scope, key };
    });
  }

  list(): Promise<ApiKey[]> {
    return this.keys.find({ order: { id: 'ASC' } });
  }

  /** Returns false when no active key has this id. */
  async revoke(id: number): Promise<boolean> {
    const result = await this.keys.update(
      { id, active: true },
      { active: false, revokedAt: new Date() },
    );
    return (result.affected ?? 0) > 0;
  }

  /**
   * The active key matching `presented`, or null. Every presented value — well-formed or
   * not — is hashed and looked up the same way, so the work done does not depend on it.
   */
  async authenticate(presented: string): Promise<AuthenticatedKey | null> {
    const row = await this.keys.findOne({
      where: { keyHash: hashApiKey(presented), active: true },
      select: { id: true, name: true, scope: true },
    });
    if (!row) return null;
    this.touchLastUsed(row.id);
    return { id: row.id, name: row.name, scope: row.scope };
  }

  /** At most one write per key per minute across all processes; never delays the request. */
  private touchLastUsed(id: number): void {
    this.redis.client
      .set(this.redis.key('apikey-used', id), '1', 'EX', LAST_USED_RESOLUTION_S, 'NX')
      .then((set) => (set ? this.keys.update({ id }, { lastUsedAt: new Date() }) : undefined))
      .catch((err: Error) => this.logger.debug(`last_used_at not updated: ${err.message}`));
  }
}
