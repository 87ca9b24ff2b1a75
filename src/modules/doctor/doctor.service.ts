import { Injectable, Optional } from '@nestjs/common';
import { AppConfig } from 'src/config/app-config';
import { PostalApiError, PostalClient } from 'src/infra/postal/postal.client';
import {
  parsePostalPublicKey,
  PostalJwksClient,
  postalKeyId,
} from 'src/infra/postal/postal-signing-keys';
import { DomainsService } from 'src/modules/domains/domains.service';
import { checkRedis, pendingMigrations, probePostgres, redactUrl } from 'src/startup';

export type DoctorStatus = 'pass' | 'warn' | 'fail' | 'skip';

/** One line of the doctor's report: what was checked, the verdict, and what to do. */
export interface DoctorCheck {
  /** Stable identifier, e.g. `postal`, `dns:shop.example:spf`. */
  name: string;
  status: DoctorStatus;
  message: string;
  /** What to do; null when it passes (or does not apply). */
  fix: string | null;
}

export interface DoctorReport {
  /** True when nothing failed or warned (`npm run cli -- doctor` then exits 0). */
  ok: boolean;
  counts: Record<DoctorStatus, number>;
  checks: DoctorCheck[];
  generated_at: string;
}

const PUBLIC_URL_TIMEOUT_MS = 5_000;
/** An http:// URL on this host: plain HTTP that never leaves the machine. */
export const LOOPBACK_URL = /^http:\/\/(localhost|127\.\d+\.\d+\.\d+|\[::1\])(:|\/|$)/i;

const message = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/**
 * "Is my set-up right?" (README): every check an operator can get wrong, each with a fix — the
 * same report for `npm run cli -- doctor` and the dashboard's Set-up page. Checks never throw:
 * a failure is a `fail` line.
 */
@Injectable()
export class DoctorService {
  constructor(
    private readonly config: AppConfig,
    private readonly postal: PostalClient,
    private readonly jwks: PostalJwksClient,
    /** Absent when the CLI could not reach PostgreSQL (the domains are then one `fail`). */
    @Optional() private readonly domains?: DomainsService,
  ) {}

  async run(now = new Date()): Promise<DoctorReport> {
    const groups = await Promise.all([
      this.postgres(),
      this.redis(),
      this.postalApi(),
      this.webhookKey(),
      this.inbound(),
      this.publicUrl(),
      this.trackingSecret(),
      this.production(),
    ]);
    const checks = [...groups.flat(), ...(await this.domainDns())];
    const counts: Record<DoctorStatus, number> = { pass: 0, warn: 0, fail: 0, skip: 0 };
    for (const c of checks) counts[c.status] += 1;
    return {
      ok: counts.fail === 0 && counts.warn === 0,
      counts,
      checks,
      generated_at: now.toISOString(),
    };
  }

  private async postgres(): Promise<DoctorCheck[]> {
    const url = redactUrl(this.config.databaseUrl);
    try {
      await probePostgres(this.config.databaseUrl);
    } catch (err) {
      return [
        { name: 'postgres', status: 'fail', message: message(err), fix: 'See the message' },
        {
          name: 'migrations',
          status: 'skip',
          message: 'not checked: PostgreSQL is not reachable',
          fix: null,
        },
      ];
    }
    const ok: DoctorCheck = {
      name: 'postgres',
      status: 'pass',
      message: `PostgreSQL reachable at ${url}`,
      fix: null,
    };
    try {
      const pending = await pendingMigrations(this.config);
      return [
        ok,
        pending.length
          ? {
              name: 'migrations',
              status: 'fail',
              message: `${pending.length} migration(s) not applied: ${pending.join(', ')}`,
              fix: 'Run `npm run cli -- migrate` (the app also migrates at start)',
            }
          : { name: 'migrations', status: 'pass', message: 'schema up to date', fix: null },
      ];
    } catch (err) {
      return [
        ok,
        {
          name: 'migrations',
          status: 'fail',
          message: `could not read the migrations: ${message(err)}`,
          fix: 'Check that the DATABASE_URL user may read the database',
        },
      ];
    }
  }

