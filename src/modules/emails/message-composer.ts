import { Injectable } from '@nestjs/common';
import { AttachmentsService } from 'src/modules/emails/attachments/attachments.service';
import { parseMailbox } from 'src/modules/emails/mailbox';
import type { ClaimedMessage } from 'src/modules/emails/lifecycle/delivery-transitions.repository';
import { OutgoingMessage } from 'src/modules/emails/transport/mail-transport';
import { rewriteHtmlForTracking } from 'src/modules/emails/tracking/html-tracking-rewriter';
import { TrackingLinksService } from 'src/modules/emails/tracking/tracking-links.service';
import { TemplatesService } from 'src/modules/templates/templates.service';

/** Thrown when the stored template is gone; the message fails rather than send broken mail. */
export class TemplateUnavailableError extends Error {}

const escapeHtml = (s: string): string =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/**
 * Turns a claimed message into what leaves (docs/ARCHITECTURE.md "Deliver", step 4): rendered
 * template, tracking and unsubscribe injection, and the headers the service owns (X-Email-Id,
 * List-Unsubscribe, List-Unsubscribe-Post).
 */
@Injectable()
export class MessageComposer {
  constructor(
    private readonly templates: TemplatesService,
    private readonly links: TrackingLinksService,
    private readonly attachments: AttachmentsService,
  ) {}

  /**
   * Throws TemplateRenderError / TemplateUnavailableError / TemplateLimitError (over a
   * TEMPLATE_* limit) / AttachmentsUnavailableError for content that must not be sent.
   */
  async compose(m: ClaimedMessage): Promise<OutgoingMessage> {
    if (m.templateId === null) throw new TemplateUnavailableError('the message has no template');
    const template = await this.templates.getForRender(m.templateId);
    if (!template) throw new TemplateUnavailableError(`template ${m.templateId} no longer exists`);
    const { options } = m.details;
    const unsubscribeUrl = options.unsubscribe ? this.links.unsubscribeUrl(m.messageId) : null;
    const vars = {
      ...m.details.variables,
      message_id: m.messageId,
      recipient: m.recipient,
      unsubscribe_url: unsubscribeUrl ?? '',
      campaign_id: m.campaignId,
    };
    const rendered = await this.templates.render(template, vars);
    const subject = m.details.subject_override
      ? (await this.templates.renderInline({ subject: m.details.subject_override }, vars)).subject
      : rendered.subject;

    let html = rendered.html;
    if (html !== null) {
      html = rewriteHtmlForTracking(html, {
        clickUrl: options.track_clicks ? (url) => this.links.clickUrl(m.messageId, url) : undefined,
        pixelUrl: options.track_opens ? this.links.openUrl(m.messageId) : undefined,
        unsubscribeUrl: unsubscribeUrl ?? undefined,
        footerHtml: unsubscribeUrl
          ? `<p style="font-size:12px;color:#6b7280;text-align:center;margin-top:24px">` +
            `<a href="${escapeHtml(unsubscribeUrl)}">Unsubscribe</a></p>`
          : undefined,
      }).html;
    }
    let text = rendered.text;
    if (text !== null && unsubscribeUrl && !text.includes(unsubscribeUrl)) {
      text = `${text.replace(/\s+$/, '')}\n\n--\nUnsubscribe: ${unsubscribeUrl}\n`;
    }

    const headers: Record<string, string> = {
      ...(m.details.headers ?? {}),
      'X-Email-Id': m.messageId,
    };
    if (unsubscribeUrl) {
      headers['List-Unsubscribe'] = `<${unsubscribeUrl}>`;
      headers['List-Unsubscribe-Post'] = 'List-Unsubscribe=One-Click';
    }
    const { to_list: toList, cc_list: ccList } = m.details;
    const toHeader = (list: typeof toList) =>
      list?.map((a) => ({ address: a.email, name: a.name ?? null }));
    const attachments = m.attachmentSet ? await this.attachments.load(m.attachmentSet) : [];
    // One Message-ID per copy: each recipient's copy differs (tracking, unsubscribe), and a
    // complaint or bounce quoting it then names exactly one delivery record.
    const domain = parseMailbox(m.sender)?.address.split('@').pop() ?? 'localhost';
    return {
      messageId: m.messageId,
      from: m.sender,
      to: m.recipient,
      toName: m.details.to_name ?? null,
      ...(toList ? { toHeader: toHeader(toList) } : {}),
      ...(ccList?.length ? { ccHeader: toHeader(ccList) } : {}),
      rfcMessageId: `<${m.messageId}@${domain}>`,
      attachments,
      replyTo: m.details.reply_to ?? null,
      subject,
      html,
      text,
      headers,
      tag: m.tag,
    };
  }
}
