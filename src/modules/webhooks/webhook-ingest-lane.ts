import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { RequestWithRawBody } from 'src/common/http/http-edge';
import { WEBHOOK_PATH } from 'src/common/http/http-edge';
import { labelRoute } from 'src/infra/logging/http-access';
import type {
  SignatureCheck,
  WebhookSignatureVerifier,
} from 'src/modules/webhooks/webhook-signature.verifier';
import { parseEnvelope, WebhooksService } from 'src/modules/webhooks/webhooks.service';

/** The signature check the lane made, kept on the request so the route does not verify twice. */
export type RequestWithSignatureCheck = RequestWithRawBody & { postalSignature?: SignatureCheck };

export interface WebhookIngestLaneDeps {
  verifier: WebhookSignatureVerifier;
  webhooks: WebhooksService;
}

/**
 * The ingest lane of Postal's webhook (docs/ARCHITECTURE.md "The HTTP edge", README
 * "Performance"). Postal's webhooks are the API's busiest traffic — one per message and event,
 * in bursts — and each needs only what the lane does: verify the signature over the raw body
 * (read and size-limited by the edge just before), parse the envelope, store it once by uuid,
 * queue it, answer 200 `{status}`. Mounted right behind the body read, so the request id,
 * security headers and CORS are the edge's as for every route, and a request the lane answers
 * skips the route table, the guards (the route is public and exempt from IP limits and bans)
 * and the pipes. Its access line and `http_request_duration_seconds` sample are the edge's, as
 * for every request (src/infra/logging/http-access.ts), labelled with the route's pattern.
 *
 * Only the plain success is answered here. Anything else — another method, a query string, a
 * signature that is missing or does not verify, a body that is not an envelope, a failed
 * write — goes on (`next()`) to `WebhooksController.postal`, which answers it exactly as it
 * always has (with the check already made, so the RSA verification is not paid twice).
 */
export function webhookIngestLane(deps: WebhookIngestLaneDeps): RequestHandler {
  const { verifier, webhooks } = deps;

  const answer = async (
    req: RequestWithSignatureCheck,
    res: Response,
    raw: Buffer,
  ): Promise<boolean> => {
    let check: SignatureCheck;
    try {
      check = await verifier.verify(raw, req.headers);
    } catch {
      return false; // not configured: the route answers 500 and logs what to set
    }
    req.postalSignature = check;
    if (!check.ok) return false;
    let duplicate: boolean;
    try {
      ({ duplicate } = await webhooks.receive(parseEnvelope(raw)));
    } catch {
      return false;
    }
    labelRoute(res, WEBHOOK_PATH);
    res.status(200).json({ status: duplicate ? 'duplicate' : 'ok' });
    return true;
  };

  return (req: Request, res: Response, next: NextFunction): void => {
    const raw = (req as RequestWithRawBody).rawBody;
    if (
      req.method !== 'POST' ||
      req.originalUrl !== WEBHOOK_PATH ||
      !Buffer.isBuffer(raw) ||
      raw.length === 0
    ) {
      return next();
    }
    answer(req, res, raw).then(
      (answered) => {
        if (!answered) next();
      },
      () => next(),
    );
  };
}
