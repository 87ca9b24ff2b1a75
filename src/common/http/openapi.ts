import type { INestApplication } from '@nestjs/common';
import { NestContainer } from '@nestjs/core';
import { DECORATORS, DocumentBuilder, OpenAPIObject, SwaggerModule } from '@nestjs/swagger';
import { ALLOW_SEND_SCOPE, IS_PUBLIC } from 'src/common/decorators/route-policy.decorators';
import { RAW_BODY_ROUTES } from 'src/common/http/http-edge';
import { OPENAPI_WEBHOOKS, type OpenApiWebhooks } from 'src/common/http/openapi-webhooks';

/** The bearer scheme's name in `components.securitySchemes` (what `@ApiBearerAuth()` names). */
export const BEARER_SCHEME = 'bearer';

/** The IETF RateLimit fields the API writes (README "API overview"). */
export const RATE_LIMIT_HEADERS = ['RateLimit', 'RateLimit-Policy'];

type Json = Record<string, unknown>;
type Scope = 'public' | 'send' | 'full';

const TAGS: Array<[string, string]> = [
  ['emails', 'Send single emails and batches; message status, batch progress, message search'],
  ['templates', 'Handlebars templates, referenced by external_id as template_id when sending'],
  ['blacklist', 'The suppression list: addresses never sent to'],
  ['complaints', 'Complaints recorded by the API or from feedback loops'],
  ['feedback reports', 'ARF reports received at the feedback-loop address'],
  ['reports', 'Diagnostic reports raised by anomaly detection'],
  ['stats', 'Sending statistics'],
  ['rate-control', 'Per-recipient-domain rate factors and pauses'],
  ['domains', 'Sending domains: their DNS checks against what Postal expects, and verification'],
  ['webhooks', "Postal's delivery webhooks and inbound endpoint (signed by Postal, no API key)"],
  [
    'event webhooks',
    'Your endpoints for events about your mail (delivered, bounced, opened, …), signed per ' +
      'Standard Webhooks; the requests we send are under x-webhooks',
  ],
  ['health', 'Readiness and liveness probes'],
];

/** An example body for each error status, in the shared error shape. */
const ERROR_EXAMPLES: Record<string, [string, string]> = {
  '400': ['validation_error', 'to must be an email address or {"email", "name"}'],
  '401': ['unauthorized', 'Missing or invalid API key'],
  '403': ['forbidden', 'An API key with scope "send" may not call this route'],
  '404': ['not_found', 'Not found'],
  '405': ['method_not_allowed', 'GET is not allowed here'],
  '409': ['idempotency_key_conflict', 'This Idempotency-Key was used with another request body'],
  '413': ['payload_too_large', 'The request body is larger than 1 MB'],
  '415': ['unsupported_media_type', 'Send the body as application/json'],
  '422': ['validation_error', 'The request could not be processed'],
  '429': ['rate_limit_exceeded', 'Too many requests; retry after 30 seconds'],
  '500': ['internal_error', 'Internal server error'],
  '503': ['service_unavailable', 'A backing service is unavailable; retry shortly'],
};

const ERROR_SCHEMA_REF = '#/components/schemas/ErrorResponseDto';
const EXAMPLE_REQUEST_ID = '6f1c2a4e-9b7d-4c1e-8a2f-3d5e7b9c1a20';

/**
 * The OpenAPI document served at /docs-json and exported by `scripts/export-openapi.js` (README
 * "API overview"). Nest's scanner gives paths and schemas from the decorators; this adds what
 * it cannot know: each operation's security and scope (read from the same route metadata the
 * API key guard reads, so they cannot disagree), the headers every response carries, and an
 * example for every request and response that has none.
 */
