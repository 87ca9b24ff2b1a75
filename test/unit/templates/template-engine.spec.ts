import { TemplateEngine } from 'src/modules/templates/template-engine';
import { TemplateLimitError, TemplateLimits } from 'src/modules/templates/template-limits';
import { TemplatePool } from 'src/modules/templates/template-pool';

jest.setTimeout(60_000);

const LIMITS: TemplateLimits = {
  maxFieldBytes: 64 * 1024,
  maxMustaches: 100,
  maxNesting: 10,
  maxRenderSteps: 100_000,
  maxOutputBytes: 1024 * 1024,
  timeoutMs: 1000,
};

/**
 * The content key of a check or render names content the engine caches (for inline content a
 * SHA-256 of all of it, templates.service.ts `inlineDigest`). A field over TEMPLATE_MAX_FIELD_BYTES
 * or TEMPLATE_MAX_MUSTACHES is refused by the one scan that counts them (README "Security":
 * template limits), before its key is asked for: a hostile 880 KB field costs that scan, never
 * a digest of all of it.
 */
describe(TemplateEngine.name, () => {
  let pool: TemplatePool;
  let engine: TemplateEngine;

  beforeAll(() => {
    pool = new TemplatePool({ threads: 1, memoryMb: 128, timeoutMs: 1000, maxWaiting: 4 });
    engine = new TemplateEngine(LIMITS, pool);
  });

  afterAll(() => engine.close());

  const oversized = [
    ['over TEMPLATE_MAX_FIELD_BYTES', { subject: 's', html: 'x'.repeat(64 * 1024 + 1) }],
    ['over TEMPLATE_MAX_MUSTACHES', { subject: 's', html: '{{a}}'.repeat(101) }],
  ] as const;

  describe.each(oversized)('content %s', (_name, src) => {
    it('is refused by check() without its key being asked for', async () => {
      const keyOf = jest.fn(() => 'inline:k');
      await expect(engine.check(src, keyOf)).rejects.toBeInstanceOf(TemplateLimitError);
      expect(keyOf).not.toHaveBeenCalled();
    });

    it('is refused by render() without its key being asked for', async () => {
      const keyOf = jest.fn(() => 'inline:k');
      await expect(engine.render(src, keyOf, {})).rejects.toBeInstanceOf(TemplateLimitError);
      expect(keyOf).not.toHaveBeenCalled();
    });
  });

  it('asks for the key once for content within the limits, and caches the check by it', async () => {
    const src = { subject: 'Hi {{name}}', html: '<p>{{name}}</p>' };
    const keyOf = jest.fn(() => 'inline:within');
    const first = await engine.check(src, keyOf);
    const again = await engine.check(src, keyOf);
    expect(keyOf).toHaveBeenCalledTimes(2);
    expect(again).toBe(first);
    const rendered = await engine.render(src, () => 'inline:within', { name: 'Ann' });
    expect(rendered.html).toBe('<p>Ann</p>');
  });
});
