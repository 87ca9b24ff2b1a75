/**
 * Requests the service makes to its callers (event webhooks), described beside the routes:
 * a controller carries them as class metadata and `buildOpenApiDocument` adds them to the
 * document's `x-webhooks` (README "API overview"). The document is OpenAPI 3.0 (what
 * @nestjs/swagger writes), which has no `webhooks` field; `x-webhooks` is Redoc's extension
 * with the same shape as 3.1's `webhooks`: event name → Path Item.
 */
export const OPENAPI_WEBHOOKS = 'openapi:x-webhooks';

export type OpenApiWebhooks = Record<string, Record<string, unknown>>;

export const ApiWebhooks =
  (webhooks: OpenApiWebhooks): ClassDecorator =>
  (target) => {
    Reflect.defineMetadata(OPENAPI_WEBHOOKS, webhooks, target);
  };
