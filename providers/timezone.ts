// Local wall-clock time in an IANA timezone ↔ UTC, with Intl only (no dependency). Used by
// report formats that speak in the provider's local time.

function offsetMs(utcMs: number, timeZone: string): number {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone,
    hourCycle: 'h23',
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
  }).formatToParts(new Date(utcMs));
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

/**
 * "2026-11-23 21:15:02" in `timeZone` → epoch ms. When daylight saving repeats an hour the
 * first occurrence is chosen; a time skipped by the spring change maps forward.
 */
export function localToUtcMs(local: string, timeZone: string): number {
  const m = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})$/.exec(local);
  if (!m) throw new Error(`not a local date-time: ${local}`);
  const naive = Date.UTC(
    Number(m[1]),
    Number(m[2]) - 1,
    Number(m[3]),
    Number(m[4]),
    Number(m[5]),
    Number(m[6]),
  );
  // The offsets in force half a day either side bracket any transition near this time.
  const candidates = [offsetMs(naive - 43_200_000, timeZone), offsetMs(naive + 43_200_000, timeZone)]
    .map((offset) => naive - offset)
    .filter((utc) => utc + offsetMs(utc, timeZone) === naive)
    .sort((a, b) => a - b);
  return candidates[0] ?? naive - offsetMs(naive - 43_200_000, timeZone);
}

/** Epoch ms → "2026-11-23 21:15:02" in `timeZone`. */
export function utcMsToLocal(utcMs: number, timeZone: string): string {
  const shifted = new Date(Math.floor(utcMs / 1000) * 1000 + offsetMs(utcMs, timeZone));
  return shifted.toISOString().slice(0, 19).replace('T', ' ');
}

/** The local calendar day of an instant. */
export const localDay = (utcMs: number, timeZone: string): string =>
  utcMsToLocal(utcMs, timeZone).slice(0, 10);
