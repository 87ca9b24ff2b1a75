import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { PostalEventIngress } from 'src/common/ports/postal-event-ingress';
import { AppConfig } from 'src/config/app-config';
import { PostalClient } from 'src/infra/postal/postal.client';
import { PostalModule } from 'src/infra/postal/postal.module';
import { BlacklistModule } from 'src/modules/blacklist/blacklist.module';
import { AcceptRejection } from 'src/modules/emails/accept-rejection.entity';
import { Batch } from 'src/modules/emails/batch.entity';
import { BatchRepository } from 'src/modules/emails/batch.repository';
import { DeliveryAlertsService } from 'src/modules/emails/delivery-alerts.service';
import { CancelService } from 'src/modules/emails/cancel.service';
import { DeliveryService } from 'src/modules/emails/delivery.service';
import { EmailDeliveryProducer } from 'src/modules/emails/email-delivery.producer';
import { EmailEvent } from 'src/modules/emails/email-event.entity';
import { EmailLog } from 'src/modules/emails/email-log.entity';
import { DeliveryTransitionsRepository } from 'src/modules/emails/lifecycle/delivery-transitions.repository';
import { TransitionMetricsConsumer } from 'src/modules/emails/lifecycle/transition-metrics.consumer';
import { TransitionPublisher } from 'src/modules/emails/lifecycle/transition-publisher';
import { TransitionsRepository } from 'src/modules/emails/lifecycle/transitions.repository';
import { MessageReadsRepository } from 'src/modules/emails/message-reads.repository';
import { MessageWritesRepository } from 'src/modules/emails/message-writes.repository';
import { MessageEventsService } from 'src/modules/emails/message-events.service';
import { EmailsController } from 'src/modules/emails/emails.controller';
import { EmailsService } from 'src/modules/emails/emails.service';
import { IdempotencyKey } from 'src/modules/emails/idempotency-key.entity';
import { IdempotencyService } from 'src/modules/emails/idempotency.service';
import { MessageComposer } from 'src/modules/emails/message-composer';
import { AttachmentsRepository } from 'src/modules/emails/attachments/attachments.repository';
import { AttachmentsService } from 'src/modules/emails/attachments/attachments.service';
import { OutboxService } from 'src/modules/emails/outbox.service';
import { EmailStateService } from 'src/modules/emails/email-state.service';
import { RetryService } from 'src/modules/emails/retry.service';
import { ComplaintsService } from 'src/modules/emails/lifecycle/postal/complaints.service';
import { PostalEventsService } from 'src/modules/emails/lifecycle/postal/postal-events.service';
import { DiagnosticsModule } from 'src/modules/diagnostics/diagnostics.module';
import { DomainsModule } from 'src/modules/domains/domains.module';
import { MessageDefaultsService } from 'src/modules/emails/message-defaults.service';
import { NotificationsModule } from 'src/modules/notifications/notifications.module';
import { TrackingController } from 'src/modules/emails/tracking.controller';
import { TrackingService } from 'src/modules/emails/tracking.service';
import { TrackingLinksService } from 'src/modules/emails/tracking/tracking-links.service';
import { MailTransport } from 'src/modules/emails/transport/mail-transport';
import { PostalTransport } from 'src/modules/emails/transport/postal.transport';
import { SandboxTransport } from 'src/modules/emails/transport/sandbox.transport';
import { RateControlModule } from 'src/modules/rate-control/rate-control.module';
import { TemplatesModule } from 'src/modules/templates/templates.module';

@Module({
  imports: [
    TypeOrmModule.forFeature([EmailLog, EmailEvent, Batch, IdempotencyKey, AcceptRejection]),
    TemplatesModule,
    BlacklistModule,
    RateControlModule,
    DiagnosticsModule,
    NotificationsModule,
    PostalModule,
    DomainsModule,
  ],
  controllers: [EmailsController, TrackingController],
  providers: [
    EmailsService,
    MessageDefaultsService,
    CancelService,
    MessageReadsRepository,
    MessageWritesRepository,
    TransitionsRepository,
    DeliveryTransitionsRepository,
    TransitionPublisher,
    TransitionMetricsConsumer,
    MessageEventsService,
    BatchRepository,
    IdempotencyService,
    EmailDeliveryProducer,
    DeliveryService,
    DeliveryAlertsService,
    MessageComposer,
    AttachmentsRepository,
    AttachmentsService,
    TrackingLinksService,
    TrackingService,
    OutboxService,
    EmailStateService,
    RetryService,
    PostalEventsService,
    ComplaintsService,
    {
      // One transport per process (docs/ARCHITECTURE.md "Transports"). The sandbox reports
      // through the PostalEventIngress port, bound by the webhooks module (absent in the CLI).
      provide: MailTransport,
      inject: [
        AppConfig,
        PostalClient,
        EmailStateService,
        { token: PostalEventIngress, optional: true },
      ],
      useFactory: (
        config: AppConfig,
        postal: PostalClient,
        state: EmailStateService,
        ingress?: PostalEventIngress,
      ): MailTransport =>
        config.mailTransport === 'postal'
          ? new PostalTransport(postal)
          : new SandboxTransport(ingress ?? null, state),
    },
  ],
  exports: [
    EmailsService,
    AttachmentsService,
    DeliveryService,
    OutboxService,
    EmailStateService,
    RetryService,
    PostalEventsService,
    ComplaintsService,
    MessageEventsService,
  ],
})
export class EmailsModule {}