export function buildOpenApiDocument(app: INestApplication): OpenAPIObject {
  const builder = new DocumentBuilder()
    .setTitle('Email Sender')
    .setDescription(
      'Send single emails and batches, manage templates, the suppression list, reports and ' +
        'rate control.\n\nAuthentication: `Authorization: Bearer esk_…` (an opaque API key; ' +
        'scope `send` may call send, batch, status and batch progress, scope `full` ' +
        'everything). Every error uses one shape: `{"error": {"code", "message", "details"?}, ' +
        '"request_id"}`, and every response carries `X-Request-Id`.',
    )
    .setVersion('1')
    .addServer('{base_url}', 'Your deployment (PUBLIC_URL)', {
      base_url: { default: 'http://localhost:3000', description: 'PUBLIC_URL of the service' },
    })
    .addBearerAuth(
      {
        type: 'http',
        scheme: 'bearer',
        bearerFormat: 'esk_… (opaque API key)',
        description:
          'An API key created with `npm run cli -- api-keys:create`: `esk_` followed by random ' +
          'characters, not a JWT. Scope `send` or `full` (see each operation).',
      },
      BEARER_SCHEME,
    )
    .addSecurityRequirements(BEARER_SCHEME);
  for (const [name, description] of TAGS) builder.addTag(name, description);
  const config = builder.build();
  // package.json says UNLICENSED: proprietary, no licence URL to point at.
  config.info.license = { name: 'UNLICENSED (proprietary)' };
  const document = SwaggerModule.createDocument(app, config, {
    operationIdFactory: (_controller, method) => method,
  });
  describeSecurity(document, scopesByOperationId(app));
  renameAliases(document);
  nullableEnums(document.components?.schemas);
  describeHeadersAndExamples(document);
  addWebhooks(document, app);
  return document;
}

/** The requests the service sends (ApiWebhooks metadata of the controllers) as `x-webhooks`. */
function addWebhooks(document: OpenAPIObject, app: INestApplication): void {
  const container = (app as unknown as { container: NestContainer }).container;
  const webhooks: OpenApiWebhooks = {};
  for (const module of container.getModules().values()) {
    for (const wrapper of module.controllers.values()) {
      const metatype = wrapper.metatype as object | null;
      const found = metatype
        ? (Reflect.getMetadata(OPENAPI_WEBHOOKS, metatype) as OpenApiWebhooks | undefined)
        : undefined;
      if (found) Object.assign(webhooks, found);
    }
  }
  if (Object.keys(webhooks).length) (document as unknown as Json)['x-webhooks'] = webhooks;
}

/** The scope each operation needs, from the metadata the API key guard reads. */
function scopesByOperationId(app: INestApplication): Map<string, Scope> {
  const container = (app as unknown as { container: NestContainer }).container;
  const scopes = new Map<string, Scope>();
  for (const module of container.getModules().values()) {
    for (const wrapper of module.controllers.values()) {
      const metatype = wrapper.metatype as (new (...args: never[]) => object) | null;
      if (!metatype) continue;
      const proto = metatype.prototype as Record<string, unknown>;
      for (const name of Object.getOwnPropertyNames(proto)) {
        const handler = proto[name];
        if (name === 'constructor' || typeof handler !== 'function') continue;
        const op = Reflect.getMetadata(DECORATORS.API_OPERATION, handler) as
          { operationId?: string } | undefined;
        const id = op?.operationId ?? name;
        if (scopes.has(id))
          throw new Error(`operationId ${id} is used twice: name it in @ApiOperation`);
        const flag = (key: string): boolean =>
          Boolean(Reflect.getMetadata(key, handler) ?? Reflect.getMetadata(key, metatype));
        scopes.set(id, flag(IS_PUBLIC) ? 'public' : flag(ALLOW_SEND_SCOPE) ? 'send' : 'full');
      }
    }
  }
  return scopes;
}

function operations(document: OpenAPIObject): Array<[string, string, Json]> {
  const out: Array<[string, string, Json]> = [];
  for (const [path, item] of Object.entries(document.paths)) {
    for (const [method, op] of Object.entries(item as Json)) {
      if (['get', 'put', 'post', 'delete', 'patch'].includes(method)) {
        out.push([path, method, op as Json]);
      }
    }
  }
  return out;
}

/**
 * OpenAPI 3.0.3: `nullable` does not extend `enum`, so a nullable enum lists `null` itself;
 * without it a validator (ajv, the contract test) rejects the `null` the API sends.
 */
function nullableEnums(node: unknown): void {
  if (Array.isArray(node)) return node.forEach(nullableEnums);
  if (!node || typeof node !== 'object') return;
  const schema = node as Json;
  if (schema.nullable === true && Array.isArray(schema.enum) && !schema.enum.includes(null)) {
    schema.enum = [...(schema.enum as unknown[]), null];
  }
  for (const [key, value] of Object.entries(schema)) {
    if (key !== 'example' && key !== 'examples') nullableEnums(value);
  }
}

/**
 * A handler served on several paths (`/health` and `/api/v1/health`) gets one operationId from
 * its decorator; operationIds must be unique, so each further path gets the id suffixed with
 * its own static segments (`getHealthViaApiV1Health`).
 */
