import { previewHtml, previewStyles } from 'src/modules/dashboard/email-preview';

/**
 * Chromium's preload scanner starts (and reports) requests for image URLs in a sandboxed
 * `srcdoc` frame before the inherited Content-Security-Policy refuses them, a few times in ten
 * — the cause of the browser test that once saw the preview's remote image and tracking pixel
 * requested. The preview HTML must therefore hold no URL that a browser fetches by itself.
 */
describe('previewHtml', () => {
  const remote = (html: string): string[] =>
    html.match(/(?:https?:)?\/\/[^\s"'<>)]+/g)?.filter((u) => !u.includes('w3.org')) ?? [];

  it('removes every URL a browser would fetch without a click', () => {
    const html = `<!doctype html><html><head>
      <link rel="stylesheet" href="https://evil.example/a.css">
      <link rel="preconnect" href="https://evil.example">
      <base href="https://evil.example/">
      <meta http-equiv="refresh" content="0;url=https://evil.example/r">
      <style>@import url("https://evil.example/b.css"); @import 'https://evil.example/c.css';
        .x { background: url(https://evil.example/bg.png) no-repeat; color: red }</style>
      </head><body background="https://evil.example/body.png">
      <img src="https://evil.example/pixel.gif" srcset="https://evil.example/2x.gif 2x" alt="a">
      <img src="http://localhost:3000/t/o/token" alt="">
      <IMG SRC = "//evil.example/proto-relative.gif">
      <picture><source srcset="https://evil.example/s.webp"><img src="https://evil.example/p.jpg"></picture>
      <video poster="https://evil.example/poster.jpg" src="https://evil.example/v.mp4"></video>
      <object data="https://evil.example/o.swf"></object><embed src="https://evil.example/e.swf">
      <iframe src="https://evil.example/frame"></iframe>
      <svg><image href="https://evil.example/svg.png"/><image xlink:href="https://evil.example/x.png"/></svg>
      <table background="https://evil.example/t.png"><tr><td style="background-image:url('https://evil.example/td.png')">x</td></tr></table>
      <form action="https://evil.example/f"><button formaction="https://evil.example/g">go</button></form>
      <a href="https://shop.example/sale" ping="https://evil.example/ping">Shop now</a>
      </body></html>`;

    const out = previewHtml(html);

    // Only the link target remains: a click in the sandboxed frame goes nowhere.
    expect(remote(out)).toEqual(['https://shop.example/sale']);
    expect(out).toContain('alt="a"');
    expect(out).toContain('color: red');
    expect(out).toContain('>Shop now</a>');
  });

  it('keeps inline data and the message’s own parts', () => {
    const out = previewHtml(
      '<img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=" alt="d"><img src="cid:logo@x" alt="c">' +
        '<p style="background:url(data:image/png;base64,AAAA)">x</p>',
    );
    expect(out).toContain('src="data:image/gif;base64,R0lGODlhAQABAAAAACw="');
    expect(out).toContain('src="cid:logo@x"');
    expect(out).toContain('url(data:image/png;base64,AAAA)');
  });

  it('keeps the email’s own styles hashable after the rewrite', () => {
    const out = previewHtml(
      '<style>.h{color:#00aa77}</style><p style="color: rgb(120, 30, 200)">x</p>',
    );
    expect(previewStyles(out).hashes).toEqual(
      previewStyles('<style>.h{color:#00aa77}</style><p style="color: rgb(120, 30, 200)">x</p>')
        .hashes,
    );
  });

  it('handles deeply nested markup without overflowing the stack', () => {
    const deep = '<div>'.repeat(8_000) + '<img src="https://evil.example/deep.gif">';
    expect(remote(previewHtml(deep))).toEqual([]);
  });
});
