import type pg from 'pg';

type Queryable = Pick<pg.Pool | pg.PoolClient, 'query'>;

// Reference FX rates per day: the FX service's rate, fetched by the watch scan (activities/
// watch.ts) and kept, the first of each day winning, so that every indicative figure of a day
// converts at one rate the console can show with its source and time. A cycle's own locked
// rates (settlement_fx_rates) replace them once it locks.

export interface ReferenceRate {
  from: string;
  to: string;
  day: string;
  /** An exact decimal string. */
  rate: string;
  source: string;
  asOf: string;
}

/** Keeps a day's rate; the first one stored for the day stays (a retried scan changes nothing). */
export async function storeReferenceRate(db: Queryable, r: ReferenceRate): Promise<void> {
  await db.query(
    `INSERT INTO fx_reference_rates (from_ccy, to_ccy, day, rate, source, as_of)
     VALUES ($1, $2, $3, $4::numeric, $5, $6) ON CONFLICT DO NOTHING`,
    [r.from, r.to, r.day, r.rate, r.source, r.asOf],
  );
}

/**
 * The rate of each pair for a day: that day's, else the latest before it (labelled by its own
 * day, so a reader sees how old it is). Pairs with no rate at all are absent.
 */
export async function referenceRates(
  db: Queryable,
  pairs: { from: string; to: string }[],
  day: string,
): Promise<Map<string, ReferenceRate>> {
  const byDay = await referenceRatesByDay(
    db,
    pairs.map((p) => ({ ...p, day })),
  );
  return new Map([...byDay.values()].map((r) => [pairKey(r.from, r.to), r]));
}

/**
 * The reference rate of each pair for each day asked: that day's, else the latest before it,
 * labelled with its own day. `from|to|day asked` → rate; pairs with no rate on or before the day
 * are absent. One primary-key probe per (pair, day) asked.
 */
export async function referenceRatesByDay(
  db: Queryable,
  wanted: { from: string; to: string; day: string }[],
): Promise<Map<string, ReferenceRate>> {
  const asked = wanted.filter((w) => w.from !== w.to);
  if (asked.length === 0) return new Map();
  const { rows } = await db.query<{
    want_day: string;
    from_ccy: string;
    to_ccy: string;
    day: string;
    rate: string;
    source: string;
    as_of: Date;
  }>(
    `SELECT w.day::text AS want_day, r.from_ccy, r.to_ccy, r.day::text, r.rate::text, r.source, r.as_of
       FROM unnest($1::text[], $2::text[], $3::date[]) AS w(from_ccy, to_ccy, day)
       CROSS JOIN LATERAL (SELECT * FROM fx_reference_rates f
                            WHERE f.from_ccy = w.from_ccy AND f.to_ccy = w.to_ccy AND f.day <= w.day
                            ORDER BY f.day DESC LIMIT 1) r`,
    [asked.map((w) => w.from), asked.map((w) => w.to), asked.map((w) => w.day)],
  );
  return new Map(
    rows.map((r) => [
      `${r.from_ccy}|${r.to_ccy}|${r.want_day}`,
      {
        from: r.from_ccy,
        to: r.to_ccy,
        day: r.day,
        rate: r.rate,
        source: r.source,
        asOf: r.as_of.toISOString(),
      },
    ]),
  );
}

export const pairKey = (from: string, to: string): string => `${from}/${to}`;

/** The currency pairs activity was seen in since a day, against each partner's settlement currency. */
export async function activePairs(db: Queryable, sinceDay: string): Promise<{ from: string; to: string }[]> {
  const { rows } = await db.query<{ from_ccy: string; to_ccy: string }>(
    // Per partner, through the hourly activity's key (partner, hour): never all of history.
    `SELECT DISTINCT a.currency AS from_ccy, pt.settlement_currency AS to_ccy
       FROM partners pt
       JOIN LATERAL (SELECT DISTINCT currency FROM activity_hours h
                      WHERE h.partner_id = pt.id AND h.hour >= $1::date) a ON a.currency <> pt.settlement_currency`,
    [sinceDay],
  );
  return rows.map((r) => ({ from: r.from_ccy, to: r.to_ccy }));
}
