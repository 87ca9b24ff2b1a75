import {
  hourlyRates,
  MAX_COMPLAINT_RATE,
  percent,
  zeroCounts,
} from 'src/modules/analytics/hourly-counts';

describe('hourly counts', () => {
  describe(percent.name, () => {
    it('is 100 × part / whole rounded to the given decimals', () => {
      expect(percent(1, 3, 2)).toBe(33.33);
      expect(percent(2, 3, 2)).toBe(66.67);
      expect(percent(1, 78, 4)).toBe(1.2821);
    });

    it('is 0 when the whole is 0', () => {
      expect(percent(5, 0, 2)).toBe(0);
      expect(percent(0, 0, 2)).toBe(0);
    });

    it('is capped at 100 when the part exceeds the whole', () => {
      expect(percent(11, 10, 2)).toBe(100);
    });

    it('is capped at the given maximum', () => {
      expect(percent(1, 2, 4, 9.9999)).toBe(9.9999);
    });
  });

  describe(hourlyRates.name, () => {
    it('derives the three rates over sent, hard and soft bounces together', () => {
      expect(
        hourlyRates({
          ...zeroCounts(),
          sent: 200,
          delivered: 190,
          bouncedHard: 3,
          bouncedSoft: 5,
          complained: 1,
          opened: 80,
        }),
      ).toEqual({ deliveryRate: 95, bounceRate: 4, complaintRate: 0.5 });
    });

    it('clamps the complaint rate to what numeric(5,4) holds', () => {
      const rates = hourlyRates({ ...zeroCounts(), sent: 3, complained: 1 });

      expect(rates.complaintRate).toBe(MAX_COMPLAINT_RATE);
      expect(MAX_COMPLAINT_RATE).toBe(9.9999);
    });

    it('answers zeros for an hour that sent nothing', () => {
      expect(hourlyRates({ ...zeroCounts(), delivered: 4, complained: 1 })).toEqual({
        deliveryRate: 0,
        bounceRate: 0,
        complaintRate: 0,
      });
    });
  });
});
