/**
 * Runs the two analytics scenarios on their own (the main `bench/run.ts` plugs them in too):
 *
 *   npm run build && node -r ./scripts/register-paths.js bench/run-analytics.ts
 *
 * A fresh migrated database `email_sender_bench_<random>` and the built app (role api) on a
 * random port; everything is removed at the end. BENCH_ANALYTICS_ONLY=aggregation|stats runs
 * one of them.
 */
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import Redis from 'ioredis';
import { Client, Pool } from 'pg';
import { loadConfig } from 'src/config/app-config';
import { createHttpApp } from 'src/create-app';
import { ApiKeysService } from 'src/modules/auth/api-keys.service';
import { prepareInfrastructure } from 'src/startup';
import {
  AnalyticsBenchContext,
  BenchFigure,
  run as runHourlyAggregation,
} from 'bench/scenarios/hourly-aggregation';
import { run as runStatsApi } from 'bench/scenarios/stats-api';

const PG_ADMIN_URL =
  process.env.BENCH_PG_URL ??
  process.env.TEST_PG_URL ??
  'postgres://postgres@127.0.0.1:5432/postgres';
const REDIS_URL =
  process.env.BENCH_REDIS_URL ?? process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379/0';
const ONLY = new Set((process.env.BENCH_ANALYTICS_ONLY ?? 'aggregation,stats').split(','));

const t0 = Date.now();
function log(line: string): void {
  const s = ((Date.now() - t0) / 1000).toFixed(1).padStart(5);
  process.stdout.write(`bench [${s} s] ${line}\n`);
}

function table(lines: BenchFigure[]): string {
  const head = ['Figure', 'Target', 'Measured', 'Raw baseline', 'Result'];
  const rows = lines.map((l) => [
    l.figure,
    l.target,
    l.measured,
    l.baseline,
    l.pass === null ? 'info' : l.pass ? 'PASS' : 'FAIL',
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const fmt = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
  return [fmt(head), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(fmt)].join(
    '\n',
  );
}

async function main(): Promise<void> {
  const id = randomBytes(4).toString('hex');
  const databaseName = `email_sender_bench_${id}`;
  const prefix = `bench-${id}`;
  const url = new URL(PG_ADMIN_URL);
  url.pathname = `/${databaseName}`;
  const config = loadConfig({
    NODE_ENV: 'development',
    DATABASE_URL: url.toString(),
    REDIS_URL,
    REDIS_KEY_PREFIX: prefix,
    LOG_LEVEL: 'warn',
    APP_ROLES: 'api',
    TRACKING_SECRET: `bench-${randomBytes(16).toString('hex')}`,
    RATE_LIMIT_IP_PER_MIN: '100000000',
    RATE_LIMIT_KEY_PER_MIN: '100000000',
  });
  const cleanups: Array<() => Promise<unknown>> = [];
  try {
    cleanups.push(async () => {
      const admin = new Client({ connectionString: PG_ADMIN_URL });
      await admin.connect();
      await admin.query(`DROP DATABASE IF EXISTS "${databaseName}" WITH (FORCE)`);
      await admin.end();
    });
    cleanups.push(async () => {
      const redis = new Redis(REDIS_URL);
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
        cursor = next;
        if (keys.length) await redis.del(...keys);
      } while (cursor !== '0');
      redis.disconnect();
    });
    log(`fresh database ${databaseName} and the app (role api)…`);
    await prepareInfrastructure(config);
    const app = await createHttpApp(config);
    cleanups.push(() => app.close());
    await app.listen(0, '127.0.0.1');
    const port = (app.getHttpServer().address() as AddressInfo).port;
    const pool = new Pool({ connectionString: config.databaseUrl, max: 4 });
    cleanups.push(() => pool.end());
    const ctx: AnalyticsBenchContext = {
      pool,
      app,
      baseUrl: `http://127.0.0.1:${port}`,
      apiKey: (await app.get(ApiKeysService).create('bench', 'full')).key,
      log,
    };

    const figures: BenchFigure[] = [];
    if (ONLY.has('aggregation')) figures.push(...(await runHourlyAggregation(ctx)));
    if (ONLY.has('stats')) figures.push(...(await runStatsApi(ctx)));
    process.stdout.write(`\n${table(figures)}\n\n`);
    process.stdout.write(
      `${JSON.stringify(
        figures.map((f) => ({ figure: f.figure, ...f.data })),
        null,
        2,
      )}\n`,
    );
  } finally {
    for (const fn of cleanups.reverse()) {
      await fn().catch((err: unknown) => process.stderr.write(`cleanup: ${String(err)}\n`));
    }
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
});
