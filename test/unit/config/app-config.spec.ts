import { ConfigError, defaultApiProcesses, loadConfig } from 'src/config/app-config';

const problemsOf = (env: NodeJS.ProcessEnv): string[] => {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems;
  }
  throw new Error('expected a ConfigError');
};

describe(loadConfig.name, () => {
  describe('defaults', () => {
    it('applies the README "Configuration" defaults to an empty environment', () => {
      const c = loadConfig({});
      expect(c.nodeEnv).toBe('development');
      expect(c.port).toBe(3000);
      expect(c.publicUrl).toBe('http://localhost:3000');
      expect(c.databaseUrl).toBe('postgres://postgres@127.0.0.1:5432/email_sender');
      expect(c.redisUrl).toBe('redis://127.0.0.1:6379/0');
      expect([...c.roles]).toEqual(['api', 'worker', 'scheduler']);
      expect(c.workerConcurrency).toBe(50);
      expect(c.workerAdaptiveConcurrency).toBe(true);
      expect(c.mailTransport).toBe('sandbox');
      expect(c.tracking).toEqual(
        expect.objectContaining({ opens: true, clicks: true, secretIsEphemeral: true }),
      );
      expect(c.tracking.secret.length).toBeGreaterThanOrEqual(32);
      expect(c.allowedOrigins).toEqual(['http://localhost:3000']);
      expect(c.admin).toEqual({ username: 'admin', password: 'admin' });
      expect(c.rateLimits).toEqual({ ipPerMin: 100, keyPerMin: 1000, batchPerMin: 10 });
      expect(c.authBan).toEqual({ maxFailures: 5, findTimeS: 60, banTimeS: 3600 });
      expect(c.domainRate.defaultPerSec).toBe(20);
      expect(c.anomalyMinVolume).toBe(100);
      expect(c.complaintMinVolume).toBe(100);
      expect(c.autoPause).toBe(false);
      expect(c.logLevel).toBe('info');
      expect(c.telegram.apiUrl).toBe('https://api.telegram.org');
      expect(c.anthropic.model).toMatch(/sonnet/);
      expect(c.eventWebhooks.retentionDays).toBe(30);
    });

    it('derives PUBLIC_URL from PORT, and from DOMAIN as https', () => {
      expect(loadConfig({ PORT: '8080' }).publicUrl).toBe('http://localhost:8080');
      expect(loadConfig({ DOMAIN: 'mail.example.com' }).publicUrl).toBe('https://mail.example.com');
      expect(loadConfig({ PUBLIC_URL: 'https://x.example/', DOMAIN: 'y.example' }).publicUrl).toBe(
        'https://x.example',
      );
    });

    it('picks the postal transport when POSTAL_URL is set', () => {
      const c = loadConfig({ POSTAL_URL: 'https://postal.example.com/', POSTAL_API_KEY: 'k' });
      expect(c.mailTransport).toBe('postal');
      expect(c.postal.url).toBe('https://postal.example.com');
    });

    it('parses lists, booleans and overrides', () => {
      const c = loadConfig({
        APP_ROLES: 'worker, scheduler',
        ALLOWED_ORIGINS: 'https://a.example, https://b.example/',
        TRACK_OPENS: 'false',
        AUTO_PAUSE: '1',
        DOMAIN_RATE_OVERRIDES: 'Gmail.com=50, yahoo.com=10',
        EVENT_WEBHOOK_RETENTION_DAYS: '90',
        WORKER_ADAPTIVE_CONCURRENCY: 'false',
      });
      expect(c.workerAdaptiveConcurrency).toBe(false);
      expect(c.eventWebhooks.retentionDays).toBe(90);
      expect([...c.roles]).toEqual(['worker', 'scheduler']);
      expect(c.hasRole('api')).toBe(false);
      expect(c.allowedOrigins).toEqual(['https://a.example', 'https://b.example']);
      expect(c.tracking.opens).toBe(false);
      expect(c.autoPause).toBe(true);
      expect([...c.domainRate.overrides]).toEqual([
        ['gmail.com', 50],
        ['yahoo.com', 10],
      ]);
    });

    it('supervises separate processes only when APP_ROLES is unset (README "Processes, roles and scaling out")', () => {
      expect(loadConfig({}).processes).toBe('supervised');
      expect(loadConfig({ APP_PROCESSES: 'single' }).processes).toBe('single');
      expect(loadConfig({ APP_ROLES: 'api,worker,scheduler' }).processes).toBe('single');
      expect(loadConfig({ API_PROCESSES: '3' }).apiProcesses).toBe(3);
      expect(loadConfig({ APP_SUPERVISOR_PID: '42' }).supervisorPid).toBe(42);
      expect(loadConfig({}).supervisorPid).toBeUndefined();
    });

    it('runs half the cores as API processes, between 1 and 4', () => {
      expect([1, 2, 3, 4, 6, 8, 64].map(defaultApiProcesses)).toEqual([1, 1, 1, 2, 3, 4, 4]);
    });

    it('treats empty variables as unset', () => {
      expect(loadConfig({ PORT: '', TRACKING_SECRET: '' }).port).toBe(3000);
    });
  });

  describe('invalid values', () => {
    it.each([
      ['PORT', 'abc'],
      ['PORT', '70000'],
      ['DATABASE_URL', 'mysql://x'],
      ['REDIS_URL', 'http://x'],
      ['APP_ROLES', 'api,web'],
      ['WORKER_CONCURRENCY', '0'],
      ['WORKER_ADAPTIVE_CONCURRENCY', 'sometimes'],
      ['MAIL_TRANSPORT', 'smtp'],
      ['TRACK_OPENS', 'maybe'],
      ['RATE_LIMIT_IP_PER_MIN', '-1'],
      ['DOMAIN_RATE_OVERRIDES', 'gmail.com:50'],
      ['LOG_LEVEL', 'verbose'],
      ['NODE_ENV', 'staging'],
      ['TRACKING_SECRET', 'short'],
      ['PUBLIC_URL', 'ftp://x'],
      ['SLACK_WEBHOOK_URL', 'not a url'],
      ['APP_PROCESSES', 'cluster'],
      ['API_PROCESSES', '0'],
      ['EVENT_WEBHOOK_RETENTION_DAYS', '0'],
      ['EVENT_WEBHOOK_RETENTION_DAYS', 'a month'],
    ])('names %s when it is %p', (name, value) => {
      const problems = problemsOf({ [name]: value });
      expect(problems).toHaveLength(1);
      expect(problems[0]).toContain(name);
    });

    it('refuses APP_PROCESSES=supervised with APP_ROLES, which chooses one process', () => {
      expect(problemsOf({ APP_PROCESSES: 'supervised', APP_ROLES: 'api' })).toEqual([
        expect.stringMatching(/^APP_PROCESSES=supervised .*unset APP_ROLES/),
      ]);
    });

    it('lists every bad variable at once', () => {
      const problems = problemsOf({ PORT: 'x', LOG_LEVEL: 'loud' });
      expect(problems.join(' ')).toMatch(/PORT.*LOG_LEVEL|LOG_LEVEL.*PORT/);
    });

    it('requires POSTAL_API_KEY with the postal transport', () => {
      expect(problemsOf({ POSTAL_URL: 'https://p.example' })[0]).toContain('POSTAL_API_KEY');
      expect(problemsOf({ MAIL_TRANSPORT: 'postal' }).join(' ')).toContain('POSTAL_URL');
    });
  });

  describe('production rules', () => {
    const prod = {
      NODE_ENV: 'production',
      TRACKING_SECRET: 'x'.repeat(32),
      ADMIN_PASSWORD: 'S3cure-enough',
    };

    it('accepts a complete production environment', () => {
      const c = loadConfig(prod);
      expect(c.isProduction).toBe(true);
      expect(c.tracking.secretIsEphemeral).toBe(false);
    });

    it('refuses a missing TRACKING_SECRET', () => {
      expect(problemsOf({ ...prod, TRACKING_SECRET: undefined })).toEqual([
        'TRACKING_SECRET is required when NODE_ENV=production',
      ]);
    });

    it('refuses ADMIN_PASSWORD=admin and a missing ADMIN_PASSWORD', () => {
      expect(problemsOf({ ...prod, ADMIN_PASSWORD: 'admin' })[0]).toContain(
        'ADMIN_PASSWORD must not be "admin"',
      );
      expect(problemsOf({ ...prod, ADMIN_PASSWORD: undefined })[0]).toContain(
        'ADMIN_PASSWORD is required',
      );
    });

    it('refuses an ADMIN_PASSWORD shorter than 12 characters', () => {
      for (const short of ['a', 'hunter2', 'x'.repeat(11)]) {
        expect(problemsOf({ ...prod, ADMIN_PASSWORD: short })).toEqual([
          'ADMIN_PASSWORD must be at least 12 characters when NODE_ENV=production',
        ]);
      }
      expect(loadConfig({ ...prod, ADMIN_PASSWORD: 'x'.repeat(12) }).admin.password).toHaveLength(
        12,
      );
      // Outside production the dev default admin/admin stays (the server is loopback-only).
      expect(loadConfig({ ADMIN_PASSWORD: 'a' }).admin.password).toBe('a');
    });

    it('listens on every interface in production unless HOST says otherwise', () => {
      expect(loadConfig(prod).host).toBeUndefined();
      expect(loadConfig({ ...prod, HOST: '10.0.0.5' }).host).toBe('10.0.0.5');
    });
  });

  describe('security defaults (issue 11)', () => {
    it('trusts no proxy unless TRUST_PROXY says so', () => {
      expect(loadConfig({}).trustProxy).toBe(false);
      expect(loadConfig({ TRUST_PROXY: 'loopback' }).trustProxy).toBe('loopback');
      expect(loadConfig({ TRUST_PROXY: '10.0.0.0/8' }).trustProxy).toBe('10.0.0.0/8');
      expect(loadConfig({ TRUST_PROXY: '1' }).trustProxy).toBe(1);
    });

    it('listens on 127.0.0.1 outside production unless HOST is set', () => {
      expect(loadConfig({}).host).toBe('127.0.0.1');
      expect(loadConfig({ NODE_ENV: 'test' }).host).toBe('127.0.0.1');
      expect(loadConfig({ HOST: '0.0.0.0' }).host).toBe('0.0.0.0');
      expect(problemsOf({ HOST: 'bad host!' })[0]).toContain('HOST');
    });

    it('takes a METRICS_TOKEN of 24+ characters only', () => {
      expect(loadConfig({}).metricsToken).toBeUndefined();
      expect(loadConfig({ METRICS_TOKEN: 'm'.repeat(24) }).metricsToken).toBe('m'.repeat(24));
      expect(problemsOf({ METRICS_TOKEN: 'short' })[0]).toContain('METRICS_TOKEN');
    });
  });
});
