import { Injectable, Logger } from '@nestjs/common';
import { AppConfig } from 'src/config/app-config';
import { RedisService } from 'src/infra/redis/redis.service';

// KEYS[1] failures counter, KEYS[2] ban flag; ARGV: findTime s, maxFailures, banTime s.
const RECORD_FAILURE = `
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
if n >= tonumber(ARGV[2]) then
  redis.call('SET', KEYS[2], '1', 'EX', ARGV[3])
  redis.call('DEL', KEYS[1])
  return 1
end
return 0`;

/**
 * fail2ban for the API: too many failed authentications from one IP within the find time
 * bans that IP from /api for the ban time. State lives in Redis, so it holds across
 * processes. Fails open when Redis is down (an outage must not lock everyone out).
 */
@Injectable()
export class AuthBanService {
  private readonly logger = new Logger(AuthBanService.name);

  constructor(
    private readonly redis: RedisService,
    private readonly config: AppConfig,
  ) {}

  /** Seconds left on the IP's ban, or 0 when it is not banned. */
  async banSecondsLeft(ip: string): Promise<number> {
    try {
      const ttl = await this.redis.client.ttl(this.redis.key('auth-ban', ip));
      return ttl > 0 ? ttl : 0;
    } catch (err) {
      this.logger.warn(`ban check skipped: ${(err as Error).message}`);
      return 0;
    }
  }

  /** Records a failed authentication; true when this failure triggered a ban. */
  async recordFailure(ip: string): Promise<boolean> {
    const { maxFailures, findTimeS, banTimeS } = this.config.authBan;
    try {
      const banned = await this.redis.client.eval(
        RECORD_FAILURE,
        2,
        this.redis.key('auth-fail', ip),
        this.redis.key('auth-ban', ip),
        findTimeS,
        maxFailures,
        banTimeS,
      );
      if (banned === 1)
        this.logger.warn({ ip, banTimeS }, 'IP banned after repeated failed authentication');
      return banned === 1;
    } catch (err) {
      this.logger.warn(`failed-auth not recorded: ${(err as Error).message}`);
      return false;
    }
  }
}