  private async redis(): Promise<DoctorCheck[]> {
    try {
      await checkRedis(this.config.redisUrl);
      return [
        {
          name: 'redis',
          status: 'pass',
          message: `Redis reachable at ${redactUrl(this.config.redisUrl)}`,
          fix: null,
        },
      ];
    } catch (err) {
      return [{ name: 'redis', status: 'fail', message: message(err), fix: 'See the message' }];
    }
  }

  private async postalApi(): Promise<DoctorCheck[]> {
    if (this.config.mailTransport !== 'postal') {
      return [
        {
          name: 'postal',
          status: this.config.isProduction ? 'fail' : 'skip',
          message: 'sandbox transport: no mail leaves this service',
          fix: 'Set POSTAL_URL and POSTAL_API_KEY (README "Postal set-up")',
        },
      ];
    }
    const url = this.config.postal.url!;
    const tls: DoctorCheck = url.startsWith('https://')
      ? { name: 'postal-tls', status: 'pass', message: 'POSTAL_URL is HTTPS', fix: null }
      : LOOPBACK_URL.test(url)
        ? {
            name: 'postal-tls',
            status: 'pass',
            message: 'POSTAL_URL is plain HTTP on this host: nothing crosses the network',
            fix: null,
          }
        : {
            name: 'postal-tls',
            status: this.config.isProduction ? 'fail' : 'warn',
            message: `POSTAL_URL is ${url}: plain HTTP, the API key and every message cross the network unencrypted`,
            fix: 'Use the https:// address of Postal in POSTAL_URL',
          };
    try {
      await this.postal.verifyCredentials();
      return [
        {
          name: 'postal',
          status: 'pass',
          message: `Postal at ${url} accepts POSTAL_API_KEY`,
          fix: null,
        },
        tls,
      ];
    } catch (err) {
      if (err instanceof PostalApiError) {
        const suspended = err.code === 'ServerSuspended';
        return [
          {
            name: 'postal',
            status: 'fail',
            message: `Postal at ${url} refused the API key: ${err.code} (${err.message})`,
            fix: suspended
              ? 'Unsuspend the mail server in Postal'
              : "In Postal, open the mail server's Credentials, add one of type API and put its key in POSTAL_API_KEY",
          },
          tls,
        ];
      }
      return [
        {
          name: 'postal',
          status: 'fail',
          message: `Postal is not reachable at ${url}: ${message(err)}`,
          fix: "Check POSTAL_URL (Postal's web host) and that this host can reach it",
        },
        tls,
      ];
    }
  }

