import type pg from 'pg';

type Queryable = Pick<pg.Pool | pg.PoolClient, 'query'>;

// Alerts of the watch (activities/watch.ts): one row per crossing. While its condition holds, a
// scan refreshes the active row of its dedup key (last seen, occurrences, evidence); when the
// condition clears the row is resolved, and the next crossing is a new row. The partial unique
// index alerts_one_active makes "one active row per key" a fact of the schema, not of this code.

export type AlertSeverity = 'info' | 'warning' | 'critical';
export type AlertDisclosure = 'operational' | 'integrity';

/**
 * Every kind the watch raises, with who may see it: operational alerts (a late report, a partner
 * gone silent) are shown to the partner they are about; integrity alerts never are.
 */
export const ALERT_KINDS = {
  rtp_drift: { disclosure: 'integrity', severities: ['critical'] },
  volume_spike: { disclosure: 'integrity', severities: ['warning', 'critical'] },
  volume_drop: { disclosure: 'integrity', severities: ['warning'] },
  volume_silence: { disclosure: 'operational', severities: ['warning'] },
  rollback_rate: { disclosure: 'integrity', severities: ['warning'] },
  duplicate_rate: { disclosure: 'integrity', severities: ['warning'] },
  orphan_rollbacks: { disclosure: 'integrity', severities: ['warning'] },
  stale_transactions: { disclosure: 'integrity', severities: ['warning'] },
  late_report: { disclosure: 'operational', severities: ['warning'] },
  fx_move: { disclosure: 'integrity', severities: ['warning'] },
  big_win: { disclosure: 'integrity', severities: ['critical'] },
  big_win_after_payout: { disclosure: 'integrity', severities: ['critical'] },
} as const satisfies Record<string, { disclosure: AlertDisclosure; severities: readonly AlertSeverity[] }>;
export type AlertKind = keyof typeof ALERT_KINDS;
export const alertKinds = Object.keys(ALERT_KINDS) as AlertKind[];

/** What a detector found: the numbers and the SQL that reproduces them. */
export interface AlertEvidence {
  explanation: string;
  query: string;
  [figure: string]: unknown;
}

export interface AlertInput {
  kind: AlertKind;
  dedupKey: string;
  partnerId: string | null;
  /** What it is about: `game:<canonicalId>`, `partner:<id>`, `cycle:<id>`, `fx:EUR/USD`… */
  subject: string;
  severity: AlertSeverity;
  disclosure: AlertDisclosure;
  title: string;
  evidence: AlertEvidence;
  windowStart: string | null;
  windowEnd: string | null;
}

export interface Alert {
  id: string;
  kind: string;
  dedupKey: string;
  partnerId: string | null;
  subject: string;
  severity: AlertSeverity;
  disclosure: AlertDisclosure;
  state: 'active' | 'resolved';
  title: string;
  evidence: AlertEvidence;
  windowStart: string | null;
  windowEnd: string | null;
  firstSeen: string;
  lastSeen: string;
  occurrences: number;
  resolvedAt: string | null;
  acknowledgement: { actor: string; name: string; note: string | null; at: string } | null;
  notifiedAt: string | null;
}

interface AlertRow {
  id: string;
  kind: string;
  dedup_key: string;
  partner_id: string | null;
  subject: string;
  severity: AlertSeverity;
  disclosure: AlertDisclosure;
  state: 'active' | 'resolved';
  title: string;
  evidence: AlertEvidence;
  window_start: Date | null;
  window_end: Date | null;
  first_seen: Date;
  last_seen: Date;
  occurrences: number;
  resolved_at: Date | null;
  acknowledged_at: Date | null;
  acknowledged_by: string | null;
  acknowledged_name: string | null;
  ack_note: string | null;
  notified_at: Date | null;
}

const iso = (d: Date | null): string | null => (d ? d.toISOString() : null);

function toAlert(r: AlertRow): Alert {
  return {
    id: r.id,
    kind: r.kind,
    dedupKey: r.dedup_key,
    partnerId: r.partner_id,
    subject: r.subject,
    severity: r.severity,
    disclosure: r.disclosure,
    state: r.state,
    title: r.title,
    evidence: r.evidence,
    windowStart: iso(r.window_start),
    windowEnd: iso(r.window_end),
    firstSeen: r.first_seen.toISOString(),
    lastSeen: r.last_seen.toISOString(),
    occurrences: r.occurrences,
    resolvedAt: iso(r.resolved_at),
    acknowledgement:
      r.acknowledged_at && r.acknowledged_by
        ? {
            actor: r.acknowledged_by,
            name: r.acknowledged_name ?? r.acknowledged_by,
            note: r.ack_note,
            at: r.acknowledged_at.toISOString(),
          }
        : null,
    notifiedAt: iso(r.notified_at),
  };
}

const COLUMNS = `id::text, kind, dedup_key, partner_id, subject, severity, disclosure, state, title, evidence,
  window_start, window_end, first_seen, last_seen, occurrences, resolved_at, acknowledged_at, acknowledged_by,
  acknowledged_name, ack_note, notified_at`;

const SEVERITY_RANK = `CASE $S WHEN 'critical' THEN 3 WHEN 'warning' THEN 2 ELSE 1 END`;
const rank = (column: string) => SEVERITY_RANK.replace('$S', column);

/**
 * Raises an alert, or refreshes the active one of its key: last seen, occurrences, evidence and
 * title from this scan; the window widened to cover both; the severity only ever raised (and a
 * raised one is notified again).
 */
