import { Injectable } from '@nestjs/common';
import { MetricsService } from 'src/infra/metrics/metrics.service';
import { TransitionPublisher } from 'src/modules/emails/lifecycle/transition-publisher';

/**
 * The first consumer of MessageTransitioned: `email_transitions_total{from,to,cause}` on
 * /metrics. At-least-once delivery may count a transition twice after a crash mid-page.
 * Events that change no status (opens, clicks, …) are not transitions and are not counted.
 */
@Injectable()
export class TransitionMetricsConsumer {
  constructor(publisher: TransitionPublisher, metrics: MetricsService) {
    const counter = metrics.counter(
      'email_transitions_total',
      'Message status transitions published, by previous status, new status and cause',
      ['from', 'to', 'cause'],
    );
    publisher.subscribe('metrics', (events) => {
      for (const e of events) {
        if (!e.statusChanged) continue;
        counter.inc({ from: e.from ?? 'none', to: e.to, cause: e.cause });
      }
    });
  }
}
