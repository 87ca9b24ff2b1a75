import { perSlot } from 'src/modules/event-webhooks/webhook-delivery.service';

const took = (...ms: number[]) => ms.map((durationMs) => ({ durationMs }));

/** docs/ARCHITECTURE.md "Event webhooks": a healthy endpoint's chunk is about 2 s of work. */
describe('perSlot (the chunk size of a healthy endpoint)', () => {
  it('fills about two seconds per slot at the last chunk’s mean request time', () => {
    expect(perSlot(took(100, 100))).toBe(20);
    expect(perSlot(took(150, 250))).toBe(10);
    expect(perSlot(took(400))).toBe(5);
  });

  it('caps a fast endpoint at 50 per slot', () => {
    expect(perSlot(took(1, 2, 3))).toBe(50);
    expect(perSlot(took(0, 0))).toBe(50);
  });

  it('keeps at least 2 per slot for a slow endpoint, so the drain stays pipelined', () => {
    expect(perSlot(took(1500))).toBe(2);
    expect(perSlot(took(9000, 9999))).toBe(2);
  });
});
