import Handlebars from 'handlebars';
import {
  assertCostWithin,
  estimateCost,
  measureVariables,
  prescan,
  profileOf,
  TemplateLimitError,
  TemplateLimits,
} from 'src/modules/templates/template-limits';
import { TemplateRenderer } from 'src/modules/templates/template-renderer';

const LIMITS: TemplateLimits = {
  maxFieldBytes: 256 * 1024,
  maxMustaches: 2000,
  maxNesting: 10,
  maxRenderSteps: 100_000,
  maxOutputBytes: 1024 * 1024,
  timeoutMs: 1000,
};

function limitError(fn: () => unknown): TemplateLimitError {
  try {
    fn();
  } catch (error) {
    if (error instanceof TemplateLimitError) return error;
    throw error;
  }
  throw new Error('expected a TemplateLimitError');
}

const profile = (src: string) => profileOf(Handlebars.parse(src));
const items = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

describe('prescan', () => {
  it('counts bytes, not characters, against TEMPLATE_MAX_FIELD_BYTES', () => {
    const limits = { ...LIMITS, maxFieldBytes: 1024 };
    expect(() => prescan({ html: 'a'.repeat(1024) }, limits)).not.toThrow();
    const error = limitError(() => prescan({ html: 'é'.repeat(600) }, limits));
    expect(error).toMatchObject({ limit: 'TEMPLATE_MAX_FIELD_BYTES', field: 'html', actual: 1200 });
  });

  it('stops counting mustaches at TEMPLATE_MAX_MUSTACHES, whatever the field', () => {
    const limits = { ...LIMITS, maxMustaches: 3 };
    expect(prescan({ subject: '{{a}}{{{b}}}{{c}}' }, limits)).toBe(3);
    const error = limitError(() => prescan({ subject: 'x', text: '{{a}}'.repeat(4) }, limits));
    expect(error).toMatchObject({ limit: 'TEMPLATE_MAX_MUSTACHES', field: 'text', max: 3 });
  });
});

describe('profileOf / estimateCost', () => {
  it('multiplies by the longest list per nested loop, counting empty loop bodies', () => {
    const p = profile('{{#each a}}{{#each b}}{{#each c}}{{/each}}{{/each}}{{/each}}');
    expect(p.nesting).toBe(3);
    const cost = estimateCost('html', p, measureVariables([{ a: items(100) }]));
    expect(cost.steps).toBeGreaterThanOrEqual(100 ** 3);
  });

  it('does not multiply for if / unless / with, nor nest for an else-if chain', () => {
    const p = profile('{{#if a}}{{#with b}}{{#unless c}}{{x}}{{/unless}}{{/with}}{{/if}}');
    expect(p.steps.length).toBe(1);
    const chain = profile('{{#if a}}1' + '{{else if b}}2'.repeat(30) + '{{/if}}');
    expect(chain.nesting).toBe(1);
  });

  it('treats any other block (a list given to {{#name}}) as a loop', () => {
    const p = profile('{{#a}}{{#a}}{{x}}{{/a}}{{/a}}');
    expect(estimateCost('text', p, measureVariables([{ a: items(50) }])).steps).toBeGreaterThan(
      2500,
    );
  });

  it('flags inline partials and decorators', () => {
    expect(profile('{{#*inline "p"}}x{{/inline}}{{> p}}').decorators).toBe(true);
    expect(profile('{{> p}}').decorators).toBe(false);
  });

  it('bounds the output with the longest value, escaped at worst in html', () => {
    const p = profile('<p>{{a}}</p>');
    const stats = measureVariables([{ a: 'x'.repeat(1000) }]);
    expect(estimateCost('html', p, stats).outputChars).toBeGreaterThanOrEqual(6000 + 7);
    expect(estimateCost('text', p, stats).outputChars).toBeGreaterThanOrEqual(1000 + 7);
  });

  it('rejects the probe (four nested each over 100 items) by TEMPLATE_MAX_RENDER_STEPS', () => {
    const src = '{{#each @root.a}}'.repeat(4) + '{{@index}}' + '{{/each}}'.repeat(4);
    const error = limitError(() =>
      assertCostWithin({ html: profile(src) }, measureVariables([{ a: items(100) }]), LIMITS),
    );
    expect(error).toMatchObject({ limit: 'TEMPLATE_MAX_RENDER_STEPS', field: 'html' });
  });
});

describe('measureVariables', () => {
  it('finds the longest list or object anywhere, across variable sets', () => {
    const stats = measureVariables([{ a: [1, 2] }, undefined, { b: { c: items(7) } }]);
    expect(stats.maxItems).toBe(7);
  });

  it('measures deeply nested values without recursion overflow', () => {
    let deep: unknown = ['x'.repeat(10)];
    for (let i = 0; i < 200_000; i++) deep = [deep];
    const stats = measureVariables([{ deep }]);
    expect(stats.maxValueChars).toBeGreaterThanOrEqual(10);
  });
});

describe('TemplateRenderer with a RenderGuard', () => {
  const renderer = new TemplateRenderer({ cacheSize: 0 });

  it('stops a render at its deadline (the clock is checked during loops)', () => {
    const src =
      '{{#each a}}{{#each @root.a}}{{#each @root.a}}{{#each @root.a}}.{{/each}}{{/each}}{{/each}}{{/each}}';
    const compiled = renderer.compile({ subject: 's', text: src });
    const started = Date.now();
    const error = limitError(() =>
      compiled.render(
        { a: items(100) },
        { deadline: Date.now() + 100, maxSteps: Number.MAX_SAFE_INTEGER, maxOutputBytes: 1e9 },
      ),
    );
    expect(error).toMatchObject({ limit: 'TEMPLATE_RENDER_TIMEOUT_MS', field: 'text' });
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('stops a render over its step count', () => {
    const compiled = renderer.compile({ subject: 's', text: '{{#each a}}{{this}}{{/each}}' });
    const error = limitError(() =>
      compiled.render(
        { a: items(1000) },
        { deadline: Date.now() + 60_000, maxSteps: 500, maxOutputBytes: 1e9 },
      ),
    );
    expect(error).toMatchObject({ limit: 'TEMPLATE_MAX_RENDER_STEPS' });
  });

  it('rejects an output over TEMPLATE_MAX_OUTPUT_BYTES before deriving text from it', () => {
    const compiled = renderer.compile({ subject: 's', html: '{{#each a}}{{../big}}{{/each}}' });
    const error = limitError(() =>
      compiled.render(
        { a: items(1000), big: 'z'.repeat(10_000) },
        { deadline: Date.now() + 60_000, maxSteps: 1e9, maxOutputBytes: 1024 * 1024 },
      ),
    );
    expect(error).toMatchObject({ limit: 'TEMPLATE_MAX_OUTPUT_BYTES', field: 'html' });
  });

  it('renders normally within the guard', () => {
    const compiled = renderer.compile({
      subject: 'Hi {{n}}',
      html: '{{#each a}}<i>{{this}}</i>{{/each}}',
    });
    expect(
      compiled.render(
        { n: 'A', a: [1, 2] },
        { deadline: Date.now() + 60_000, maxSteps: 100, maxOutputBytes: 1024 },
      ),
    ).toEqual({ subject: 'Hi A', html: '<i>1</i><i>2</i>', text: '12' });
  });
});
