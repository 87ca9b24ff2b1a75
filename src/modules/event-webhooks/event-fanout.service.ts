import { Injectable } from '@nestjs/common';
import { Clock } from 'src/infra/clock/clock';
import { MessageEventsService } from 'src/modules/emails/message-events.service';
import {
  eventOfRejection,
  eventOfTransition,
  type OutboundEventInput,
} from 'src/modules/event-webhooks/event-types';
import { EventWebhooksProducer } from 'src/modules/event-webhooks/event-webhooks.producer';
import { OutboundDeliveriesRepository } from 'src/modules/event-webhooks/outbound-deliveries.repository';

/** The consumer group of the transition publisher that feeds event webhooks. */
export const EVENT_WEBHOOKS_GROUP = 'event-webhooks';

/**
 * Turns published transitions and accept rejections into event webhooks (docs/ARCHITECTURE.md
 * "Event webhooks"): for each page, one statement stores the customer-facing events and a
 * `pending` delivery per matching endpoint, then one drain job per endpoint touched is queued.
 * The group's cursor moves only after that statement committed, so nothing is lost; a page
 * that comes again stores nothing twice (`source_key`), and a job Redis lost is re-created by
 * the sweep.
 */
@Injectable()
export class EventFanoutService {
  constructor(
    events: MessageEventsService,
    private readonly deliveries: OutboundDeliveriesRepository,
    private readonly producer: EventWebhooksProducer,
    private readonly clock: Clock,
  ) {
    events.subscribe(EVENT_WEBHOOKS_GROUP, 'fan-out', {
      transitions: (page) =>
        this.fanOut(page.map(eventOfTransition).filter((e): e is OutboundEventInput => !!e)),
      rejections: (page) => this.fanOut(page.map(eventOfRejection)),
    });
  }

  async fanOut(events: OutboundEventInput[]): Promise<void> {
    if (events.length === 0) return;
    const touched = await this.deliveries.storeAndFanOut(events, this.clock.now());
    await this.producer.enqueueDrains(
      touched.map((t) => ({ endpointId: t.endpointId, key: `f${t.firstId}` })),
    );
  }
}