function renameAliases(document: OpenAPIObject): void {
  const seen = new Set<string>();
  for (const [path, , op] of operations(document)) {
    const id = String(op.operationId);
    if (!seen.has(id)) {
      seen.add(id);
      continue;
    }
    const suffix = path
      .split('/')
      .filter((s) => s && !s.startsWith('{'))
      .map((s) => s.replace(/(^|[-_])([a-z0-9])/g, (_m, _d, c: string) => c.toUpperCase()))
      .join('');
    op.operationId = `${id}Via${suffix}`;
    op['x-alias-of'] = id;
  }
}

function describeSecurity(document: OpenAPIObject, scopes: Map<string, Scope>): void {
  for (const [path, method, op] of operations(document)) {
    const scope = scopes.get(String(op.operationId));
    if (!scope) throw new Error(`No route metadata for ${method.toUpperCase()} ${path}`);
    if (scope === 'public') {
      op.security = [];
      continue;
    }
    op.security = [{ [BEARER_SCHEME]: [] }];
    op['x-required-scope'] = scope;
    const note =
      scope === 'send'
        ? 'Scope: `send` or `full`.'
        : 'Scope: `full` (a `send` key gets 403 forbidden).';
    op.description = op.description ? `${String(op.description)}\n\n${note}` : note;
  }
}

function describeHeadersAndExamples(document: OpenAPIObject): void {
  const components = document.components ?? (document.components = {});
  components.headers = {
    ...(components.headers ?? {}),
    'X-Request-Id': {
      description: 'The request id (yours when you sent a sane X-Request-Id), also in error bodies',
      schema: { type: 'string', example: EXAMPLE_REQUEST_ID },
    },
    'Retry-After': {
      description: 'Seconds to wait before retrying',
      schema: { type: 'integer', minimum: 1, example: 30 },
    },
    'Idempotent-Replayed': {
      description: 'Present (`true`) when this is the stored answer to an earlier request',
      schema: { type: 'string', enum: ['true'] },
    },
    RateLimit: {
      description:
        'What is left of each limit the request counted against and in how many seconds it ' +
        'resets (draft-ietf-httpapi-ratelimit-headers)',
      schema: { type: 'string', example: '"ip";r=99;t=42, "key";r=999;t=42' },
    },
    'RateLimit-Policy': {
      description: 'Every limit the request counted against: quota per window of seconds',
      schema: { type: 'string', example: '"ip";q=100;w=60, "key";q=1000;w=60' },
    },
  };
  const ref = (name: string): Json => ({ $ref: `#/components/headers/${name}` });
  for (const [path, method, op] of operations(document)) {
    const rateLimited =
      path.startsWith('/api/') && Array.isArray(op.security) && op.security.length;
    const idempotent = (op.parameters as Json[] | undefined)?.some(
      (p) => p.in === 'header' && String(p.name).toLowerCase() === 'idempotency-key',
    );
    for (const [status, response] of Object.entries((op.responses ?? {}) as Json)) {
      const res = response as Json;
      const headers: Json = { 'X-Request-Id': ref('X-Request-Id') };
      if (rateLimited) {
        for (const h of RATE_LIMIT_HEADERS) headers[h] = ref(h);
      }
      if (status === '429') headers['Retry-After'] = { ...ref('Retry-After') };
      if (idempotent && status.startsWith('2')) {
        headers['Idempotent-Replayed'] = ref('Idempotent-Replayed');
      }
      res.headers = { ...headers, ...((res.headers as Json | undefined) ?? {}) };
      for (const media of Object.values((res.content ?? {}) as Json)) {
        const m = media as Json;
        if (m.example !== undefined || m.examples !== undefined) continue;
        const schema = m.schema as Json | undefined;
        m.example =
          schema?.$ref === ERROR_SCHEMA_REF && ERROR_EXAMPLES[status]
            ? errorExample(status)
            : exampleOf(document, schema);
      }
    }
    dedupeHeaderParameters(op);
    if (['post', 'put', 'patch'].includes(method) && !RAW_BODY_ROUTES.includes(path)) {
      bodyErrors(op);
    }
    // One handler on `/inbound/postal` and `/inbound/postal/{token}` gets the `token`
    // parameter on both; a path parameter exists only where the path names it.
    op.parameters = ((op.parameters ?? []) as Json[]).filter(
      (p) => p.in !== 'path' || path.includes(`{${String(p.name)}}`),
    );
    const body = op.requestBody as Json | undefined;
    for (const media of Object.values((body?.content ?? {}) as Json)) {
      const m = media as Json;
      if (m.example === undefined && m.examples === undefined) {
        m.example = exampleOf(document, m.schema as Json | undefined);
      }
    }
    for (const p of (op.parameters ?? []) as Json[]) {
      const schema = p.schema as Json | undefined;
      if (p.example === undefined && schema && schema.example === undefined && p.required) {
        p.example = exampleOf(document, schema);
      }
    }
  }
}

