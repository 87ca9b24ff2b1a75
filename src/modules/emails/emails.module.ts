import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AppConfig } from 'src/config/app-config';
import { PostalClient } from 'src/infra/postal/postal.client';
import { BlacklistModule } from 'src/modules/blacklist/blacklist.module';
import { Batch } from 'src/modules/emails/batch.entity';
import { BatchRepository } from 'src/modules/emails/batch.repository';
import { DeliveryAlertsService } from 'src/modules/emails/delivery-alerts.service';
import { DeliveryService } from 'src/modules/emails/delivery.service';
import { EmailDeliveryProducer } from 'src/modules/emails/email-delivery.producer';
import { EmailEvent } from 'src/modules/emails/email-event.entity';
import { EmailLog } from 'src/modules/emails/email-log.entity';
import { EmailLogRepository } from 'src/modules/emails/email-log.repository';
import { EmailsController } from 'src/modules/emails/emails.controller';
import { EmailsService } from 'src/modules/emails/emails.service';
import { IdempotencyKey } from 'src/modules/emails/idempotency-key.entity';
import { IdempotencyService } from 'src/modules/emails/idempotency.service';
import { MessageComposer } from 'src/modules/emails/message-composer';
import { OutboxService } from 'src/modules/emails/outbox.service';
import { EmailStateService } from 'src/modules/emails/email-state.service';
import { RetryService } from 'src/modules/emails/retry.service';
import { DiagnosticsModule } from 'src/modules/diagnostics/diagnostics.module';
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
    TypeOrmModule.forFeature([EmailLog, EmailEvent, Batch, IdempotencyKey]),
    TemplatesModule,
    BlacklistModule,
    RateControlModule,
    DiagnosticsModule,
    NotificationsModule,
  ],
  controllers: [EmailsController, TrackingController],
  providers: [
    EmailsService,
    EmailLogRepository,
    BatchRepository,
    IdempotencyService,
    EmailDeliveryProducer,
    DeliveryService,
    DeliveryAlertsService,
    MessageComposer,
    TrackingLinksService,
    TrackingService,
    OutboxService,
    EmailStateService,
    RetryService,
    PostalClient,
    {
      provide: MailTransport,
      inject: [AppConfig, PostalClient],
      useFactory: (config: AppConfig, postal: PostalClient): MailTransport =>
        config.mailTransport === 'postal' ? new PostalTransport(postal) : new SandboxTransport(),
    },
  ],
  exports: [EmailsService, DeliveryService, OutboxService, EmailStateService, RetryService],
})
export class EmailsModule {}
