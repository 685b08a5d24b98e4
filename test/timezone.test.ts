import fc from 'fast-check';
import { acceptedTimezones } from '../domain/timezones';
import { localDay, localToUtcMs, utcMsToLocal } from '../providers/timezone';
import { createTestDatabase, type TestDatabase } from './support/env';

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

// Workers read local times with Intl (the report parsers above); Postgres files the same
// transactions under business days with `AT TIME ZONE`. Every zone the API accepts must be
// known to both, under that exact spelling, and both must read the same wall clock in it.
/**
 * Zones whose rules changed between the tz release of Node's ICU and of the test Postgres:
 * both know the name, but not yet the same clock. Europe/Chisinau: tz 2025c moved Moldova's
 * changes to the EU's hour (Node 20 here has 2025c; Postgres 17.10's own data is 2025b).
 */
const TZDATA_RELEASES_DIFFER = new Set(['Europe/Chisinau']);

describe('every zone the API accepts, in Intl and in Postgres', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('is listed by Postgres under its exact name, and loads in Intl', async () => {
    const { rows } = await db.pool.query<{ name: string }>(
      'SELECT z AS name FROM unnest($1::text[]) z EXCEPT SELECT name FROM pg_timezone_names',
      [acceptedTimezones],
    );
    expect(rows.map((r) => r.name)).toEqual([]);
    const intlRefuses = acceptedTimezones.filter((tz) => {
      try {
        return new Intl.DateTimeFormat('en-US', { timeZone: tz }).resolvedOptions().timeZone === '';
      } catch {
        return true;
      }
    });
    expect(intlRefuses).toEqual([]);
    // Not a vacuous list: the zones partners and tests use are among them.
    expect(acceptedTimezones).toEqual(
      expect.arrayContaining(['Europe/Malta', 'Europe/London', 'UTC', 'Asia/Manila', 'America/Sao_Paulo']),
    );
    expect(acceptedTimezones.length).toBeGreaterThan(400);
  });

  it('reads the same local time in Intl and Postgres, winter, summer and across a change', async () => {
    const steady = ['2026-01-15T12:00:00Z', '2026-07-15T12:00:00Z'];
    // Around the EU's spring change and the US's autumn one.
    const changes = [
      '2026-03-29T00:30:00Z',
      '2026-03-29T01:30:00Z',
      '2026-11-01T05:30:00Z',
      '2026-11-01T06:30:00Z',
    ];
    const instants = [...steady, ...changes].map((iso) => Date.parse(iso));
    const { rows } = await db.pool.query<{ tz: string; ms: string; local: string }>(
      `SELECT tz, ms::text, to_char(to_timestamp(ms / 1000.0) AT TIME ZONE tz, 'YYYY-MM-DD HH24:MI:SS') AS local
         FROM unnest($1::text[]) tz, unnest($2::bigint[]) ms`,
      [acceptedTimezones, instants],
    );
    expect(rows).toHaveLength(acceptedTimezones.length * instants.length);
    const disagree = rows.flatMap((r) => {
      const at = new Date(Number(r.ms)).toISOString().replace('.000Z', 'Z');
      const intl = utcMsToLocal(Number(r.ms), r.tz);
      if (intl === r.local) return [];
      if (changes.includes(at) && TZDATA_RELEASES_DIFFER.has(r.tz)) return [];
      return [`${r.tz} at ${at}: Postgres ${r.local}, Intl ${intl}`];
    });
    expect(disagree).toEqual([]);
  });
});
