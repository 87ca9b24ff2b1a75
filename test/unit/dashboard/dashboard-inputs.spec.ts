import { noticeText } from 'src/modules/dashboard/dashboard.service';
import { parseFilterTime } from 'src/modules/dashboard/dto/dashboard-logs-query.dto';
import { MAX_PREVIEW_STYLE_HASHES, previewStyles } from 'src/modules/dashboard/email-preview';
import { createHash } from 'node:crypto';

const hash = (text: string): string =>
  `'sha256-${createHash('sha256').update(text).digest('base64')}'`;

describe(parseFilterTime.name, () => {
  it.each([
    ['2026-11-28T06:30', '2026-11-28T06:30:00.000Z'],
    ['2026-11-28T06:30:15', '2026-11-28T06:30:15.000Z'],
    ['2026-11-28', '2026-11-28T00:00:00.000Z'],
    ['2026-11-28T06:30:00Z', '2026-11-28T06:30:00.000Z'],
    ['2026-11-28T06:30:00+01:00', '2026-11-28T05:30:00.000Z'],
    ['2026-11-28T06:30:00-0230', '2026-11-28T09:00:00.000Z'],
    ['2026-11-28T06:30:00.5Z', '2026-11-28T06:30:00.500Z'],
  ])('%s (zone-less = UTC) → %s', (input, iso) => {
    expect(parseFilterTime(input)?.toISOString()).toBe(iso);
  });

  it.each([
    'yesterday',
    '2026-02-30',
    '2026-11-28T24:00',
    '2026-11-28T06:61',
    '2026-13-01',
    '28/11/2026',
    '',
  ])('rejects %p', (input) => expect(parseFilterTime(input)).toBeNull());
});

describe(previewStyles.name, () => {
  it('hashes each <style> text and style attribute once, as the browser parses them', () => {
    const html =
      '<style>p{color:red}</style><p style="color: blue">a</p><p style="color: blue">b</p>' +
      '<svg><style>.x{fill:red}</style></svg><div style="a&amp;b">c</div><script>x()</script>';
    expect(previewStyles(html)).toEqual({
      hashes: expect.arrayContaining([
        hash('p{color:red}'),
        hash('color: blue'),
        hash('.x{fill:red}'),
        hash('a&b'),
      ]),
      truncated: false,
    });
    expect(previewStyles(html).hashes).toHaveLength(4);
  });

  it('stops at the limit and says so', () => {
    const many = Array.from(
      { length: MAX_PREVIEW_STYLE_HASHES + 5 },
      (_, i) => `<i style="order:${i}">x</i>`,
    ).join('');
    const r = previewStyles(many);
    expect(r.hashes).toHaveLength(MAX_PREVIEW_STYLE_HASHES);
    expect(r.truncated).toBe(true);
  });

  it('survives deeply nested markup', () => {
    const deep = '<div>'.repeat(20_000) + '<b style="x:y">' + '</div>'.repeat(20_000);
    expect(previewStyles(deep).hashes).toEqual([hash('x:y')]);
  });

  it('has nothing to allow in a plain email', () => {
    expect(previewStyles('<p>Hello</p>')).toEqual({ hashes: [], truncated: false });
  });
});

describe(noticeText.name, () => {
  it('only shows notices the dashboard issues, about ids and domains', () => {
    expect(noticeText('acknowledged', '12')).toBe('Report #12 acknowledged.');
    expect(noticeText('paused', 'gmail.com')).toBe('Sending to gmail.com is paused.');
    expect(noticeText('paused-all', undefined)).toBe('All sending is paused.');
    expect(noticeText('paused', 'Click <here>')).toBeNull();
    expect(noticeText('toString', '1')).toBeNull();
    expect(noticeText(['paused'], 'gmail.com')).toBeNull();
    expect(noticeText(undefined, undefined)).toBeNull();
  });
});