/**
 * Any JSON route that takes a method with a body answers malformed JSON with 400, a body over
 * its limit with 413 and a body that is not application/json with 415 (README "Security",
 * "Network edge"), whether or not the operation reads a body.
 */
function bodyErrors(op: Json): void {
  const responses = (op.responses ?? (op.responses = {})) as Json;
  const statuses: Array<[string, string]> = [
    ['400', 'validation_error (also malformed JSON)'],
    ['413', 'payload_too_large'],
    ['415', 'unsupported_media_type (a request body that is not application/json)'],
  ];
  for (const [status, description] of statuses) {
    responses[status] ??= {
      description,
      content: { 'application/json': { schema: { $ref: ERROR_SCHEMA_REF } } },
    };
  }
}

function errorExample(status: string): Json {
  const [code, message] = ERROR_EXAMPLES[status];
  const error: Json = { code, message };
  if (status === '400') error.details = [{ field: 'to', message }];
  if (status === '429') error.retry_after = 30;
  return { error, request_id: EXAMPLE_REQUEST_ID };
}

/**
 * `@Headers('idempotency-key')` makes Nest's scanner add a required header next to the one
 * `@ApiHeader` documents; HTTP header names are case-insensitive, so they are one header. The
 * documented one (with a description) is kept.
 */
function dedupeHeaderParameters(op: Json): void {
  const params = op.parameters as Json[] | undefined;
  if (!params) return;
  const seen = new Map<string, Json>();
  const out: Json[] = [];
  for (const p of params) {
    if (p.in !== 'header') {
      out.push(p);
      continue;
    }
    const key = String(p.name).toLowerCase();
    const prev = seen.get(key);
    if (!prev) {
      seen.set(key, p);
      out.push(p);
    } else if (!prev.description && p.description) {
      out[out.indexOf(prev)] = p;
      seen.set(key, p);
    }
  }
  op.parameters = out;
}

const FORMAT_EXAMPLES: Record<string, unknown> = {
  'date-time': '2026-01-31T09:00:00.000Z',
  uuid: '0b6c5e0e-8f8e-4b7a-9d0a-2f6f1b3c4d5e',
  email: 'ann@example.com',
};

/** An example built from the schema's own examples, enums and defaults, valid against it. */
function exampleOf(document: OpenAPIObject, schema: Json | undefined, depth = 0): unknown {
  if (!schema || depth > 8) return undefined;
  if (typeof schema.$ref === 'string') {
    const name = schema.$ref.replace('#/components/schemas/', '');
    return exampleOf(document, document.components?.schemas?.[name] as Json, depth + 1);
  }
  if (schema.example !== undefined) return schema.example;
  if (Array.isArray(schema.enum) && schema.enum.length) return schema.enum[0];
  if (schema.default !== undefined) return schema.default;
  const variants = (schema.oneOf ?? schema.anyOf ?? schema.allOf) as Json[] | undefined;
  if (variants?.length) return exampleOf(document, variants[0], depth + 1);
  switch (schema.type) {
    case 'object': {
      const out: Json = {};
      const required = new Set((schema.required ?? []) as string[]);
      for (const [k, v] of Object.entries((schema.properties ?? {}) as Json)) {
        const sub = v as Json;
        const value = exampleOf(document, sub, depth + 1);
        if (value !== undefined && (required.has(k) || depth < 2 || sub.example !== undefined)) {
          out[k] = value;
        }
      }
      return out;
    }
    case 'array': {
      const item = exampleOf(document, schema.items as Json | undefined, depth + 1);
      return item === undefined ? [] : [item];
    }
    case 'string':
      if (schema.nullable) return null;
      return FORMAT_EXAMPLES[String(schema.format)] ?? 'string';
    case 'integer':
    case 'number':
      return typeof schema.minimum === 'number' ? schema.minimum : 1;
    case 'boolean':
      return true;
    default:
      return undefined;
  }
}
