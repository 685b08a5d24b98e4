import fc from 'fast-check';
import { localDay, localToUtcMs, utcMsToLocal } from '../providers/timezone';

describe('provider-local time ↔ UTC', () => {
  it('converts known instants, across daylight-saving changes', () => {
    expect(localToUtcMs('2026-11-23 21:15:02', 'Europe/Malta')).toBe(Date.parse('2026-11-23T20:15:02Z')); // CET
    expect(localToUtcMs('2026-07-01 12:00:00', 'Europe/Malta')).toBe(Date.parse('2026-07-01T10:00:00Z')); // CEST
    expect(localToUtcMs('2026-11-23 08:00:00', 'Asia/Manila')).toBe(Date.parse('2026-11-23T00:00:00Z'));
    expect(localToUtcMs('2026-11-23 21:00:00', 'America/Sao_Paulo')).toBe(Date.parse('2026-11-24T00:00:00Z'));
    expect(utcMsToLocal(Date.parse('2026-03-29T01:30:00Z'), 'Europe/Malta')).toBe('2026-03-29 03:30:00'); // after the spring-forward gap
    expect(localDay(Date.parse('2026-11-23T23:30:00Z'), 'Europe/Malta')).toBe('2026-11-24');
    // The autumn change repeats 02:00–03:00: the first occurrence (summer time) is chosen.
    expect(localToUtcMs('2023-10-29 02:00:00', 'Europe/Malta')).toBe(Date.parse('2023-10-29T00:00:00Z'));
    // The spring change skips 02:00–03:00: a skipped time maps forward.
    expect(localToUtcMs('2026-03-29 02:30:00', 'Europe/Malta')).toBe(Date.parse('2026-03-29T01:30:00Z'));
  });

  it('property: local time of an instant converts back to the same instant (outside the repeated autumn hour)', () => {
    fc.assert(
      fc.property(
        fc.integer({
          min: Date.parse('2020-01-01T00:00:00Z') / 1000,
          max: Date.parse('2030-01-01T00:00:00Z') / 1000,
        }),
        fc.constantFrom('Europe/Malta', 'Asia/Manila', 'America/Sao_Paulo', 'UTC'),
        (seconds, tz) => {
          const ms = seconds * 1000;
          const back = localToUtcMs(utcMsToLocal(ms, tz), tz);
          // In a repeated hour the first occurrence is chosen: the same instant, or one hour earlier.
          expect(back === ms || back === ms - 3_600_000).toBe(true);
        },
      ),
      { numRuns: 3000 },
    );
  });
});
