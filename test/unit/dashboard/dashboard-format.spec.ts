import {
  EVENT_TYPES,
  MESSAGE_STATUSES,
  formatPercent,
  formatTime,
  ruleValue,
  standing,
  stateClass,
} from 'src/modules/dashboard/dashboard-format';
import { EMAIL_EVENT_TYPES } from 'src/modules/emails/email-event.entity';
import { EMAIL_STATUSES } from 'src/modules/emails/email-log.entity';

describe(standing.name, () => {
  it.each([
    ['bounce_rate', 4.99, 'ok'],
    ['bounce_rate', 5, 'warning'],
    ['bounce_rate', 9.99, 'warning'],
    ['bounce_rate', 10, 'critical'],
    ['complaint_rate', 0.049, 'ok'],
    ['complaint_rate', 0.05, 'warning'],
    ['complaint_rate', 0.1, 'critical'],
    ['delivery_rate', 95, 'ok'],
    ['delivery_rate', 94.99, 'warning'],
    ['delivery_rate', 90, 'warning'],
    ['delivery_rate', 89.99, 'critical'],
  ] as const)('%s at %d → %s (the anomaly detector’s thresholds)', (type, value, level) => {
    expect(standing(type, value).level).toBe(level);
  });

  it('is neutral without a value and names the thresholds', () => {
    expect(standing('delivery_rate', null)).toEqual({
      level: 'neutral',
      thresholds: 'warning < 95 % · critical < 90 %',
    });
    expect(standing('bounce_rate', 1).thresholds).toBe('warning ≥ 5 % · critical ≥ 10 %');
  });
});

describe(ruleValue.name, () => {
  const counts = {
    domain: null,
    sent: 200,
    delivered: 90,
    bounced_hard: 5,
    bounced_soft: 5,
    complained: 1,
  };
  it('uses the rule’s own formula: delivery over known outcomes only', () => {
    expect(ruleValue('delivery_rate', counts)).toBe(90);
    expect(ruleValue('bounce_rate', counts)).toBe(5);
    expect(ruleValue('complaint_rate', counts)).toBe(0.5);
    expect(ruleValue('bounce_rate', { ...counts, sent: 0 })).toBeNull();
  });
});

describe(stateClass.name, () => {
  it('has a colour for every message status and event type, and only those', () => {
    expect([...MESSAGE_STATUSES].sort()).toEqual([...EMAIL_STATUSES].sort());
    expect([...EVENT_TYPES].sort()).toEqual([...EMAIL_EVENT_TYPES].sort());
    expect(stateClass('retry_scheduled')).toBe('st-retry-scheduled');
    expect(stateClass('"><script>')).toBe('st-other');
  });
});

describe('formatting', () => {
  it('prints times in UTC and rates with fixed decimals', () => {
    expect(formatTime('2026-11-28T06:05:09.123Z')).toBe('2026-11-28 06:05:09');
    expect(formatTime(null)).toBe('—');
    expect(formatTime('nonsense')).toBe('—');
    expect(formatPercent(5)).toBe('5.00 %');
    expect(formatPercent(0.0526, 3)).toBe('0.053 %');
  });
});