  /** README "Postal set-up", 2: a pasted key, or Postal's JWKS — and both agreeing when both exist. */
  private async webhookKey(): Promise<DoctorCheck[]> {
    const name = 'webhook-key';
    const configured = this.config.postal.webhookPublicKey;
    let kid: string | null = null;
    if (configured !== undefined) {
      try {
        kid = postalKeyId(parsePostalPublicKey(configured));
      } catch (err) {
        return [
          {
            name,
            status: 'fail',
            message: `POSTAL_WEBHOOK_PUBLIC_KEY is not an RSA public key (${message(err)})`,
            fix: 'Paste the p= value of `postal default-dkim-record`, or the PEM of the signing key',
          },
        ];
      }
    }
    if (!this.jwks.configured) {
      if (kid)
        return [{ name, status: 'pass', message: 'POSTAL_WEBHOOK_PUBLIC_KEY is set', fix: null }];
      if (this.config.postal.signingKey)
        return [{ name, status: 'pass', message: 'POSTAL_SIGNING_KEY (HMAC) is set', fix: null }];
      return [
        {
          name,
          status: this.config.mailTransport === 'postal' ? 'fail' : 'skip',
          message: 'no webhook signing key: Postal webhooks would be refused',
          fix: 'Set POSTAL_URL (Postal ≥ 3.2 serves its key) or POSTAL_WEBHOOK_PUBLIC_KEY',
        },
      ];
    }
    try {
      const keys = await this.jwks.fetchSet();
      if (kid && !keys.has(kid)) {
        return [
          {
            name,
            status: 'fail',
            message: `POSTAL_WEBHOOK_PUBLIC_KEY is not among the keys Postal publishes at ${this.jwks.address}: webhooks signed by Postal would be refused`,
            fix: 'Unset POSTAL_WEBHOOK_PUBLIC_KEY (the JWKS is enough) or paste the current key',
          },
        ];
      }
      return [
        {
          name,
          status: 'pass',
          message: kid
            ? `POSTAL_WEBHOOK_PUBLIC_KEY matches Postal's JWKS`
            : `Postal's JWKS answers with ${keys.size} signing key(s)`,
          fix: null,
        },
      ];
    } catch (err) {
      if (kid) {
        return [
          {
            name,
            status: 'pass',
            message: `POSTAL_WEBHOOK_PUBLIC_KEY is set (Postal's JWKS not readable: ${message(err)}; Postal < 3.2 has none)`,
            fix: null,
          },
        ];
      }
      return [
        {
          name,
          status: 'fail',
          message: `no POSTAL_WEBHOOK_PUBLIC_KEY and Postal's JWKS at ${this.jwks.address} is not readable (${message(err)})`,
          fix: 'Set POSTAL_WEBHOOK_PUBLIC_KEY to the p= value of `postal default-dkim-record` (Postal < 3.2)',
        },
      ];
    }
  }

  /** README "Postal set-up", 3: the feedback-loop route. */
  private async inbound(): Promise<DoctorCheck[]> {
    const route = `${this.config.publicUrl}/api/v1/inbound/postal/<INBOUND_SECRET>`;
    if (!this.config.postal.inboundSecret) {
      return [
        {
          name: 'inbound',
          status: this.config.mailTransport === 'postal' ? 'fail' : 'skip',
          message: 'INBOUND_SECRET is not set: feedback-loop reports (complaints) cannot come in',
          fix: `Set INBOUND_SECRET (16+ URL-safe characters) and give the FBL address in Postal an HTTP endpoint route to ${route}, format "Raw message"`,
        },
      ];
    }
    const https = this.config.publicUrl.startsWith('https://');
    return [
      {
        name: 'inbound',
        status: https || !this.config.isProduction ? 'pass' : 'fail',
        message: `FBL route: an HTTP endpoint in Postal to ${route}, format "Raw message" (JSON or form)`,
        fix:
          https || !this.config.isProduction
            ? null
            : 'Serve PUBLIC_URL over HTTPS: the secret is in the path',
      },
    ];
  }

