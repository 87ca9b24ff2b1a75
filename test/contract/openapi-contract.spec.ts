/**
 * The API contract (README "API overview"): the OpenAPI document the server serves is the one
 * `scripts/export-openapi.js` exports, it passes `redocly lint` (redocly.yaml), the committed
 * client types are what openapi-typescript makes of it, the consumer example (examples/) and
 * the typed client (clients/node/) type-check against them, and every answer the server gives
 * the example — successes and errors — and every operation's answer to a request without
 * credentials is documented: its status, its body (validated with ajv, undocumented fields
 * included) and its X-Request-Id.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import Ajv, { type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import ts from 'typescript';
import { createEmailSenderClient } from 'clients/node/src/client';
import { runConsumerExample } from 'examples/consumer';
import { bootTestApp, TestApp } from 'test/utils/test-app';

const run = promisify(execFile);
const ROOT = join(__dirname, '..', '..');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { clientTypes, SCHEMA_FILE } = require(join(ROOT, 'scripts', 'generate-client-types.js'));

type Json = Record<string, unknown>;
interface Exchange {
  method: string;
  url: string;
  status: number;
  headers: Headers;
  body: string;
}

const METHODS = ['get', 'post', 'put', 'delete', 'patch'];

/** The document with every object schema closed, so an undocumented field fails validation. */
function closed(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(closed);
  if (!value || typeof value !== 'object') return value;
  const out: Json = {};
  for (const [k, v] of Object.entries(value)) {
    out[k] = k === 'example' || k === 'examples' ? v : closed(v);
  }
  if (out.type === 'object' && out.properties && out.additionalProperties === undefined) {
    out.additionalProperties = false;
  }
  return out;
}

/** Local refs (`#/components/…`) made absolute against the document's id in ajv. */
function absoluteRefs(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(absoluteRefs);
  if (!value || typeof value !== 'object') return value;
  const out: Json = {};
  for (const [k, v] of Object.entries(value)) {
    out[k] =
      k === '$ref' && typeof v === 'string' && v.startsWith('#') ? `openapi${v}` : absoluteRefs(v);
  }
  return out;
}

class ContractChecker {
  private readonly ajv = new Ajv({ strict: false, allErrors: true });
  private readonly cache = new Map<unknown, ValidateFunction>();
  private readonly routes: Array<{ re: RegExp; path: string; item: Json }>;

  constructor(private readonly doc: Json) {
    addFormats(this.ajv);
    this.ajv.addSchema({ $id: 'openapi', components: closed(doc.components) });
    this.routes = Object.entries(doc.paths as Json).map(([path, item]) => ({
      path,
      item: item as Json,
      re: new RegExp(`^${path.replace(/\{[^}]+\}/g, '[^/]+')}$`),
    }));
  }

  operation(method: string, url: string): { path: string; op: Json } {
    const pathname = new URL(url).pathname;
    // A template path with fewer parameters wins (`/blacklist/check` over `/blacklist/{email}`).
    const matches = this.routes
      .filter((r) => r.re.test(pathname) && r.item[method.toLowerCase()])
      .sort((a, b) => a.path.split('{').length - b.path.split('{').length);
    if (!matches.length) throw new Error(`${method} ${pathname} is not in the document`);
    return { path: matches[0].path, op: matches[0].item[method.toLowerCase()] as Json };
  }

  /** Problems with one answer, as readable lines (empty: it matches the document). */
  check(x: Exchange): string[] {
    const { path, op } = this.operation(x.method, x.url);
    const where = `${x.method} ${path} → ${x.status}`;
    const responses = op.responses as Json;
    const spec = (responses[String(x.status)] ?? responses.default) as Json | undefined;
    if (!spec) return [`${where}: status not documented (documented: ${Object.keys(responses)})`];
    const problems: string[] = [];
    if (!x.headers.get('x-request-id')) problems.push(`${where}: no X-Request-Id`);
    for (const [name, header] of Object.entries((spec.headers ?? {}) as Json)) {
      if ((header as Json).required && !x.headers.get(name)) {
        problems.push(`${where}: required header ${name} missing`);
      }
    }
    const type = (x.headers.get('content-type') ?? '').split(';')[0].trim();
    const content = spec.content as Json | undefined;
    if (type === 'application/json') {
      const media = content?.['application/json'] as Json | undefined;
      if (!media?.schema) return [...problems, `${where}: JSON body not documented`];
      const validate = this.validator(media.schema);
      if (!validate(JSON.parse(x.body))) {
        problems.push(
          `${where}: ${this.ajv.errorsText(validate.errors)} in ${x.body.slice(0, 300)}`,
        );
      }
    } else if (x.body.length && content && !content[type]) {
      problems.push(`${where}: ${type} body not documented`);
    }
    return problems;
  }

  private validator(schema: unknown): ValidateFunction {
    let v = this.cache.get(schema);
    if (!v) {
      v = this.ajv.compile(absoluteRefs(closed(schema)) as Json);
      this.cache.set(schema, v);
    }
    return v;
  }
}

