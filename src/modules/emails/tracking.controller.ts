import { Body, Controller, Get, Header, HttpCode, Param, Post, Req, Res } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { Public, SkipIpLimit } from 'src/common/decorators/route-policy.decorators';
import { ValidationFailedError } from 'src/common/errors/app-error';
import { TrackingService } from 'src/modules/emails/tracking.service';

/** A 43-byte transparent 1×1 GIF. */
export const PIXEL_GIF = Buffer.from(
  'R0lGODlhAQABAIAAAP///wAAACH5BAEAAAAALAAAAAABAAEAAAICRAEAOw==',
  'base64',
);

const clientInfo = (req: Request): Record<string, unknown> => ({
  ip: req.ip,
  user_agent: String(req.headers['user-agent'] ?? '').slice(0, 512),
});

/**
 * Open pixel, click redirect and unsubscribe (README "Unauthenticated"; docs/ARCHITECTURE.md
 * "Tracking and unsubscribe"). No API key; not IP-throttled.
 */
@ApiExcludeController()
@Public()
@SkipIpLimit()
@Controller()
export class TrackingController {
  constructor(private readonly tracking: TrackingService) {}

  @Get('t/o/:token')
  async open(
    @Param('token') token: string,
    @Req() req: Request,
    @Res() res: Response,
  ): Promise<void> {
    // Always the pixel, even for a bad token: a broken image helps nobody.
    await this.tracking.recordOpen(token, clientInfo(req));
    res.writeHead(200, {
      'Content-Type': 'image/gif',
      'Content-Length': PIXEL_GIF.length,
      'Cache-Control': 'no-store, no-cache, must-revalidate, private',
    });
    res.end(PIXEL_GIF);
  }

  @Get('t/c/:token')
  @Header('Cache-Control', 'no-store')
  async click(
    @Param('token') token: string,
    @Req() req: Request,
    @Res() res: Response,
  ): Promise<void> {
    const url = await this.tracking.recordClick(token, clientInfo(req));
    // A tampered or unsigned token never redirects (no open redirect).
    if (!url) throw new ValidationFailedError('This link is invalid or has been tampered with');
    // The URL as the browser would have requested it from the original link. Not
    // res.redirect: its encodeurl pass rewrites a lone `%`, `{`, `}` and '`' in the query.
    res.status(302).setHeader('Location', new URL(url).href);
    res.end();
  }

  @Get('unsubscribe/:token')
  @Header('Cache-Control', 'no-store')
  async unsubscribePage(@Param('token') token: string, @Res() res: Response): Promise<void> {
    const target = await this.tracking.unsubscribeTarget(token);
    res
      .status(target ? 200 : 400)
      .type('html')
      .send(target ? this.tracking.confirmPage(target.email, token) : this.tracking.invalidPage());
  }

  @Post('unsubscribe/:token')
  @HttpCode(200)
  @Header('Cache-Control', 'no-store')
  async unsubscribe(
    @Param('token') token: string,
    @Body() body: Record<string, unknown> | undefined,
    @Req() req: Request,
    @Res() res: Response,
  ): Promise<void> {
    const oneClick = body?.['List-Unsubscribe'] === 'One-Click';
    const target = await this.tracking.unsubscribe(token, {
      ...clientInfo(req),
      one_click: oneClick,
    });
    if (!target) {
      res.status(400).type('html').send(this.tracking.invalidPage());
      return;
    }
    // RFC 8058: the mail client's one-click POST gets an empty 200.
    if (oneClick) res.status(200).end();
    else res.status(200).type('html').send(this.tracking.donePage(target.email));
  }
}
