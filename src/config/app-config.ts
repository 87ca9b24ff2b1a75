import { randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import { availableParallelism } from 'node:os';
import { plainToInstance } from 'class-transformer';
import { validateSync, ValidationError } from 'class-validator';
import { config as loadDotenv } from 'dotenv';
import { Environment } from 'src/config/environment';

export type AppRole = 'api' | 'worker' | 'scheduler';

/** Limits on caller-supplied Handlebars (TEMPLATE_* variables; README "Security"). */
export interface TemplateLimitsConfig {
  /** UTF-8 bytes of one template field (subject, html, text). */
  readonly maxFieldBytes: number;
  /** `{{` occurrences in one field. */
  readonly maxMustaches: number;
  /** Block nesting depth. */
  readonly maxNesting: number;
  /** Upper bound on evaluations of one render, estimated from the template and variables. */
  readonly maxRenderSteps: number;
  /** UTF-8 bytes of one rendered field. */
  readonly maxOutputBytes: number;
  /** Wall-clock budget of one compile or render. */
  readonly timeoutMs: number;
  readonly workerThreads: number;
  readonly workerMemoryMb: number;
}

/**
 * What Postal expects in a sending domain's DNS (Postal's postal.yml `dns.*`; README "Sending
 * domains") and how this service looks it up.
 */
export interface DomainsConfig {
  /** Postal's `dns.spf_include`: each domain's SPF record must `include:` it. */
  readonly spfInclude?: string;
  /** Postal's `dns.return_path_domain`: the CNAME target of `<prefix>.<domain>`. */
  readonly returnPathHost?: string;
  /** Postal's `dns.custom_return_path_prefix` (`psrp`). */
  readonly returnPathPrefix: string;
  /** Postal's `dns.mx_records`, lower-case without a trailing dot. */
  readonly mxHosts: string[];
  /** Resolvers (`ip[:port]`, `[ipv6]:port`); empty = the system's. */
  readonly dnsServers: string[];
  readonly dnsTimeoutMs: number;
  /** Refuse sends whose From domain is not a verified sending domain. */
  readonly requireVerified: boolean;
}

/** Thrown when the environment is invalid; the message names the variable(s). */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration: ${problems.join('; ')}`);
    this.name = 'ConfigError';
  }
}

/**
 * The Sonnet alias used when ANTHROPIC_MODEL is unset: the newest Sonnet in the installed
 * SDK's `Model` type (@anthropic-ai/sdk 1.14.0; it marks claude-sonnet-4-5 deprecated).
 */
export const DEFAULT_ANTHROPIC_MODEL = 'claude-sonnet-5-5';

/**
 * The typed, validated configuration. Built once at boot by `loadConfig` and injected by
 * class; nothing else in the app reads `process.env`.
 */
export class AppConfig {
  readonly nodeEnv: 'development' | 'production' | 'test';
  readonly isProduction: boolean;
  readonly port: number;
  /** Listen address; undefined = every interface (README "Security"). */
  readonly host?: string;
  /** Bearer token accepted on GET /metrics (README "Security"). */
  readonly metricsToken?: string;
  readonly publicUrl: string;
  readonly databaseUrl: string;
  readonly dbPoolSize: number;
  readonly redisUrl: string;
  /** Prefix of every Redis key this app writes, BullMQ's included (tests isolate by it). */
  readonly redisKeyPrefix: string;
  readonly roles: ReadonlySet<AppRole>;
  /**
   * `supervised`: this process forks the API and worker processes and runs no role itself
   * (src/supervisor.ts); `single`: it runs `roles`. Supervised only when APP_ROLES is unset.
   */
  readonly processes: 'supervised' | 'single';
  /** API child processes when supervised. */
  readonly apiProcesses: number;
  /** The supervisor's pid, in a child it forked (docs/ARCHITECTURE.md "Processes and roles"). */
  readonly supervisorPid?: number;
  readonly workerConcurrency: number;
  /**
   * API processes publish their event-loop load and workers scale their queue concurrency to
   * it (README "Processes, roles and scaling out").
   */
  readonly workerAdaptiveConcurrency: boolean;
  /** Bounds on caller-supplied Handlebars templates (README "Security"). */
  readonly templates: TemplateLimitsConfig;
  /** Decoded attachments plus html and text of one message (MAX_MESSAGE_BYTES, README "Sending"). */
  readonly maxMessageBytes: number;
  /** Transport errors are retried with exponential backoff (README "How mail flows", 3). */
  readonly delivery: { readonly maxAttempts: number; readonly backoffMs: number };
  readonly mailTransport: 'postal' | 'sandbox';
  readonly postal: {
    readonly timeoutMs: number;
    /** Days Postal keeps an address on its own suppression list (mirrored here). */
    readonly suppressionDays: number;
    readonly url?: string;
    readonly apiKey?: string;
    readonly webhookPublicKey?: string;
    readonly signingKey?: string;
    /** Path token / Basic-auth password for POST /api/v1/inbound/postal (FBL reports). */
    readonly inboundSecret?: string;
  };
  readonly defaultFrom?: string;
  /** Sending domains and their DNS checks (README "Sending domains"). */
  readonly domains: DomainsConfig;
  readonly tracking: {
    readonly secret: string;
    /** Retired secrets still accepted when verifying (never used to sign). */
    readonly previousSecrets: string[];
    /** True when the secret was generated for this boot (links die with the process). */
    readonly secretIsEphemeral: boolean;
    readonly opens: boolean;
    readonly clicks: boolean;
  };
  readonly allowedOrigins: string[];
  readonly admin: { readonly username: string; readonly password: string };
  readonly rateLimits: {
    readonly ipPerMin: number;
    readonly keyPerMin: number;
    readonly batchPerMin: number;
  };
  readonly authBan: {
    readonly maxFailures: number;
    readonly findTimeS: number;
    readonly banTimeS: number;
  };
  readonly domainRate: {
    readonly defaultPerSec: number;
    readonly overrides: ReadonlyMap<string, number>;
  };
  readonly anthropic: {
    readonly apiKey?: string;
    readonly model: string;
    readonly baseUrl?: string;
  };
  readonly telegram: {
    readonly botToken?: string;
    readonly chatId?: string;
    readonly apiUrl: string;
  };
  readonly slackWebhookUrl?: string;
  readonly anomalyMinVolume: number;
  readonly complaintMinVolume: number;
  /** Where a complaint suppresses: the stream it came from, or all streams (README "Streams"). */
  readonly complaintSuppressionScope: 'stream' | 'all';
  readonly autoPause: boolean;
  readonly logLevel: string;
  readonly retention: { readonly eventsDays: number; readonly webhookEventsDays: number };
  readonly shutdownTimeoutMs: number;
  /** Node HTTP server limits against slow clients (README: Security). */
  readonly http: {
    readonly requestTimeoutMs: number;
    readonly headersTimeoutMs: number;
    readonly keepAliveTimeoutMs: number;
  };
  /**
   * Express `trust proxy`: which hops may set X-Forwarded-For/-Proto. Default: none
   * (README "Security": set it to the load balancer's address range behind one).
   */
  readonly trustProxy: string | boolean | number;
  /** README "Event webhooks". */
  readonly eventWebhooks: {
    readonly allowPrivateNetworks: boolean;
    readonly timeoutMs: number;
    /** Delay before attempt n + 2, in ms; after the last one a delivery is failed. */
    readonly retryScheduleMs: readonly number[];
    readonly endpointConcurrency: number;
    readonly workerConcurrency: number;
    /** Days events, their deliveries and attempts are kept (none still pending is pruned). */
    readonly retentionDays: number;
  };

  constructor(values: Omit<AppConfig, 'hasRole'>) {
    Object.assign(this, values);
  }

  hasRole(role: AppRole): boolean {
    return this.roles.has(role);
  }
}

function describe(errors: ValidationError[]): string[] {
  return errors.flatMap((e) => {
    const messages = Object.values(e.constraints ?? {});
    const first = messages[0] ?? 'is invalid';
    const text = first.startsWith(e.property) ? first : `${e.property} ${first}`;
    return [`${text} (got ${JSON.stringify(String(e.value))})`];
  });
}

function parseOverrides(raw: string | undefined): Map<string, number> {
  const map = new Map<string, number>();
  for (const part of (raw ?? '').split(',')) {
    const [domain, rate] = part.split('=').map((s) => s.trim());
    if (domain && rate) map.set(domain.toLowerCase(), Number(rate));
  }
  return map;
}

/** README "Security": the operator password guards /dashboard, /queues, /docs and /metrics. */
export const MIN_PRODUCTION_ADMIN_PASSWORD = 12;

function parseTrustProxy(raw: string | undefined): string | boolean | number {
  // Trust no proxy unless told: otherwise any peer in a trusted range picks its own client IP
  // (and so escapes the rate limits, or gets a chosen victim banned).
  if (raw === undefined) return false;
  if (raw === 'true') return true;
  if (raw === 'false') return false;
  if (/^\d+$/.test(raw)) return Number(raw);
  return raw;
}

/** DNS_SERVERS entries as Node's `Resolver.setServers` takes them; null when one is not an IP. */
export function parseDnsServers(raw: string | undefined): string[] | null {
  const entries = (raw ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const entry of entries) {
    const bracketed = /^\[([^\]]+)\](?::(\d{1,5}))?$/.exec(entry);
    const v4 = /^([^:]+)(?::(\d{1,5}))?$/.exec(entry);
    const [host, port] = bracketed
      ? [bracketed[1], bracketed[2]]
      : v4
        ? [v4[1], v4[2]]
        : [entry, undefined];
    if (!isIP(host)) return null;
    if (port !== undefined && (Number(port) < 1 || Number(port) > 65535)) return null;
  }
  return entries;
}

const hostList = (raw: string | undefined): string[] =>
  (raw ?? '')
    .split(',')
    .map((h) => h.trim().toLowerCase().replace(/\.$/, ''))
    .filter(Boolean);

/**
 * API processes of the supervised start: half the cores, so that the worker, PostgreSQL and
 * Redis keep the other half; at most 4, as each process opens up to DB_POOL_SIZE connections.
 */
export function defaultApiProcesses(cores: number): number {
  return Math.min(4, Math.max(1, Math.floor(cores / 2)));
}

/** README "Event webhooks": 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h, 24 h (about 3 days). */
export const DEFAULT_WEBHOOK_RETRY_SCHEDULE = '5s,5m,30m,2h,5h,10h,14h,20h,24h';

function parseDurations(raw: string): number[] {
  const unit: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  return raw.split(',').map((part) => {
    const [, n, u] = /^\s*(\d+)(ms|s|m|h)\s*$/.exec(part)!;
    return Number(n) * unit[u];
  });
}

function stripTrailingSlash(url: string): string {
  return url.replace(/\/+$/, '');
}

/**
 * Validates `env` (README "Configuration") into the typed config. Throws ConfigError naming every
 * variable that is wrong, including the production rules.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): AppConfig {
  const raw: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) {
    // An empty variable means "unset", as in most .env tooling.
    if (v !== undefined && v !== '') raw[k] = v;
  }
  const e = plainToInstance(Environment, raw, { excludeExtraneousValues: false });
  const problems = describe(validateSync(e, { skipMissingProperties: false }));
  if ((e.HTTP_HEADERS_TIMEOUT_MS ?? 10000) > (e.HTTP_REQUEST_TIMEOUT_MS ?? 30000)) {
    problems.push('HTTP_HEADERS_TIMEOUT_MS must not exceed HTTP_REQUEST_TIMEOUT_MS');
  }

  const nodeEnv = (e.NODE_ENV ?? 'development') as AppConfig['nodeEnv'];
  const isProduction = nodeEnv === 'production';
  const port = e.PORT ?? 3000;

  if (isProduction) {
    if (!e.TRACKING_SECRET) problems.push('TRACKING_SECRET is required when NODE_ENV=production');
    if (!e.ADMIN_PASSWORD) problems.push('ADMIN_PASSWORD is required when NODE_ENV=production');
    else if (e.ADMIN_PASSWORD === 'admin')
      problems.push('ADMIN_PASSWORD must not be "admin" when NODE_ENV=production');
    else if (e.ADMIN_PASSWORD.length < MIN_PRODUCTION_ADMIN_PASSWORD)
      problems.push(
        `ADMIN_PASSWORD must be at least ${MIN_PRODUCTION_ADMIN_PASSWORD} characters when NODE_ENV=production`,
      );
  }
  if (e.MAIL_TRANSPORT === 'postal' && !e.POSTAL_URL)
    problems.push('POSTAL_URL is required when MAIL_TRANSPORT=postal');
  const transport = (e.MAIL_TRANSPORT ?? (e.POSTAL_URL ? 'postal' : 'sandbox')) as
    'postal' | 'sandbox';
  if (transport === 'postal' && !e.POSTAL_API_KEY)
    problems.push('POSTAL_API_KEY is required when the Postal transport is used');
  const dnsServers = parseDnsServers(e.DNS_SERVERS);
  if (dnsServers === null)
    problems.push(
      'DNS_SERVERS must list IP addresses, each with an optional port (10.0.0.2:53, [2001:db8::1]:53)',
    );
  if (e.APP_PROCESSES === 'supervised' && e.APP_ROLES)
    problems.push(
      'APP_PROCESSES=supervised runs every role in child processes; unset APP_ROLES (or APP_PROCESSES)',
    );
  if (problems.length > 0) throw new ConfigError(problems);

  const publicUrl = stripTrailingSlash(
    e.PUBLIC_URL ?? (e.DOMAIN ? `https://${e.DOMAIN}` : `http://localhost:${port}`),
  );
  const roles = new Set(
    (e.APP_ROLES ?? 'api,worker,scheduler').split(',').map((r) => r.trim() as AppRole),
  );

  return new AppConfig({
    nodeEnv,
    isProduction,
    port,
    // Outside production the dashboard may run with admin/admin: loopback only unless HOST says.
    host: e.HOST ?? (isProduction ? undefined : '127.0.0.1'),
    metricsToken: e.METRICS_TOKEN,
    publicUrl,
    databaseUrl: e.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/email_sender',
    dbPoolSize: e.DB_POOL_SIZE ?? 20,
    redisUrl: e.REDIS_URL ?? 'redis://127.0.0.1:6379/0',
    redisKeyPrefix: e.REDIS_KEY_PREFIX ?? 'es',
    roles,
    processes: e.APP_ROLES
      ? 'single'
      : ((e.APP_PROCESSES ?? 'supervised') as 'supervised' | 'single'),
    apiProcesses: e.API_PROCESSES ?? defaultApiProcesses(availableParallelism()),
    supervisorPid: e.APP_SUPERVISOR_PID,
    workerConcurrency: e.WORKER_CONCURRENCY ?? 50,
    workerAdaptiveConcurrency: e.WORKER_ADAPTIVE_CONCURRENCY ?? true,
    templates: {
      maxFieldBytes: e.TEMPLATE_MAX_FIELD_BYTES ?? 256 * 1024,
      maxMustaches: e.TEMPLATE_MAX_MUSTACHES ?? 2000,
      maxNesting: e.TEMPLATE_MAX_NESTING ?? 10,
      maxRenderSteps: e.TEMPLATE_MAX_RENDER_STEPS ?? 100_000,
      maxOutputBytes: e.TEMPLATE_MAX_OUTPUT_BYTES ?? 1024 * 1024,
      timeoutMs: e.TEMPLATE_RENDER_TIMEOUT_MS ?? 1000,
      workerThreads: e.TEMPLATE_WORKER_THREADS ?? 1,
      workerMemoryMb: e.TEMPLATE_WORKER_MEMORY_MB ?? 256,
    },
    maxMessageBytes: e.MAX_MESSAGE_BYTES ?? 10 * 1024 * 1024,
    delivery: {
      maxAttempts: e.DELIVERY_MAX_ATTEMPTS ?? 8,
      backoffMs: e.DELIVERY_BACKOFF_MS ?? 30000,
    },
    mailTransport: transport,
    postal: {
      timeoutMs: e.POSTAL_TIMEOUT_MS ?? 15000,
      suppressionDays: e.POSTAL_SUPPRESSION_DAYS ?? 30,
      url: e.POSTAL_URL ? stripTrailingSlash(e.POSTAL_URL) : undefined,
      apiKey: e.POSTAL_API_KEY,
      webhookPublicKey: e.POSTAL_WEBHOOK_PUBLIC_KEY,
      signingKey: e.POSTAL_SIGNING_KEY,
      inboundSecret: e.INBOUND_SECRET,
    },
    defaultFrom: e.DEFAULT_FROM,
    domains: {
      spfInclude: e.POSTAL_SPF_INCLUDE?.toLowerCase().replace(/\.$/, ''),
      returnPathHost: e.POSTAL_RETURN_PATH_HOST?.toLowerCase().replace(/\.$/, ''),
      returnPathPrefix: (e.POSTAL_RETURN_PATH_PREFIX ?? 'psrp').toLowerCase(),
      mxHosts: hostList(e.POSTAL_MX_HOSTS),
      dnsServers: dnsServers ?? [],
      dnsTimeoutMs: e.DNS_TIMEOUT_MS ?? 3000,
      requireVerified: e.REQUIRE_VERIFIED_DOMAINS ?? false,
    },
    tracking: {
      secret: e.TRACKING_SECRET ?? randomBytes(32).toString('base64url'),
      previousSecrets: (e.TRACKING_SECRET_PREVIOUS ?? '').split(',').filter((x) => x.length > 0),
      secretIsEphemeral: !e.TRACKING_SECRET,
      opens: e.TRACK_OPENS ?? true,
      clicks: e.TRACK_CLICKS ?? true,
    },
    allowedOrigins: (e.ALLOWED_ORIGINS ?? 'http://localhost:3000')
      .split(',')
      .map((o) => stripTrailingSlash(o.trim()))
      .filter(Boolean),
    admin: {
      username: e.ADMIN_USERNAME ?? 'admin',
      password: e.ADMIN_PASSWORD ?? 'admin',
    },
    rateLimits: {
      ipPerMin: e.RATE_LIMIT_IP_PER_MIN ?? 100,
      keyPerMin: e.RATE_LIMIT_KEY_PER_MIN ?? 1000,
      batchPerMin: e.RATE_LIMIT_BATCH_PER_MIN ?? 10,
    },
    authBan: {
      maxFailures: e.AUTH_BAN_MAX_FAILURES ?? 5,
      findTimeS: e.AUTH_BAN_FIND_TIME_S ?? 60,
      banTimeS: e.AUTH_BAN_TIME_S ?? 3600,
    },
    domainRate: {
      defaultPerSec: e.DOMAIN_RATE_DEFAULT ?? 20,
      overrides: parseOverrides(e.DOMAIN_RATE_OVERRIDES),
    },
    anthropic: {
      apiKey: e.ANTHROPIC_API_KEY,
      model: e.ANTHROPIC_MODEL ?? DEFAULT_ANTHROPIC_MODEL,
      baseUrl: e.ANTHROPIC_BASE_URL,
    },
    telegram: {
      botToken: e.TELEGRAM_BOT_TOKEN,
      chatId: e.TELEGRAM_CHAT_ID,
      apiUrl: stripTrailingSlash(e.TELEGRAM_API_URL ?? 'https://api.telegram.org'),
    },
    slackWebhookUrl: e.SLACK_WEBHOOK_URL,
    anomalyMinVolume: e.ANOMALY_MIN_VOLUME ?? 100,
    complaintMinVolume: e.COMPLAINT_MIN_VOLUME ?? 100,
    complaintSuppressionScope: e.COMPLAINT_SUPPRESSION_SCOPE ?? 'stream',
    autoPause: e.AUTO_PAUSE ?? false,
    logLevel: e.LOG_LEVEL ?? 'info',
    retention: {
      eventsDays: e.RETENTION_EVENTS_DAYS ?? 180,
      webhookEventsDays: e.RETENTION_WEBHOOK_EVENTS_DAYS ?? 30,
    },
    shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT_MS ?? 25000,
    http: {
      requestTimeoutMs: e.HTTP_REQUEST_TIMEOUT_MS ?? 30000,
      headersTimeoutMs: e.HTTP_HEADERS_TIMEOUT_MS ?? 10000,
      keepAliveTimeoutMs: e.HTTP_KEEP_ALIVE_TIMEOUT_MS ?? 5000,
    },
    trustProxy: parseTrustProxy(e.TRUST_PROXY),
    eventWebhooks: {
      allowPrivateNetworks: e.WEBHOOK_ALLOW_PRIVATE_NETWORKS ?? false,
      timeoutMs: e.WEBHOOK_TIMEOUT_MS ?? 10_000,
      retryScheduleMs: parseDurations(e.WEBHOOK_RETRY_SCHEDULE ?? DEFAULT_WEBHOOK_RETRY_SCHEDULE),
      endpointConcurrency: e.WEBHOOK_ENDPOINT_CONCURRENCY ?? 10,
      workerConcurrency: e.WEBHOOK_WORKER_CONCURRENCY ?? 20,
      retentionDays: e.EVENT_WEBHOOK_RETENTION_DAYS ?? 30,
    },
  });
}

/** Loads `.env` (without overriding real environment variables) then validates. */
export function loadConfigFromProcess(): AppConfig {
  loadDotenv({ quiet: true });
  return loadConfig(process.env);
}
