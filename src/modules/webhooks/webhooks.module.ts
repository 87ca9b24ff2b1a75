import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { PostalClient } from 'src/infra/postal/postal.client';
import { BlacklistModule } from 'src/modules/blacklist/blacklist.module';
import { DiagnosticsModule } from 'src/modules/diagnostics/diagnostics.module';
import { EmailsModule } from 'src/modules/emails/emails.module';
import { RateControlModule } from 'src/modules/rate-control/rate-control.module';
import { ComplaintsService } from 'src/modules/webhooks/complaints.service';
import { FeedbackReport } from 'src/modules/webhooks/feedback-report.entity';
import { FeedbackReportsController } from 'src/modules/webhooks/feedback-reports.controller';
import { FeedbackReportsService } from 'src/modules/webhooks/feedback-reports.service';
import { PostalEventsService } from 'src/modules/webhooks/postal-events.service';
import { SandboxSimulatorService } from 'src/modules/webhooks/sandbox-simulator.service';
import { WebhookEvent } from 'src/modules/webhooks/webhook-event.entity';
import { WebhookEventRepository } from 'src/modules/webhooks/webhook-event.repository';
import { PostalJwksClient } from 'src/modules/webhooks/postal-jwks.client';
import { WebhookSignatureVerifier } from 'src/modules/webhooks/webhook-signature.verifier';
import { WebhooksController } from 'src/modules/webhooks/webhooks.controller';
import { WebhooksService } from 'src/modules/webhooks/webhooks.service';

@Module({
  imports: [
    TypeOrmModule.forFeature([WebhookEvent, FeedbackReport]),
    EmailsModule,
    BlacklistModule,
    RateControlModule,
    DiagnosticsModule,
  ],
  controllers: [WebhooksController, FeedbackReportsController],
  providers: [
    WebhooksService,
    WebhookEventRepository,
    PostalEventsService,
    SandboxSimulatorService,
    ComplaintsService,
    FeedbackReportsService,
    WebhookSignatureVerifier,
    PostalJwksClient,
    PostalClient,
  ],
  exports: [WebhooksService, SandboxSimulatorService, FeedbackReportsService],
})
export class WebhooksModule {}