export async function raiseAlert(db: Queryable, a: AlertInput): Promise<{ id: string; created: boolean }> {
  const { rows } = await db.query<{ id: string; created: boolean }>(
    `INSERT INTO alerts AS a (kind, dedup_key, partner_id, subject, severity, disclosure, title, evidence, window_start, window_end)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9, $10)
     ON CONFLICT (dedup_key) WHERE state = 'active' DO UPDATE SET
       last_seen = now(),
       occurrences = a.occurrences + 1,
       evidence = EXCLUDED.evidence,
       title = EXCLUDED.title,
       window_start = LEAST(a.window_start, EXCLUDED.window_start),
       window_end = GREATEST(a.window_end, EXCLUDED.window_end),
       severity = CASE WHEN ${rank('EXCLUDED.severity')} > ${rank('a.severity')} THEN EXCLUDED.severity ELSE a.severity END,
       notified_at = CASE WHEN ${rank('EXCLUDED.severity')} > ${rank('a.severity')} THEN NULL ELSE a.notified_at END
     RETURNING id::text, (xmax = 0) AS created`,
    [
      a.kind,
      a.dedupKey,
      a.partnerId,
      a.subject,
      a.severity,
      a.disclosure,
      a.title,
      JSON.stringify(a.evidence),
      a.windowStart,
      a.windowEnd,
    ],
  );
  return rows[0]!;
}

/** Resolves the active alerts of `kind` whose key is not among those still holding; returns how many. */
export async function resolveCleared(
  db: Queryable,
  kind: AlertKind,
  stillHoldingKeys: string[],
): Promise<number> {
  const { rowCount } = await db.query(
    `UPDATE alerts SET state = 'resolved', resolved_at = now()
      WHERE kind = $1 AND state = 'active' AND NOT (dedup_key = ANY ($2::text[]))`,
    [kind, stillHoldingKeys],
  );
  return rowCount ?? 0;
}

export async function getAlert(db: Queryable, id: string): Promise<Alert | null> {
  const { rows } = await db.query<AlertRow>(`SELECT ${COLUMNS} FROM alerts WHERE id = $1::bigint`, [id]);
  return rows[0] ? toAlert(rows[0]) : null;
}

export interface AlertFilter {
  state?: 'active' | 'resolved' | undefined;
  kind?: string | undefined;
  severity?: AlertSeverity | undefined;
  partnerId?: string | undefined;
  disclosure?: AlertDisclosure | undefined;
}

/** Newest first (by id), after the id `after`. */
export async function listAlerts(
  db: Queryable,
  f: AlertFilter,
  page: { after: string | null; limit: number },
): Promise<Alert[]> {
  const { rows } = await db.query<AlertRow>(
    `SELECT ${COLUMNS} FROM alerts
      WHERE ($1::text IS NULL OR state = $1) AND ($2::text IS NULL OR kind = $2) AND ($3::text IS NULL OR severity = $3)
        AND ($4::text IS NULL OR partner_id = $4) AND ($5::text IS NULL OR disclosure = $5)
        AND ($6::bigint IS NULL OR id < $6::bigint)
      ORDER BY id DESC LIMIT $7`,
    [
      f.state ?? null,
      f.kind ?? null,
      f.severity ?? null,
      f.partnerId ?? null,
      f.disclosure ?? null,
      page.after,
      page.limit,
    ],
  );
  return rows.map(toAlert);
}

export type Acknowledged =
  | { outcome: 'acknowledged' | 'unchanged'; alert: Alert }
  | { outcome: 'conflict'; alert: Alert }
  | { outcome: 'not_found' };

/**
 * Records who acknowledged an alert and why. The same person with the same note again changes
 * nothing; an alert someone else acknowledged, or with another note, is a conflict (the first
 * acknowledgement stands, as the audit trail recorded it).
 */
export async function acknowledgeAlert(
  db: Queryable,
  id: string,
  by: { actor: string; name: string; note: string | null },
): Promise<Acknowledged> {
  const { rows } = await db.query<AlertRow>(
    `UPDATE alerts SET acknowledged_at = now(), acknowledged_by = $2, acknowledged_name = $3, ack_note = $4
      WHERE id = $1::bigint AND acknowledged_at IS NULL
      RETURNING ${COLUMNS}`,
    [id, by.actor, by.name, by.note],
  );
  if (rows[0]) return { outcome: 'acknowledged', alert: toAlert(rows[0]) };
  const current = await getAlert(db, id);
  if (!current) return { outcome: 'not_found' };
  const same = current.acknowledgement?.actor === by.actor && current.acknowledgement.note === by.note;
  return { outcome: same ? 'unchanged' : 'conflict', alert: current };
}

/** Active alerts by kind and severity (the Prometheus gauge). */
export async function activeAlertCounts(
  db: Queryable,
): Promise<{ kind: string; severity: AlertSeverity; count: number }[]> {
  const { rows } = await db.query<{ kind: string; severity: AlertSeverity; count: number }>(
    `SELECT kind, severity, count(*)::int AS count FROM alerts WHERE state = 'active' GROUP BY 1, 2 ORDER BY 1, 2`,
  );
  return rows;
}

/** Alerts not yet delivered to the operations webhook, seen within `withinHours`, oldest first. */
export async function alertsToNotify(db: Queryable, withinHours: number, limit: number): Promise<Alert[]> {
  const { rows } = await db.query<AlertRow>(
    `SELECT ${COLUMNS} FROM alerts
      WHERE notified_at IS NULL AND last_seen > now() - $1 * interval '1 hour'
      ORDER BY id LIMIT $2`,
    [withinHours, limit],
  );
  return rows.map(toAlert);
}

export async function markNotified(db: Queryable, id: string): Promise<void> {
  await db.query('UPDATE alerts SET notified_at = now() WHERE id = $1::bigint AND notified_at IS NULL', [id]);
}
