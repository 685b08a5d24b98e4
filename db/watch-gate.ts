import type pg from 'pg';

type Queryable = Pick<pg.Pool | pg.PoolClient, 'query'>;

// What the watch found in a cycle's period that calls for a person before payout: the volume
// alerts (a spike: "extra checks") of the partner whose hour falls in the period's business
// days (in the partner's timezone). Big wins come from db/held-wins.ts. Alerts are written by
// db/alerts.ts only; this reads them.

export interface PeriodVolumeAlert {
  alertId: string;
  kind: string;
  title: string;
  windowStart: string;
  windowEnd: string | null;
  businessDate: string;
}

/** Kinds of alert that gate a cycle's payout (one exception each). */
export const GATING_ALERT_KINDS = ['volume_spike'] as const;

export async function volumeAlertsInPeriod(
  db: Queryable,
  partnerId: string,
  from: string,
  to: string,
): Promise<PeriodVolumeAlert[]> {
  const { rows } = await db.query<{
    id: string;
    kind: string;
    title: string;
    window_start: Date;
    window_end: Date | null;
    business_date: string;
  }>(
    `SELECT a.id::text, a.kind, a.title, a.window_start, a.window_end,
            (a.window_start AT TIME ZONE p.timezone)::date::text AS business_date
       FROM alerts a JOIN partners p ON p.id = a.partner_id
      WHERE a.partner_id = $1 AND a.kind = ANY ($4::text[]) AND a.window_start IS NOT NULL
        AND (a.window_start AT TIME ZONE p.timezone)::date BETWEEN $2::date AND $3::date
      ORDER BY a.id`,
    [partnerId, from, to, [...GATING_ALERT_KINDS]],
  );
  return rows.map((r) => ({
    alertId: r.id,
    kind: r.kind,
    title: r.title,
    windowStart: r.window_start.toISOString(),
    windowEnd: r.window_end?.toISOString() ?? null,
    businessDate: r.business_date,
  }));
}
