// Local wall-clock time in an IANA timezone ↔ UTC, with Intl only (no dependency). Used by
// report formats that speak in the provider's local time.

const formatters = new Map<string, Intl.DateTimeFormat>();
function formatterOf(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    });
    formatters.set(timeZone, f);
  }
  return f;
}

function exactOffsetMs(utcMs: number, timeZone: string): number {
  const parts = formatterOf(timeZone).formatToParts(new Date(utcMs));
  const get = (t: string) => Number(parts.find((p) => p.type === t)?.value);
  const asUtc = Date.UTC(
    get('year'),
    get('month') - 1,
    get('day'),
    get('hour'),
    get('minute'),
    get('second'),
  );
  return asUtc - Math.floor(utcMs / 1000) * 1000;
}

// A report of millions of rows asks for the offset of millions of instants. Since 1980 every
// offset is a multiple of 15 minutes and every change of offset happens on a 15-minute
// boundary of UTC, so the offset is constant within each quarter hour: computed once per
// quarter hour and zone (Intl is slow), exactly otherwise.
const QUARTER_HOUR_MS = 900_000;
const CACHED_FROM_MS = Date.UTC(1980, 0, 1);
const MAX_CACHED = 200_000;
const offsetCache = new Map<string, number>();

function offsetMs(utcMs: number, timeZone: string): number {
  if (timeZone === 'UTC' || timeZone === 'Etc/UTC') return 0;
  if (utcMs < CACHED_FROM_MS) return exactOffsetMs(utcMs, timeZone);
  const quarter = Math.floor(utcMs / QUARTER_HOUR_MS);
  const key = `${timeZone}|${quarter}`;
  let offset = offsetCache.get(key);
  if (offset === undefined) {
    if (offsetCache.size >= MAX_CACHED) offsetCache.clear();
    offset = exactOffsetMs(quarter * QUARTER_HOUR_MS, timeZone);
    offsetCache.set(key, offset);
  }
  return offset;
}

const LOCAL_TIME = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})$/;

/**
 * "2026-11-23 21:15:02" in `timeZone` → epoch ms. When daylight saving repeats an hour the
 * first occurrence is chosen; a time skipped by the spring change maps forward.
 */
export function localToUtcMs(local: string, timeZone: string): number {
  const m = LOCAL_TIME.exec(local);
  if (!m) throw new Error(`not a local date-time: ${local}`);
  const naive = Date.UTC(
    Number(m[1]),
    Number(m[2]) - 1,
    Number(m[3]),
    Number(m[4]),
    Number(m[5]),
    Number(m[6]),
  );
  if (timeZone === 'UTC' || timeZone === 'Etc/UTC') return naive;
  // The offsets in force half a day either side bracket any transition near this time; of the
  // instants they give, the earlier one that reads back as this local time is chosen.
  const before = naive - offsetMs(naive - 43_200_000, timeZone);
  const after = naive - offsetMs(naive + 43_200_000, timeZone);
  const beforeFits = before + offsetMs(before, timeZone) === naive;
  const afterFits = after + offsetMs(after, timeZone) === naive;
  if (beforeFits && afterFits) return Math.min(before, after);
  if (beforeFits) return before;
  if (afterFits) return after;
  return before;
}

/** Epoch ms → "2026-11-23 21:15:02" in `timeZone`. */
export function utcMsToLocal(utcMs: number, timeZone: string): string {
  const shifted = new Date(Math.floor(utcMs / 1000) * 1000 + offsetMs(utcMs, timeZone));
  return shifted.toISOString().slice(0, 19).replace('T', ' ');
}

// Local midnight falls on a quarter hour of UTC too (offsets are whole quarter hours), so each
// quarter hour has one local day: remembered per zone, as the offsets are.
const dayCache = new Map<string, Map<number, string>>();

/** The local calendar day of an instant. */
export function localDay(utcMs: number, timeZone: string): string {
  if (utcMs < CACHED_FROM_MS) return utcMsToLocal(utcMs, timeZone).slice(0, 10);
  let days = dayCache.get(timeZone);
  if (!days) {
    days = new Map();
    dayCache.set(timeZone, days);
  }
  const quarter = Math.floor(utcMs / QUARTER_HOUR_MS);
  let day = days.get(quarter);
  if (day === undefined) {
    if (days.size >= MAX_CACHED) days.clear();
    day = utcMsToLocal(quarter * QUARTER_HOUR_MS, timeZone).slice(0, 10);
    days.set(quarter, day);
  }
  return day;
}