describe('API contract: the OpenAPI document and the server agree', () => {
  let t: TestApp;
  let baseUrl: string;
  let doc: Json;
  let checker: ContractChecker;
  let tmp: string;
  const exchanges: Exchange[] = [];

  /** fetch that records every answer for the checker. */
  const recordingFetch = async (request: Request): Promise<Response> => {
    const response = await fetch(request);
    exchanges.push({
      method: request.method,
      url: request.url,
      status: response.status,
      headers: response.headers,
      body: await response.clone().text(),
    });
    return response;
  };

  beforeAll(async () => {
    t = await bootTestApp({ RATE_LIMIT_IP_PER_MIN: '100000', RATE_LIMIT_KEY_PER_MIN: '100000' });
    await new Promise<void>((resolve) => t.server.listen(0, '127.0.0.1', resolve));
    baseUrl = `http://127.0.0.1:${(t.server.address() as { port: number }).port}`;
    doc = (await (await fetch(`${baseUrl}/docs-json`)).json()) as Json;
    checker = new ContractChecker(doc);
    tmp = mkdtempSync(join(tmpdir(), 'openapi-'));
  }, 60_000);

  afterAll(async () => {
    rmSync(tmp, { recursive: true, force: true });
    await t?.close();
  });

  it('serves the document scripts/export-openapi.js exports (what CI lints)', async () => {
    const file = join(tmp, 'openapi.json');
    await run(process.execPath, [join(ROOT, 'scripts', 'export-openapi.js'), file], { cwd: ROOT });
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual(doc);
  }, 60_000);

  it('passes redocly lint (recommended rules, redocly.yaml) with no error or warning', async () => {
    const file = join(ROOT, 'dist', 'openapi.json');
    await run(process.execPath, [join(ROOT, 'scripts', 'export-openapi.js'), file], { cwd: ROOT });
    const redocly = join(ROOT, 'node_modules', '.bin', 'redocly');
    const out = await run(redocly, ['lint', file, '--format=stylish'], { cwd: ROOT }).catch(
      (err: { stdout: string; stderr: string }) => err,
    );
    // Without the box Redocly prints about the Node.js version.
    const report = `${out.stdout}${out.stderr}`
      .split('\n')
      .filter((line) => !/[║╔╚]/.test(line))
      .join('\n');
    expect(report).toMatch(/Your API description is valid/);
    expect(report).not.toMatch(/warning|error/i);
  }, 60_000);

  it('has the committed client types (clients/node/src/schema.ts) generated from it', async () => {
    const committed = readFileSync(SCHEMA_FILE, 'utf8');
    // On failure: node scripts/generate-client-types.js
    expect(committed).toBe(await clientTypes(doc));
  }, 60_000);

  it('type-checks the consumer example and the client, without casts or any', async () => {
    const tsc = join(ROOT, 'node_modules', '.bin', 'tsc');
    const out = await run(tsc, ['-p', join(ROOT, 'examples', 'tsconfig.json')], {
      cwd: ROOT,
    }).catch((err: { stdout: string }) => err);
    expect(out.stdout).toBe('');
    // No cast and no `any` in the example: it compiles as a consumer's code would.
    const file = join(ROOT, 'examples', 'consumer.ts');
    const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.ES2022);
    const found: string[] = [];
    const visit = (node: ts.Node): void => {
      if (ts.isAsExpression(node) || ts.isTypeAssertionExpression(node)) {
        if (node.type.getText(source) !== 'const') found.push(node.getText(source));
      }
      if (node.kind === ts.SyntaxKind.AnyKeyword) found.push('any');
      if (ts.isNonNullExpression(node)) found.push(node.getText(source));
      ts.forEachChild(node, visit);
    };
    visit(source);
    expect(found).toEqual([]);
  }, 120_000);

  it('documents every answer the consumer example gets, successes and errors', async () => {
    const key = await t.createKey('full');
    const client = createEmailSenderClient({ baseUrl, apiKey: key, fetch: recordingFetch });
    const result = await runConsumerExample(client);

    expect(result.replayed).toBe(true);
    expect(result.pagesSeen).toBeGreaterThan(1);
    expect(result.rejected).toEqual([
      expect.objectContaining({ index: 1, to: 'not-an-address', code: 'invalid_recipient' }),
      expect.objectContaining({ index: 3, code: 'duplicate_recipient' }),
      expect.objectContaining({ index: 4, code: 'recipient_suppressed' }),
    ]);
    const statuses = new Set(exchanges.map((x) => x.status));
    for (const s of [200, 201, 202, 404, 409]) expect(statuses).toContain(s);
    expect(exchanges.flatMap((x) => checker.check(x))).toEqual([]);
  }, 60_000);

  it('documents what every operation answers without credentials, and to a send-scope key', async () => {
    const sendKey = await t.createKey('send');
    const fullKey = await t.createKey('full');
    const problems: string[] = [];
    for (const [path, item] of Object.entries(doc.paths as Json)) {
      for (const method of METHODS.filter((m) => (item as Json)[m])) {
        const op = (item as Json)[method] as Json;
        const url = `${baseUrl}${path.replace(/\{[^}]+\}/g, 'x')}`;
        const init = {
          method: method.toUpperCase(),
          headers: { 'content-type': 'application/json' },
        };
        const body = method === 'get' || method === 'delete' ? undefined : '{}';
        if (body !== undefined) {
          // A body that is not JSON, from a key that may call everything.
          const res = await fetch(url, {
            method: init.method,
            headers: { authorization: `Bearer ${fullKey}`, 'content-type': 'text/plain' },
            body: 'hello',
          });
          const x = { method: init.method, url, status: res.status, headers: res.headers };
          problems.push(...checker.check({ ...x, body: await res.text() }));
        }
        for (const auth of [undefined, `Bearer ${sendKey}`]) {
          const headers = auth ? { ...init.headers, authorization: auth } : init.headers;
          const res = await fetch(url, { ...init, headers, body });
          const x = {
            method: init.method,
            url,
            status: res.status,
            headers: res.headers,
            body: await res.text(),
          };
          problems.push(...checker.check(x));
          const scope = op['x-required-scope'];
          if (!auth && scope) expect([x.method, path, x.status]).toEqual([x.method, path, 401]);
          if (auth && scope === 'full')
            expect([x.method, path, x.status]).toEqual([x.method, path, 403]);
        }
      }
    }
    expect(problems).toEqual([]);
  }, 60_000);
});
