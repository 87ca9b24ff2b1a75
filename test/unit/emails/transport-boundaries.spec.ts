import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';

const ROOT = join(__dirname, '..', '..', '..');
const EMAILS = join(ROOT, 'src', 'modules', 'emails');

const sources = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory()
      ? sources(join(dir, e.name))
      : e.name.endsWith('.ts')
        ? [join(dir, e.name)]
        : [],
  );

/**
 * docs/ARCHITECTURE.md "Transports": the sandbox is a transport like Postal. Its events reach
 * the ingestion path through the PostalEventIngress port, so the emails module has no handle
 * on the webhooks queue, and DeliveryService never asks which transport it holds. (Imports
 * are checked by .dependency-cruiser.js; a queue token or a name test is not an import.)
 */
describe('emails module and the transports', () => {
  it('never touches the webhooks queue or its jobs', () => {
    const offending = sources(EMAILS)
      .filter((f) => /QueueName\.Webhooks|WebhooksJob/.test(readFileSync(f, 'utf8')))
      .map((f) => relative(ROOT, f));
    expect(offending).toEqual([]);
  });

  it('DeliveryService has no branch on the transport’s name', () => {
    const source = readFileSync(join(EMAILS, 'delivery.service.ts'), 'utf8');
    expect(source).not.toMatch(/transport\.name\s*[!=]==|'sandbox'|'postal'/);
  });
});
