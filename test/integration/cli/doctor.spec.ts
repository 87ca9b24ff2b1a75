import { generateKeyPairSync } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { DoctorCommand } from 'src/cli/commands/doctor.command';
import type { DoctorReport } from 'src/modules/doctor/doctor.service';
import { DomainsService } from 'src/modules/domains/domains.service';
import { dkimKey, goodDomain, POSTAL_DNS, POSTAL_ZONE, SELECTOR } from 'test/fakes/dns-zones';
import { FakeDns } from 'test/fakes/fake-dns';
import { FakePostal } from 'test/fakes/fake-postal';
import { postalDkimRecord } from 'test/fakes/postal-webhook-signer';
import { ensureBuilt, ProcessRun, runCli } from 'test/utils/processes';
import { bootTestApp, TEST_REDIS_URL, TestApp } from 'test/utils/test-app';

jest.setTimeout(180_000);

/** A one-shot command must exit by itself (see jobs-run.spec.ts); wide for a loaded machine. */
const EXIT_WITHIN_MS = 45_000;

/**
 * `npm run cli -- doctor` as the operator runs it (the built CLI, a real process) against a
 * healthy set-up — the app serving PUBLIC_URL, FakePostal accepting the key and serving its
 * JWKS (test/fakes/fake-postal.ts, as app/controllers/legacy_api/base_controller.rb and
 * well_known_controller.rb answer), a domain published as Postal asks on the loopback DNS
 * server — and against broken ones.
 */
