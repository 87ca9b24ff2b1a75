import { Injectable } from '@nestjs/common';

/**
 * The time business rules read (retry schedules, secret overlaps, "failing for three days"),
 * injectable so tests move it instead of waiting. Wire timestamps and timeouts use real time.
 */
@Injectable()
export class Clock {
  now(): Date {
    return new Date();
  }
}
