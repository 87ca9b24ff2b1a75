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
/**
 * A verified key is trusted for this long without asking PostgreSQL again. Revoking through
 * this process takes effect at once; a revocation made elsewhere (CLI, another API process)
 * within this many seconds.
 */
export const API_KEY_CACHE_TTL_MS = 5000;
const API_KEY_CACHE_SIZE = 1000;

@Injectable()
export class ApiKeysService {
  private readonly logger = new Logger(ApiKeysService.name);
  private readonly verified = new Map<string, { key: AuthenticatedKey; until: number }>();
  private readonly touched = new Map<number, number>();

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
    for (const [hash, entry] of this.verified) if (entry.key.id === id) this.verified.delete(hash);
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
    const hash = hashApiKey(presented);
    const now = Date.now();
    const cached = this.verified.get(hash);
    if (cached && cached.until > now) {
      this.touchLastUsed(cached.key.id);
      return cached.key;
    }
    const row = await this.keys.findOne({
      where: { keyHash: hash, active: true },
      select: { id: true, name: true, scope: true },
    });
    if (!row) {
      this.verified.delete(hash);
      return null;
    }
    const key: AuthenticatedKey = { id: row.id, name: row.name, scope: row.scope };
    this.verified.delete(hash);
    this.verified.set(hash, { key, until: now + API_KEY_CACHE_TTL_MS });
    if (this.verified.size > API_KEY_CACHE_SIZE)
      this.verified.delete(this.verified.keys().next().value as string);
    this.touchLastUsed(row.id);
    return key;
  }

  /** At most one write per key per minute across all processes; never delays the request. */
  private touchLastUsed(id: number): void {
    // This process touched it within the minute: nothing to do (no Redis round trip).
    const now = Date.now();
    if ((this.touched.get(id) ?? 0) > now - LAST_USED_RESOLUTION_S * 1000) return;
    this.touched.set(id, now);
    this.redis.client
      .set(this.redis.key('apikey-used', id), '1', 'EX', LAST_USED_RESOLUTION_S, 'NX')
      .then((set) => (set ? this.keys.update({ id }, { lastUsedAt: new Date() }) : undefined))
      .catch((err: Error) => this.logger.debug(`last_used_at not updated: ${err.message}`));
  }
}
