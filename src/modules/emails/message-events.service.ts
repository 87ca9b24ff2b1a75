import { Injectable } from '@nestjs/common';
import {
  type AcceptRejected,
  type MessageTransitioned,
  type RejectionConsumer,
  type TransitionConsumer,
  TransitionPublisher,
} from 'src/modules/emails/lifecycle/transition-publisher';

export type { AcceptRejected, MessageTransitioned };

/**
 * What other modules may know of the message lifecycle's events (docs/ARCHITECTURE.md
 * "Transition events"): a consumer group of the transition publisher, with its own cursor,
 * receiving every published transition and event (and, if asked, every recipient refused at
 * accept as suppressed), at least once and a page at a time.
 */
@Injectable()
export class MessageEventsService {
  constructor(private readonly publisher: TransitionPublisher) {}

  subscribe(
    group: string,
    name: string,
    handlers: { transitions: TransitionConsumer; rejections?: RejectionConsumer },
  ): void {
    this.publisher.subscribe(name, handlers.transitions, { group });
    if (handlers.rejections)
      this.publisher.subscribeRejections(name, handlers.rejections, { group });
  }

  /** Publishes everything committed so far (tests, the CLI); workers poll by themselves. */
  drain(): Promise<number> {
    return this.publisher.drain();
  }
}
