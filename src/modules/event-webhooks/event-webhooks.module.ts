import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { Clock } from 'src/infra/clock/clock';
import { EmailsModule } from 'src/modules/emails/emails.module';
import { EventFanoutService } from 'src/modules/event-webhooks/event-fanout.service';
import { EventWebhooksController } from 'src/modules/event-webhooks/event-webhooks.controller';
import { EventWebhooksProducer } from 'src/modules/event-webhooks/event-webhooks.producer';
import { EventWebhooksService } from 'src/modules/event-webhooks/event-webhooks.service';
import { OutboundDeliveriesRepository } from 'src/modules/event-webhooks/outbound-deliveries.repository';
import { OutboundDeliveryAttempt } from 'src/modules/event-webhooks/outbound-delivery-attempt.entity';
import { OutboundDelivery } from 'src/modules/event-webhooks/outbound-delivery.entity';
import { OutboundEvent } from 'src/modules/event-webhooks/outbound-event.entity';
import { WebhookDeliveryService } from 'src/modules/event-webhooks/webhook-delivery.service';
import { WebhookEndpoint } from 'src/modules/event-webhooks/webhook-endpoint.entity';
import { WebhookEndpointsRepository } from 'src/modules/event-webhooks/webhook-endpoints.repository';
import { WebhookHttpClient } from 'src/modules/event-webhooks/webhook-http.client';
import { NotificationsModule } from 'src/modules/notifications/notifications.module';

/**
 * Event webhooks to the customer's app (README "Event webhooks"; docs/ARCHITECTURE.md "Event
 * webhooks"): the endpoints API, the fan-out (a consumer group of the emails module's
 * transition publisher) and the senders.
 */
@Module({
  imports: [
    TypeOrmModule.forFeature([
      WebhookEndpoint,
      OutboundEvent,
      OutboundDelivery,
      OutboundDeliveryAttempt,
    ]),
    EmailsModule,
    NotificationsModule,
  ],
  controllers: [EventWebhooksController],
  providers: [
    Clock,
    WebhookEndpointsRepository,
    OutboundDeliveriesRepository,
    EventWebhooksProducer,
    EventWebhooksService,
    EventFanoutService,
    WebhookDeliveryService,
    WebhookHttpClient,
  ],
  exports: [EventWebhooksService, WebhookDeliveryService, EventFanoutService],
})
export class EventWebhooksModule {}
