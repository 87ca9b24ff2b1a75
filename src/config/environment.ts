import { Transform } from 'class-transformer';
import {
  IsBoolean,
  IsIn,
  IsInt,
  IsOptional,
  IsString,
  Matches,
  Max,
  MaxLength,
  Min,
  MinLength,
} from 'class-validator';

const toBool = ({ value }: { value: unknown }): unknown => {
  if (typeof value !== 'string') return value;
  const v = value.trim().toLowerCase();
  if (['true', '1', 'yes', 'on'].includes(v)) return true;
  if (['false', '0', 'no', 'off', ''].includes(v)) return false;
  return value;
};

const toInt = ({ value }: { value: unknown }): unknown => {
  if (typeof value !== 'string' || value.trim() === '') return value;
  return /^-?\d+$/.test(value.trim()) ? Number(value.trim()) : value;
};

const URL_PATTERN = /^https?:\/\/[^\s/$.?#][^\s]*$/i;
const PG_URL_PATTERN = /^postgres(ql)?:\/\/\S+$/i;
const REDIS_URL_PATTERN = /^rediss?:\/\/\S+$/i;
const HOST_NAME =
  /^(?=.{1,253}$)([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.?$/i;
const HOST_NAME_LIST = /^\s*[a-z0-9.-]+\.?(\s*,\s*[a-z0-9.-]+\.?)*\s*$/i;

/**
 * The raw environment (README "Configuration"). Each field is validated by class-validator;
 * `loadConfig` turns an instance into the typed `AppConfig` the rest of the app injects.
 */
export class Environment {
  @IsOptional()
  @IsIn(['development', 'production', 'test'])
  NODE_ENV?: string;

  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(65535)
  PORT?: number;

  /** Listen address (README "Security"): 127.0.0.1 outside production unless set. */
  @IsOptional()
  @Matches(/^([0-9a-f.:]+|localhost|[a-z0-9.-]+)$/i, {
    message: 'HOST must be an IP address or a host name',
  })
  HOST?: string;

  /** Bearer token for GET /metrics (README "Security"); 24+ characters. */
  @IsOptional()
  @IsString()
  @MinLength(24, { message: 'METRICS_TOKEN must be at least 24 characters' })
  @Matches(/^[\x21-\x7e]+$/, { message: 'METRICS_TOKEN must be printable ASCII without spaces' })
  METRICS_TOKEN?: string;

  @IsOptional()
  @Matches(URL_PATTERN, { message: 'PUBLIC_URL must be an http(s) URL' })
  PUBLIC_URL?: string;

  @IsOptional()
  @Matches(/^[a-z0-9.-]+(:\d+)?$/i, { message: 'DOMAIN must be a host name' })
  DOMAIN?: string;

  @IsOptional()
  @Matches(PG_URL_PATTERN, { message: 'DATABASE_URL must be a postgres:// URL' })
  DATABASE_URL?: string;

  @IsOptional()
  @Matches(REDIS_URL_PATTERN, { message: 'REDIS_URL must be a redis:// URL' })
  REDIS_URL?: string;

  @IsOptional()
  @Matches(/^[A-Za-z0-9:_-]{1,64}$/, { message: 'REDIS_KEY_PREFIX must be 1-64 of [A-Za-z0-9:_-]' })
  REDIS_KEY_PREFIX?: string;

  @IsOptional()
  @Matches(/^\s*(api|worker|scheduler)(\s*,\s*(api|worker|scheduler))*\s*$/, {
    message: 'APP_ROLES must be a comma-separated list of api, worker, scheduler',
  })
  APP_ROLES?: string;

  /**
   * README "Processes, roles and scaling out": without APP_ROLES, `supervised` (the default)
   * runs API and worker in separate child processes; `single` runs every role in this one.
   */
  @IsOptional()
  @IsIn(['supervised', 'single'], { message: 'APP_PROCESSES must be supervised or single' })
  APP_PROCESSES?: string;

  /** API child processes of the supervised start (default: half the cores, 1 to 4). */
  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(64)
  API_PROCESSES?: number;

  /** Set by the supervisor for its children, not by operators (docs/ARCHITECTURE.md "Processes and roles"). */
  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(1)
  APP_SUPERVISOR_PID?: number;

  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(1000)
  WORKER_CONCURRENCY?: number;

  /**
   * README "Processes, roles and scaling out": workers lower their concurrency while the API
   * processes are busy (default true); false keeps the configured concurrencies.
   */
  @IsOptional()
  @Transform(toBool)
  @IsBoolean()
  WORKER_ADAPTIVE_CONCURRENCY?: boolean;

  /** Bounds on caller-supplied Handlebars (README "Security": template limits). */
  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(1024)
  @Max(16 * 1024 * 1024)
  TEMPLATE_MAX_FIELD_BYTES?: number;

  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(1_000_000)
  TEMPLATE_MAX_MUSTACHES?: number;

  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(100)
  TEMPLATE_MAX_NESTING?: number;

  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(1_000_000_000)
  TEMPLATE_MAX_RENDER_STEPS?: number;

  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(1024)
  @Max(64 * 1024 * 1024)
  TEMPLATE_MAX_OUTPUT_BYTES?: number;

  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(10)
  @Max(60_000)
  TEMPLATE_RENDER_TIMEOUT_MS?: number;

  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(64)
  TEMPLATE_WORKER_THREADS?: number;

  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(32)
  @Max(4096)
  TEMPLATE_WORKER_MEMORY_MB?: number;

  /** Decoded attachments plus bodies of one message (README "Sending"); Postal's default is 14 MB. */
  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(64 * 1024)
  @Max(50 * 1024 * 1024)
  MAX_MESSAGE_BYTES?: number;

  @IsOptional()
  @IsIn(['postal', 'sandbox'])
  MAIL_TRANSPORT?: string;

  @IsOptional()
  @Matches(URL_PATTERN, { message: 'POSTAL_URL must be an http(s) URL' })
  POSTAL_URL?: string;

  @IsOptional()
  @IsString()
  @MinLength(1)
  POSTAL_API_KEY?: string;

  @IsOptional()
  @IsString()
  POSTAL_WEBHOOK_PUBLIC_KEY?: string;

  @IsOptional()
  @IsString()
  @MinLength(16, { message: 'POSTAL_SIGNING_KEY must be at least 16 characters' })
  POSTAL_SIGNING_KEY?: string;

  @IsOptional()
  @IsString()
  @MaxLength(320)
  @Matches(/^[^\r\n]*@[^\r\n]*$/, { message: 'DEFAULT_FROM must be an email address' })
  DEFAULT_FROM?: string;

  @IsOptional()
  @IsString()
  @MinLength(32, { message: 'TRACKING_SECRET must be at least 32 characters' })
  TRACKING_SECRET?: string;

  /** Earlier TRACKING_SECRETs, comma-separated: links in mail already sent keep verifying. */
  @IsOptional()
  @IsString()
  @Matches(/^[^,]{32,}(,[^,]{32,})*$/, {
    message: 'TRACKING_SECRET_PREVIOUS must be comma-separated secrets of at least 32 characters',
  })
  TRACKING_SECRET_PREVIOUS?: string;

  @IsOptional()
  @Transform(toBool)
  @IsBoolean()
  TRACK_OPENS?: boolean;

  @IsOptional()
  @Transform(toBool)
  @IsBoolean()
  TRACK_CLICKS?: boolean;

  @IsOptional()
  @IsString()
  ALLOWED_ORIGINS?: string;

  @IsOptional()
  @IsString()
  @MinLength(1)
  ADMIN_USERNAME?: string;

  @IsOptional()
  @IsString()
  @MinLength(1)
  ADMIN_PASSWORD?: string;

  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(1)
  RATE_LIMIT_IP_PER_MIN?: number;

  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(1)
  RATE_LIMIT_KEY_PER_MIN?: number;

  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(1)
  RATE_LIMIT_BATCH_PER_MIN?: number;

  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(1)
  AUTH_BAN_MAX_FAILURES?: number;

  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(1)
  AUTH_BAN_FIND_TIME_S?: number;

  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(1)
  AUTH_BAN_TIME_S?: number;

  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(100000)
  DOMAIN_RATE_DEFAULT?: number;

  @IsOptional()
  @Matches(/^\s*([a-z0-9.-]+\s*=\s*\d+(\.\d+)?\s*)(,\s*[a-z0-9.-]+\s*=\s*\d+(\.\d+)?\s*)*$/i, {
    message: 'DOMAIN_RATE_OVERRIDES must look like gmail.com=50,yahoo.com=10',
  })
  DOMAIN_RATE_OVERRIDES?: string;

  @IsOptional()
  @IsString()
  ANTHROPIC_API_KEY?: string;

  @IsOptional()
  @IsString()
  @MinLength(1)
  ANTHROPIC_MODEL?: string;

  @IsOptional()
  @Matches(URL_PATTERN, { message: 'ANTHROPIC_BASE_URL must be an http(s) URL' })
  ANTHROPIC_BASE_URL?: string;

  @IsOptional()
  @IsString()
  TELEGRAM_BOT_TOKEN?: string;

  @IsOptional()
  @IsString()
  TELEGRAM_CHAT_ID?: string;

  @IsOptional()
  @Matches(URL_PATTERN, { message: 'TELEGRAM_API_URL must be an http(s) URL' })
  TELEGRAM_API_URL?: string;

  @IsOptional()
  @Matches(URL_PATTERN, { message: 'SLACK_WEBHOOK_URL must be an http(s) URL' })
  SLACK_WEBHOOK_URL?: string;

  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(0)
  ANOMALY_MIN_VOLUME?: number;

  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(0)
  COMPLAINT_MIN_VOLUME?: number;

  /** README "Streams": `stream` (default) suppresses complaints for their stream only. */
  @IsOptional()
  @IsIn(['stream', 'all'], { message: 'COMPLAINT_SUPPRESSION_SCOPE must be stream or all' })
  COMPLAINT_SUPPRESSION_SCOPE?: 'stream' | 'all';

  @IsOptional()
  @Transform(toBool)
  @IsBoolean()
  AUTO_PAUSE?: boolean;

  @IsOptional()
  @IsIn(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
  LOG_LEVEL?: string;

  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(1)
  DB_POOL_SIZE?: number;

  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(1)
  RETENTION_EVENTS_DAYS?: number;

  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(1)
  RETENTION_WEBHOOK_EVENTS_DAYS?: number;

  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(1000)
  SHUTDOWN_TIMEOUT_MS?: number;

  /** Node's server.requestTimeout: the whole request (headers and body) within this. */
  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(1000)
  @Max(600000)
  HTTP_REQUEST_TIMEOUT_MS?: number;

  /** Node's server.headersTimeout: the request headers within this. */
  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(1000)
  @Max(600000)
  HTTP_HEADERS_TIMEOUT_MS?: number;

  /** Node's server.keepAliveTimeout: an idle keep-alive connection closes after this. */
  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(1000)
  @Max(600000)
  HTTP_KEEP_ALIVE_TIMEOUT_MS?: number;

  @IsOptional()
  @IsString()
  @MinLength(1)
  TRUST_PROXY?: string;

  @IsOptional()
  @IsString()
  @MinLength(16, { message: 'INBOUND_SECRET must be at least 16 characters' })
  @Matches(/^[A-Za-z0-9._~-]+$/, { message: 'INBOUND_SECRET must be URL-safe ([A-Za-z0-9._~-])' })
  INBOUND_SECRET?: string;

  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(50)
  DELIVERY_MAX_ATTEMPTS?: number;

  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(10)
  DELIVERY_BACKOFF_MS?: number;

  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(100)
  @Max(120000)
  POSTAL_TIMEOUT_MS?: number;

  /** Postal's `default_suppression_list_automatic_removal_days` (30 unless configured there). */
  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(3650)
  POSTAL_SUPPRESSION_DAYS?: number;

  /**
   * Sending domains (README "Sending domains"): what Postal expects in each domain's DNS, from
   * Postal's own config (postal.yml `dns.*`).
   */
  @IsOptional()
  @Matches(HOST_NAME, { message: 'POSTAL_SPF_INCLUDE must be a host name' })
  POSTAL_SPF_INCLUDE?: string;

  @IsOptional()
  @Matches(HOST_NAME, { message: 'POSTAL_RETURN_PATH_HOST must be a host name' })
  POSTAL_RETURN_PATH_HOST?: string;

  @IsOptional()
  @Matches(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/i, {
    message: 'POSTAL_RETURN_PATH_PREFIX must be one DNS label',
  })
  POSTAL_RETURN_PATH_PREFIX?: string;

  @IsOptional()
  @Matches(HOST_NAME_LIST, { message: 'POSTAL_MX_HOSTS must be comma-separated host names' })
  POSTAL_MX_HOSTS?: string;

  /** Resolvers for the domain checks: comma-separated `host[:port]` (IPv6 as `[addr]:port`). */
  @IsOptional()
  @Matches(/^\s*[^,\s]+(\s*,\s*[^,\s]+)*\s*$/, {
    message: 'DNS_SERVERS must be comma-separated host[:port] entries',
  })
  DNS_SERVERS?: string;

  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(100)
  @Max(30000)
  DNS_TIMEOUT_MS?: number;

  /** Refuse sends whose From domain is not a verified sending domain (README "Sending domains"). */
  @IsOptional()
  @Transform(toBool)
  @IsBoolean()
  REQUIRE_VERIFIED_DOMAINS?: boolean;

  /** README "Event webhooks": allow endpoints on private, loopback and link-local addresses. */
  @IsOptional()
  @Transform(toBool)
  @IsBoolean()
  WEBHOOK_ALLOW_PRIVATE_NETWORKS?: boolean;

  /** A delivery attempt's whole budget: connect, answer and the first 1 KB of its body. */
  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(100)
  @Max(60000)
  WEBHOOK_TIMEOUT_MS?: number;

  /** Delays between attempts, comma-separated durations (`500ms`, `5s`, `5m`, `2h`). */
  @IsOptional()
  @Matches(/^\s*\d+(ms|s|m|h)\s*(,\s*\d+(ms|s|m|h)\s*){0,29}$/, {
    message: 'WEBHOOK_RETRY_SCHEDULE must be comma-separated durations such as 5s,5m,30m,2h',
  })
  WEBHOOK_RETRY_SCHEDULE?: string;

  /** Requests in flight to one endpoint at a time. */
  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(100)
  WEBHOOK_ENDPOINT_CONCURRENCY?: number;

  /** Endpoints a worker process drains at once. */
  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(500)
  WEBHOOK_WORKER_CONCURRENCY?: number;

  /** Days event webhook events, deliveries and attempts are kept (README "Event webhooks"). */
  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(3650)
  EVENT_WEBHOOK_RETENTION_DAYS?: number;
}