describe(DoctorCommand.name, () => {
  let t: TestApp;
  let dns: FakeDns;
  let postal: FakePostal;
  let publicUrl: string;
  const { publicKey } = dkimKey();
  const signing = generateKeyPairSync('rsa', { modulusLength: 2048 });

  const healthyEnv = (): Record<string, string> => ({
    DATABASE_URL: t.db.url,
    REDIS_URL: TEST_REDIS_URL,
    REDIS_KEY_PREFIX: 'doctor-test',
    PUBLIC_URL: publicUrl,
    POSTAL_URL: postal.url,
    POSTAL_API_KEY: postal.apiKey,
    POSTAL_WEBHOOK_PUBLIC_KEY: postalDkimRecord(signing.publicKey),
    INBOUND_SECRET: 'inbound-secret-0123456789',
    TRACKING_SECRET: 'test-tracking-secret-0123456789abcdef',
    DNS_SERVERS: dns.address,
    POSTAL_SPF_INCLUDE: POSTAL_DNS.spfInclude!,
    POSTAL_RETURN_PATH_HOST: POSTAL_DNS.returnPathHost!,
    POSTAL_MX_HOSTS: POSTAL_DNS.mxHosts.join(','),
  });

  const doctor = (env: Record<string, string>, json = false): Promise<ProcessRun> =>
    runCli(['doctor', ...(json ? ['--json'] : [])], env, EXIT_WITHIN_MS);

  const lineOf = (run: ProcessRun, name: string): string | undefined =>
    run.stdout.split('\n').find((l) => new RegExp(`^[A-Z]{4}  ${name} `).test(l));

  beforeAll(async () => {
    ensureBuilt();
    dns = await new FakeDns({ ...POSTAL_ZONE, ...goodDomain('shop.test', publicKey) }).start();
    postal = await new FakePostal().start();
    postal.signingKey = signing.privateKey;
    t = await bootTestApp({ DNS_SERVERS: dns.address, ...dnsConfig() });
    await t.app.listen(0, '127.0.0.1');
    publicUrl = `http://127.0.0.1:${(t.server.address() as AddressInfo).port}`;
    await t.app.get(DomainsService).add({
      domain: 'shop.test',
      dkimSelector: SELECTOR,
      dkimPublicKey: publicKey,
    });
  });
  afterAll(async () => {
    await t?.close();
    await postal?.stop();
    await dns?.stop();
  });

  function dnsConfig(): Record<string, string> {
    return {
      POSTAL_SPF_INCLUDE: POSTAL_DNS.spfInclude!,
      POSTAL_RETURN_PATH_HOST: POSTAL_DNS.returnPathHost!,
      POSTAL_MX_HOSTS: POSTAL_DNS.mxHosts.join(','),
    };
  }

  it('passes a healthy set-up: every line PASS (or not applicable) and exit 0', async () => {
    const run = await doctor(healthyEnv());
    expect(run.stderr).toBe('');
    for (const name of [
      'postgres',
      'migrations',
      'redis',
      'postal',
      'postal-tls',
      'webhook-key',
      'inbound',
      'public-url',
      'tracking-secret',
    ]) {
      expect(lineOf(run, name)).toMatch(/^PASS/);
    }
    expect(lineOf(run, 'postal')).toMatch(
      /^PASS {2}postal +Postal at http:\/\/127\.0\.0\.1:\d+ accepts POSTAL_API_KEY$/,
    );
    expect(lineOf(run, 'webhook-key')).toMatch(/POSTAL_WEBHOOK_PUBLIC_KEY matches Postal's JWKS/);
    for (const check of ['spf', 'dkim', 'dmarc', 'return_path', 'mx'])
      expect(lineOf(run, `dns:shop.test:${check}`)).toMatch(/^PASS/);
    expect(lineOf(run, 'production')).toMatch(/^SKIP/);
    expect(run.stdout).not.toMatch(/^(FAIL|WARN)/m);
    expect(run.stdout).toMatch(
      /0 failed, 0 warning\(s\), \d+ passed, \d+ not applicable — all good\n$/,
    );
    expect(run.code).toBe(0);
  });

  it('fails on a key Postal rejects and on missing DNS records, each line with its fix; exit 1', async () => {
    await t.app.get(DomainsService).add({ domain: 'bare.test' });
    const run = await doctor({ ...healthyEnv(), POSTAL_API_KEY: 'wrong-key' });
    expect(lineOf(run, 'postal')).toBe(
      `FAIL  postal${' '.repeat(lineOf(run, 'postal')!.indexOf(' Postal at') - 12)} Postal at ${postal.url} refused the API key: InvalidServerAPIKey (The API token provided in X-Server-API-Key was not valid.) — fix: In Postal, open the mail server's Credentials, add one of type API and put its key in POSTAL_API_KEY`,
    );
    expect(lineOf(run, 'dns:bare.test:spf')).toMatch(
      /^FAIL .*No SPF record .* — fix: Publish a TXT record at bare\.test: v=spf1 a mx include:spf\.postal\.test ~all$/,
    );
    expect(lineOf(run, 'dns:bare.test:dkim')).toMatch(/^FAIL .* — fix: /);
    expect(lineOf(run, 'dns:shop.test:spf')).toMatch(/^PASS/);
    expect(run.code).toBe(1);
  });

  it('prints the report as JSON with --json', async () => {
    const run = await doctor({ ...healthyEnv(), INBOUND_SECRET: '', TRACKING_SECRET: '' }, true);
    expect(run.code).toBe(1);
    const report = JSON.parse(run.stdout) as DoctorReport;
    expect(report.ok).toBe(false);
    expect(report.checks.find((c) => c.name === 'inbound')).toMatchObject({
      status: 'fail',
      fix: expect.stringContaining('/api/v1/inbound/postal/<INBOUND_SECRET>'),
    });
    expect(report.checks.find((c) => c.name === 'tracking-secret')).toMatchObject({
      status: 'fail',
    });
    expect(report.checks.find((c) => c.name === 'postal')).toMatchObject({ status: 'pass' });
  });

  it('reports unreachable PostgreSQL, Redis and PUBLIC_URL instead of failing to start', async () => {
    const run = await doctor({
      ...healthyEnv(),
      DATABASE_URL: 'postgres://postgres@127.0.0.1:1/email_sender_test',
      REDIS_URL: 'redis://127.0.0.1:1/0',
      PUBLIC_URL: 'http://127.0.0.1:1',
    });
    expect(run.code).toBe(1);
    expect(lineOf(run, 'postgres')).toMatch(/^FAIL .*PostgreSQL is unreachable/);
    expect(lineOf(run, 'migrations')).toMatch(/^SKIP/);
    expect(lineOf(run, 'redis')).toMatch(/^FAIL .*Redis is unreachable/);
    expect(lineOf(run, 'public-url')).toMatch(/^FAIL .*not reachable/);
    expect(lineOf(run, 'dns')).toMatch(/^FAIL .*PostgreSQL is not reachable/);
    expect(lineOf(run, 'postal')).toMatch(/^PASS/);
  });
});
