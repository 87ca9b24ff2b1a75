import { quoteAttributeMustaches } from 'src/modules/templates/quote-attribute-mustaches';
import { TemplateRenderer } from 'src/modules/templates/template-renderer';

describe('quoteAttributeMustaches', () => {
  it.each([
    ['<img alt={{name}}>', '<img alt="{{name}}">'],
    ['<img alt = {{name}} src=x.png>', '<img alt = "{{name}}" src=x.png>'],
    ['<td class=c-{{k}}-x width=1>', '<td class="c-{{k}}-x" width=1>'],
    ['<a title={{t "a b"}}>', '<a title="{{t "a b"}}">'],
    ['<div class={{#if a}}x{{else}}y{{/if}}>', '<div class="{{#if a}}x{{else}}y{{/if}}">'],
    ['<p title={{{raw}}}>', '<p title="{{{raw}}}">'],
  ])('quotes %s', (source, expected) => {
    expect(quoteAttributeMustaches(source)).toBe(expected);
  });

  it.each([
    '<img alt="{{name}}">',
    '<img alt=\'{{name}}\' title="x>{{y}}">',
    '<p>a={{x}}</p>',
    '<!-- <img alt={{x}}> -->',
    '<p {{#if a}}hidden{{/if}}>',
    '<img src=https://a.example/x.png>',
    'no markup {{x}}',
  ])('leaves %s as it is', (source) => {
    expect(quoteAttributeMustaches(source)).toBe(source);
  });

  it('keeps an unquoted value from adding attributes when rendered', () => {
    const html = new TemplateRenderer()
      .compile({ subject: 's', html: '<img alt={{name}} src="a.png">' })
      .render({ name: 'x onerror=alert(1)' }).html;
    expect(html).toBe('<img alt="x onerror&#x3D;alert(1)" src="a.png">');
  });
});
