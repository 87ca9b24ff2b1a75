import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { EmailsModule } from 'src/modules/emails/emails.module';
import { FeedbackReport } from 'src/modules/webhooks/feedback-report.entity';
import { FeedbackReportsController } from 'src/modules/webhooks/feedback-reports.controller';
import { FeedbackReportsService } from 'src/modules/webhooks/feedback-reports.service';
import { WebhookEvent } from 'src/modules/webhooks/webhook-event.entity';
import { WebhookEventRepository } from 'src/modules/webhooks/webhook-event.repository';
import { PostalModule } from 'src/infra/postal/postal.module';
import { WebhookSignatureVerifier } from 'src/modules/webhooks/webhook-signature.verifier';
import { WebhooksController } from 'src/modules/webhooks/webhooks.controller';
import { WebhooksService } from 'src/modules/webhooks/webhooks.service';

/**
 * Postal's inbound traffic (docs/ARCHITECTURE.md "Module map"): verify → store → enqueue →
 * hand over. What an event or a feedback report means is decided by the emails module
 * (src/modules/emails/lifecycle/postal/), never here.
 */
@Module({
  imports: [TypeOrmModule.forFeature([WebhookEvent, FeedbackReport]), EmailsModule, PostalModule],
  controllers: [WebhooksController, FeedbackReportsController],
  providers: [
    WebhooksService,
    WebhookEventRepository,
    FeedbackReportsService,
    WebhookSignatureVerifier,
  ],
  exports: [WebhooksService, FeedbackReportsService],
})
export class WebhooksModule {}
