import { Webhook } from 'standardwebhooks';
import { generateSecret, WebhookSigner } from 'src/modules/event-webhooks/webhook-signer';

/**
 * The reference is the `standardwebhooks` package a customer verifies with (README "Event
 * webhooks"): its `Webhook.sign` and `Webhook.verify` (upstream
 * standard-webhooks/standard-webhooks, libraries/javascript/src/index.ts).
 */
describe(WebhookSigner.name, () => {
  const bodies = [
    '{"type":"email.sent","data":{"to":"a@example.com"}}',
    '{"type":"email.opened","data":{"subject":"Grüße — 日本 🎉"}}',
    '',
  ];

  describe('headers', () => {
    it('signs exactly as standardwebhooks does, for every live secret', () => {
      const signer = new WebhookSigner();
      const secrets = [generateSecret(), generateSecret()];
      const at = new Date(Date.now() - 1234);
      for (const body of bodies) {
        const h = signer.headers(secrets, 'msg_2b8c0f6e9a0d4c1f', at, body);
        expect(h['webhook-id']).toBe('msg_2b8c0f6e9a0d4c1f');
        expect(h['webhook-timestamp']).toBe(String(Math.floor(at.getTime() / 1000)));
        expect(h['webhook-signature']).toBe(
          secrets.map((s) => new Webhook(s).sign('msg_2b8c0f6e9a0d4c1f', at, body)).join(' '),
        );
      }
    });

    it('is verified by standardwebhooks with either secret during a rotation', () => {
      const signer = new WebhookSigner();
      const [next, previous] = [generateSecret(), generateSecret()];
      const body = bodies[1];
      const h = signer.headers([next, previous], 'msg_1', new Date(), body);
      expect(new Webhook(next).verify(body, h)).toEqual(JSON.parse(body));
      expect(new Webhook(previous).verify(body, h)).toEqual(JSON.parse(body));
      expect(() => new Webhook(generateSecret()).verify(body, h)).toThrow();
    });
  });
});