  /** Tracking and unsubscribe links point at PUBLIC_URL: it must reach this service. */
  private async publicUrl(): Promise<DoctorCheck[]> {
    const url = `${this.config.publicUrl}/health/live`;
    const fix = 'Set PUBLIC_URL to the address at which recipients reach this service';
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(PUBLIC_URL_TIMEOUT_MS) });
      const body = (await res.json().catch(() => null)) as { status?: unknown } | null;
      if (res.ok && body?.status === 'ok')
        return [{ name: 'public-url', status: 'pass', message: `${url} answers`, fix: null }];
      return [
        {
          name: 'public-url',
          status: 'fail',
          message: `${url} answered HTTP ${res.status}, not this service's liveness`,
          fix,
        },
      ];
    } catch (err) {
      return [
        {
          name: 'public-url',
          status: 'fail',
          message: `${url} is not reachable (${message((err as { cause?: unknown }).cause ?? err)}): tracking and unsubscribe links would be dead`,
          fix,
        },
      ];
    }
  }

  private async trackingSecret(): Promise<DoctorCheck[]> {
    const t = this.config.tracking;
    if (t.secretIsEphemeral) {
      return [
        {
          name: 'tracking-secret',
          status: 'fail',
          message:
            'TRACKING_SECRET is not set: a random one is made per process, so links break at restart and across processes',
          fix: 'Set TRACKING_SECRET to 32+ random characters (`openssl rand -base64 32`)',
        },
      ];
    }
    if (t.previousSecrets.includes(t.secret)) {
      return [
        {
          name: 'tracking-secret',
          status: 'warn',
          message: 'TRACKING_SECRET_PREVIOUS contains the current TRACKING_SECRET',
          fix: 'List only retired secrets in TRACKING_SECRET_PREVIOUS',
        },
      ];
    }
    return [
      {
        name: 'tracking-secret',
        status: 'pass',
        message: t.previousSecrets.length
          ? `set; rotation in progress: ${t.previousSecrets.length} retired secret(s) still accepted (drop them once that mail no longer matters)`
          : 'set; no rotation in progress',
        fix: null,
      },
    ];
  }

  /** README "Security": what production needs beyond what start-up already refuses. */
  private async production(): Promise<DoctorCheck[]> {
    const c = this.config;
    if (!c.isProduction) {
      return [
        {
          name: 'production',
          status: 'skip',
          message: `NODE_ENV=${c.nodeEnv}: the production rules apply with NODE_ENV=production`,
          fix: null,
        },
      ];
    }
    const problems: string[] = [];
    const advice: string[] = [];
    if (!c.publicUrl.startsWith('https://')) problems.push('PUBLIC_URL is not https://');
    if (c.mailTransport !== 'postal') problems.push('the sandbox transport is in use');
    if (c.allowedOrigins.some((o) => /\/\/(localhost|127\.)/.test(o)))
      advice.push('ALLOWED_ORIGINS lists a localhost origin');
    if (c.trustProxy === false)
      advice.push('TRUST_PROXY is unset (fine only without a load balancer)');
    if (!c.metricsToken) advice.push('METRICS_TOKEN is unset (/metrics needs the operator login)');
    if (problems.length) {
      return [
        {
          name: 'production',
          status: 'fail',
          message: [...problems, ...advice].join('; '),
          fix: 'See README "Configuration" and "Security"',
        },
      ];
    }
    return [
      {
        name: 'production',
        status: advice.length ? 'warn' : 'pass',
        message: advice.length ? advice.join('; ') : 'production settings in order',
        fix: advice.length ? 'See README "Configuration" and "Security"' : null,
      },
    ];
  }

  /** One line per sending domain and DNS record; checking also stores the result. */
  private async domainDns(): Promise<DoctorCheck[]> {
    if (!this.domains) {
      return [
        {
          name: 'dns',
          status: 'fail',
          message: 'sending domains not checked: PostgreSQL is not reachable',
          fix: 'Fix PostgreSQL first',
        },
      ];
    }
    let outcomes: Awaited<ReturnType<DomainsService['checkAll']>>;
    try {
      outcomes = await this.domains.checkAll();
    } catch (err) {
      return [
        {
          name: 'dns',
          status: 'fail',
          message: `could not read the sending domains: ${message(err)}`,
          fix: 'Run `npm run cli -- migrate`, then doctor again',
        },
      ];
    }
    if (outcomes.length === 0) {
      return [
        {
          name: 'dns',
          status: this.config.domains.requireVerified ? 'fail' : 'warn',
          message: `no sending domains${this.config.domains.requireVerified ? ': REQUIRE_VERIFIED_DOMAINS refuses every send' : ': their SPF, DKIM, DMARC and return path are not checked'}`,
          fix: 'Add each From domain: POST /api/v1/domains {"domain", "dkim_selector", "dkim_public_key"}',
        },
      ];
    }
    return outcomes.flatMap(({ domain }) =>
      domain.checks.map((c) => ({
        name: `dns:${domain.domain}:${c.check}`,
        status: c.status as DoctorStatus,
        message: c.message,
        fix: c.fix,
      })),
    );
  }
}
