import {
  detectAnomalies,
  detectStreamAnomalies,
  HourCounts,
  recommendationsFor,
} from 'src/modules/diagnostics/anomaly-rules';

const hour = (over: Partial<HourCounts>): HourCounts => ({
  domain: null,
  sent: 1000,
  delivered: 1000,
  bounced_hard: 0,
  bounced_soft: 0,
  complained: 0,
  ...over,
});

describe(detectAnomalies.name, () => {
  it('finds nothing in a healthy hour', () => {
    expect(detectAnomalies(hour({}), 100)).toEqual([]);
  });

  it('finds nothing below the minimum volume, however bad the rates', () => {
    expect(
      detectAnomalies(hour({ sent: 99, delivered: 10, bounced_hard: 80, complained: 9 }), 100),
    ).toEqual([]);
  });

  it.each([
    [49, null],
    [50, 'warning'],
    [99, 'warning'],
    [100, 'critical'],
  ])('bounce rate: %i hard bounces of 1000 → %s', (bounces, severity) => {
    const found = detectAnomalies(
      hour({ bounced_hard: bounces, delivered: 1000 - bounces }),
      100,
    ).filter((a) => a.type === 'bounce_rate');
    expect(found.map((a) => a.severity)).toEqual(severity ? [severity] : []);
  });

  it.each([
    [0, null],
    [1, 'warning'], // 0.05 % of 2000
    [2, 'critical'], // 0.1 %
  ])('complaint rate: %i complaints of 2000 → %s', (complaints, severity) => {
    const found = detectAnomalies(
      hour({ sent: 2000, delivered: 2000, complained: complaints }),
      100,
    ).filter((a) => a.type === 'complaint_rate');
    expect(found.map((a) => a.severity)).toEqual(severity ? [severity] : []);
  });

  it('soft-bounce rate: 3 % warning, 7 % critical', () => {
    const at = (soft: number) =>
      detectAnomalies(hour({ bounced_soft: soft, delivered: 1000 - soft }), 100)
        .filter((a) => a.type === 'soft_bounce_rate')
        .map((a) => a.severity);
    expect(at(29)).toEqual([]);
    expect(at(30)).toEqual(['warning']);
    expect(at(70)).toEqual(['critical']);
  });

  it('delivery rate counts only known outcomes: webhook lag is not an anomaly', () => {
    // 1000 sent, only 300 outcomes known yet, all delivered: healthy.
    expect(detectAnomalies(hour({ delivered: 300 }), 100)).toEqual([]);
    // 1000 sent, 200 outcomes known, 180 delivered → 90 %: warning, not critical (below 90 is critical).
    const found = detectAnomalies(hour({ delivered: 180, bounced_hard: 20 }), 100).filter(
      (a) => a.type === 'delivery_rate',
    );
    expect(found).toEqual([
      expect.objectContaining({ severity: 'warning', value: 90, threshold: 95 }),
    ]);
    const worse = detectAnomalies(hour({ delivered: 170, bounced_hard: 30 }), 100).filter(
      (a) => a.type === 'delivery_rate',
    );
    expect(worse[0].severity).toBe('critical');
  });

  it('needs enough known outcomes before judging the delivery rate', () => {
    expect(
      detectAnomalies(hour({ delivered: 40, bounced_hard: 10 }), 100).filter(
        (a) => a.type === 'delivery_rate',
      ),
    ).toEqual([]);
  });

  it('names the domain in a domain-level anomaly', () => {
    const [a] = detectAnomalies(
      hour({ domain: 'gmail.com', bounced_hard: 120, delivered: 880 }),
      100,
    );
    expect(a).toEqual(
      expect.objectContaining({ type: 'bounce_rate', domain: 'gmail.com', severity: 'critical' }),
    );
    expect(a.message).toContain('gmail.com');
  });
});

describe(detectStreamAnomalies.name, () => {
  const brief = (found: ReturnType<typeof detectStreamAnomalies>) =>
    found.map((a) => [a.type, a.severity, a.stream]);

  it('finds a broadcast spike diluted by transactional volume and names its stream', () => {
    // 100 broadcast hard bounces of 1,000 (10 %) inside 10,000 messages (1 %, healthy).
    const overall = hour({ sent: 10_000, delivered: 9_900, bounced_hard: 100 });
    expect(detectAnomalies(overall, 100)).toEqual([]);
    const found = detectStreamAnomalies(
      [overall],
      [
        hour({ stream: 'broadcast', delivered: 900, bounced_hard: 100 }),
        hour({ stream: 'transactional', sent: 9_000, delivered: 9_000 }),
      ],
      100,
    );
    expect(brief(found)).toEqual([
      ['bounce_rate', 'critical', 'broadcast'],
      ['delivery_rate', 'warning', 'broadcast'],
    ]);
    expect(found[0]).toEqual(
      expect.objectContaining({
        domain: null,
        message: 'Bounce rate for the broadcast stream is 10 % (critical at 10 %)',
      }),
    );
  });

  it('finds a transactional problem hidden by broadcast volume', () => {
    const found = detectStreamAnomalies(
      [hour({ sent: 11_000, delivered: 10_940, bounced_soft: 60 })],
      [
        hour({ stream: 'transactional', sent: 1_000, delivered: 940, bounced_soft: 60 }),
        hour({ stream: 'broadcast', sent: 10_000, delivered: 10_000 }),
      ],
      100,
    );
    expect(brief(found)).toEqual([
      ['bounce_rate', 'warning', 'transactional'],
      ['delivery_rate', 'warning', 'transactional'],
      ['soft_bounce_rate', 'warning', 'transactional'],
    ]);
  });

  it('does not report a stream again when all streams already show it as badly', () => {
    const bad = hour({ delivered: 880, bounced_hard: 120 });
    const found = detectStreamAnomalies(
      [bad],
      [{ ...bad, stream: 'broadcast' }, hour({ stream: 'transactional', sent: 0, delivered: 0 })],
      100,
    );
    expect(brief(found)).toEqual([
      ['bounce_rate', 'critical', null],
      ['delivery_rate', 'critical', null],
    ]);
  });

  it('reports a stream that is worse than all streams together', () => {
    const found = detectStreamAnomalies(
      [hour({ sent: 2_000, delivered: 1_880, bounced_hard: 120 })], // 6 %: warning
      [hour({ stream: 'broadcast', delivered: 880, bounced_hard: 120 })], // 12 %: critical
      100,
    );
    expect(brief(found)).toEqual([
      ['bounce_rate', 'warning', null],
      ['delivery_rate', 'warning', null],
      ['bounce_rate', 'critical', 'broadcast'],
      ['delivery_rate', 'critical', 'broadcast'],
    ]);
  });
});

describe(recommendationsFor.name, () => {
  it('gives each anomaly type its advice once', () => {
    const a = detectAnomalies(hour({ bounced_soft: 120, delivered: 880 }), 100);
    const recs = recommendationsFor([...a, ...a]);
    expect(recs.length).toBeGreaterThan(0);
    expect(new Set(recs).size).toBe(recs.length);
    expect(recommendationsFor([])).toEqual([]);
  });
});
