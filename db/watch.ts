import pg from 'pg';
import {
  DEFAULT_RTP_SETTINGS,
  hourOfWeek,
  rtpTest,
  type GameMaths,
  type RtpResult,
  type RtpSettings,
} from '../domain/anomalies';
import { DEFAULT_GRACE_MINUTES } from '../domain/contract';
import { NotFoundError } from '../domain/errors';
import {
  createCurrencyRegistry,
  divideHalfEven,
  formatAmount,
  parseDecimal,
  type CurrencyRegistry,
} from '../domain/money';
import type { Config } from '../platform/config';

type Queryable = Pick<pg.Pool | pg.PoolClient, 'query'>;

// What the watch reads (activities/watch.ts) and the console's RTP figures (api/routes/
// catalogue.ts) read the same way: one function per signal, each returning its numbers and the
// SQL that reproduces them (the `query` of an alert's evidence: the very statement run, with its
// parameters written in). Every read is bounded by an index: positions by partner and day,
// activity_hours by partner and hour, ingest_batches by the BRIN on received_at.

// ---------------------------------------------------------------------------------------------
// Evidence: a statement with its parameters written in.

function literal(v: unknown): string {
  if (v === null || v === undefined) return 'NULL';
  if (typeof v === 'number' || typeof v === 'bigint') return String(v);
  if (typeof v === 'boolean') return v ? 'TRUE' : 'FALSE';
  if (v instanceof Date) return pg.escapeLiteral(v.toISOString());
  if (Array.isArray(v)) return `ARRAY[${v.map(literal).join(', ')}]`;
  if (typeof v === 'string') return pg.escapeLiteral(v);
  throw new TypeError(`no SQL literal for ${typeof v}`);
}

/** The SQL as run, with `$n` replaced by its parameter: what an operator pastes into psql. */
export function reproducibleSql(sql: string, params: unknown[]): string {
  return sql
    .replace(/\$(\d+)/g, (_m, n: string) => literal(params[Number(n) - 1]))
    .replace(/\s+/g, ' ')
    .trim();
}

const addDays = (day: string, n: number): string =>
  new Date(Date.parse(`${day}T00:00:00Z`) + n * 86_400_000).toISOString().slice(0, 10);

/** The UTC calendar day of an instant (the watch's "today"). */
export const utcDay = (at: Date): string => at.toISOString().slice(0, 10);

// ---------------------------------------------------------------------------------------------
// Watch settings per partner.

export interface PartnerWatchSettings {
  partnerId: string;
  settlementCurrency: string;
  /** Minor units of the settlement currency; null: the production default. */
  bigWinAbsoluteMinor: bigint | null;
  /** A decimal string; null: the production default. */
  bigWinMultiple: string | null;
  updatedBy: string | null;
  updatedAt: string | null;
}

/** A partner's own settings (nulls where it has none), or null for an unknown partner. */
export async function partnerWatchSettings(
  db: Queryable,
  partnerId: string,
): Promise<PartnerWatchSettings | null> {
  const { rows } = await db.query<{
    settlement_currency: string;
    big_win_absolute_minor: string | null;
    big_win_multiple: string | null;
    updated_by: string | null;
    updated_at: Date | null;
  }>(
    `SELECT p.settlement_currency, w.big_win_absolute_minor::text, w.big_win_multiple::text, w.updated_by, w.updated_at
       FROM partners p LEFT JOIN partner_watch_settings w ON w.partner_id = p.id WHERE p.id = $1`,
    [partnerId],
  );
  const r = rows[0];
  if (!r) return null;
  return {
    partnerId,
    settlementCurrency: r.settlement_currency,
    bigWinAbsoluteMinor: r.big_win_absolute_minor === null ? null : BigInt(r.big_win_absolute_minor),
    bigWinMultiple: r.big_win_multiple,
    updatedBy: r.updated_by,
    updatedAt: r.updated_at?.toISOString() ?? null,
  };
}

export async function putPartnerWatchSettings(
  db: Queryable,
  partnerId: string,
  s: { bigWinAbsoluteMinor: bigint | null; bigWinMultiple: string | null },
  updatedBy: string,
): Promise<void> {
  await db.query(
    `INSERT INTO partner_watch_settings (partner_id, big_win_absolute_minor, big_win_multiple, updated_by)
     VALUES ($1, $2::bigint, $3::numeric, $4)
     ON CONFLICT (partner_id) DO UPDATE SET big_win_absolute_minor = EXCLUDED.big_win_absolute_minor,
       big_win_multiple = EXCLUDED.big_win_multiple, updated_by = EXCLUDED.updated_by, updated_at = now()`,
    [partnerId, s.bigWinAbsoluteMinor?.toString() ?? null, s.bigWinMultiple, updatedBy],
  );
}

/** The big-win limits in force for a partner (a superset of db/held-wins.ts BigWinLimits). */
export interface EffectiveBigWinSettings {
  settlementCurrency: string;
  /** The settlement currency's scale. */
  scale: number;
  /** Minor units of the settlement currency. */
  absoluteMinor: bigint;
  /** A decimal multiple of the round's bets, e.g. "350". */
  multiple: string;
  /** Where each came from: the partner's own setting or the production default (WATCH_BIG_WIN_*). */
  amountSource: 'partner' | 'default';
  multipleSource: 'partner' | 'default';
}

/** A decimal amount of major units in minor units of a currency of `scale` (half-even past its places). */
export function majorToMinor(amount: string, scale: number): bigint {
  const parsed = parseDecimal(amount, { maxScale: 18 });
  if (!parsed.ok) throw new RangeError(`amount ${parsed.message}`);
  const { units, scale: s } = parsed.value;
  return s <= scale
    ? units * 10n ** BigInt(scale - s)
    : divideHalfEven(units, 10n ** BigInt(s - scale)).rounded;
}

/**
 * The partner's big-win limits: its own where set (partner_watch_settings), else the production
 * defaults (config.watch.bigWin: an amount in major units of the settlement currency, converted
 * to minor units by the currency's scale). For the ingest path; throws NotFoundError for an
 * unknown partner.
 */
export async function effectiveBigWinSettings(
  db: Queryable,
  config: Pick<Config, 'watch' | 'currencies'>,
  partnerId: string,
  currencies: CurrencyRegistry = createCurrencyRegistry(config.currencies.extraAssets),
): Promise<EffectiveBigWinSettings> {
  const own = await partnerWatchSettings(db, partnerId);
  if (!own)
    throw new NotFoundError(`partner ${partnerId} not found`, [{ path: 'partnerId', message: 'not found' }]);
  const scale = currencies.requireScale(own.settlementCurrency);
  return {
    settlementCurrency: own.settlementCurrency,
    scale,
    absoluteMinor: own.bigWinAbsoluteMinor ?? majorToMinor(config.watch.bigWin.amount, scale),
    multiple: own.bigWinMultiple ?? config.watch.bigWin.multiple,
    amountSource: own.bigWinAbsoluteMinor === null ? 'default' : 'partner',
    multipleSource: own.bigWinMultiple === null ? 'default' : 'partner',
  };
}

// ---------------------------------------------------------------------------------------------
// RTP per canonical game (across partners, and per partner), over a rolling window of days.

/** The RTP settings of the configuration (the CLT factor is the domain's default). */
export function rtpSettingsOf(config: Pick<Config, 'watch'>): RtpSettings {
  return {
    zThreshold: config.watch.rtp.z,
    minSpins: config.watch.rtp.minSpins,
    cltFactor: DEFAULT_RTP_SETTINGS.cltFactor,
  };
}

export interface RtpWindow {
  /** The last business day of the window (YYYY-MM-DD). */
  asOf: string;
  windowDays: number;
  settings: RtpSettings;
}

export interface RtpFigure {
  canonicalId: string;
  name: string;
  version: number;
  maths: GameMaths;
  currency: string;
  /** null: across every partner mapped to the game. */
  partnerId: string | null;
  partners: number;
  /** Bets net of rolled-back bets. */
  spins: number;
  betMinor: bigint;
  /** Wins net of rolled-back wins; jackpot wins (and bonus rounds) excluded. */
  winMinor: bigint;
  /** Σb² as ingest kept it (rolled-back bets included: a conservative, wider band). */
  betSquaredMinor: bigint;
  result: RtpResult;
  query: string;
}

// Positions of mapped games, per partner through its primary key (partner, day…), then joined
// to the mapping. Sums per game and currency across partners, and per partner (grouping sets).
// Amounts of different currencies are never added: each currency is its own sample.
const RTP_SQL = `
  SELECT m.canonical_id, p.currency, p.partner_id, GROUPING(p.partner_id) = 1 AS across,
         count(DISTINCT p.partner_id)::int AS partners,
         sum(p.bet_count - p.rollback_bet_count)::text AS spins,
         sum(p.bet_minor - p.rollback_bet_minor)::text AS bet_minor,
         sum(p.win_minor - p.rollback_win_minor)::text AS win_minor,
         sum(p.bet_sq_minor)::text AS bet_sq_minor
    FROM (SELECT DISTINCT partner_id FROM partner_game_map WHERE $3::text IS NULL OR canonical_id = $3) mp
    CROSS JOIN LATERAL (SELECT * FROM positions x WHERE x.partner_id = mp.partner_id
                           AND x.business_date BETWEEN $1::date AND $2::date) p
    JOIN partner_game_map m ON m.partner_id = p.partner_id AND m.game_id = p.game_id
   WHERE ($3::text IS NULL OR m.canonical_id = $3) AND ($4::text IS NULL OR p.partner_id = $4)
   GROUP BY GROUPING SETS ((m.canonical_id, p.currency), (m.canonical_id, p.currency, p.partner_id))
   ORDER BY 1, 2, 4 DESC, 3`;

const RTP_DAILY_SQL = `
  SELECT p.business_date::text AS day, p.currency,
         count(DISTINCT p.partner_id)::int AS partners,
         sum(p.bet_count - p.rollback_bet_count)::text AS spins,
         sum(p.bet_minor - p.rollback_bet_minor)::text AS bet_minor,
         sum(p.win_minor - p.rollback_win_minor)::text AS win_minor,
         sum(p.bet_sq_minor)::text AS bet_sq_minor
    FROM (SELECT DISTINCT partner_id FROM partner_game_map WHERE canonical_id = $3) mp
    CROSS JOIN LATERAL (SELECT * FROM positions x WHERE x.partner_id = mp.partner_id
                           AND x.business_date BETWEEN $1::date AND $2::date) p
    JOIN partner_game_map m ON m.partner_id = p.partner_id AND m.game_id = p.game_id
   WHERE m.canonical_id = $3 AND ($4::text IS NULL OR p.partner_id = $4)
   GROUP BY 1, 2 ORDER BY 1, 2`;

interface SumsRow {
  partners: number;
  spins: string;
  bet_minor: string;
  win_minor: string;
  bet_sq_minor: string;
}

interface LatestMaths {
  name: string;
  version: number;
  maths: GameMaths;
}

async function latestMaths(db: Queryable, ids: string[]): Promise<Map<string, LatestMaths>> {
  const { rows } = await db.query<{
    id: string;
    name: string;
    version: number;
    theoretical_rtp: string;
    std_dev: string;
    jackpot_contribution_rate: string;
  }>(
    `SELECT g.id, g.name, v.version, v.theoretical_rtp::text, v.std_dev::text, v.jackpot_contribution_rate::text
       FROM canonical_games g
       CROSS JOIN LATERAL (SELECT * FROM canonical_game_versions cv WHERE cv.game_id = g.id
                            ORDER BY cv.version DESC LIMIT 1) v
      WHERE g.id = ANY ($1::text[])`,
    [ids],
  );
  return new Map(
    rows.map((r) => [
      r.id,
      {
        name: r.name,
        version: r.version,
        maths: {
          theoreticalRtp: r.theoretical_rtp,
          stdDev: r.std_dev,
          jackpotContributionRate: r.jackpot_contribution_rate,
        },
      },
    ]),
  );
}

/**
 * The window's sums as rtpTest takes them. Rolled-back bets leave Σb² (ingest cannot take a
 * square back out): it is held within what the net sums allow, (Σb)²/n ≤ Σb² ≤ (Σb)², which only
 * widens the band. A window whose rollbacks exceed its bets (a rollback dated a day after its
 * bet) counts as empty.
 */
function sampleOf(r: SumsRow) {
  const spins = BigInt(r.spins);
  const bets = BigInt(r.bet_minor);
  const wins = BigInt(r.win_minor);
  const stored = BigInt(r.bet_sq_minor);
  if (spins <= 0n || bets <= 0n) return { spins: 0, betMinor: 0n, winMinor: 0n, betSquaredMinor: 0n, stored };
  const low = (bets * bets + spins - 1n) / spins;
  const high = bets * bets;
  const sq = stored < low ? low : stored > high ? high : stored;
  return {
    spins: Number(spins),
    betMinor: bets,
    winMinor: wins < 0n ? 0n : wins,
    betSquaredMinor: sq,
    stored,
  };
}

function testOf(sample: ReturnType<typeof sampleOf>, maths: GameMaths, settings: RtpSettings): RtpResult {
  try {
    return rtpTest(sample, maths, settings);
  } catch (err) {
    // Figures the catalogue refuses cannot reach here; anything else is shown, never a 500.
    return {
      observedRtp: null,
      expectedRtp: Number(maths.theoreticalRtp) - Number(maths.jackpotContributionRate),
      standardError: null,
      z: null,
      band: null,
      effectiveSpins: 0,
      minimumEffectiveSpins: settings.minSpins,
      meaningful: false,
      alert: false,
      direction: null,
      explanation: `No verdict: ${(err as Error).message}`,
    };
  }
}

/** The window's first and last day. */
export function rtpWindowDays(w: Pick<RtpWindow, 'asOf' | 'windowDays'>): { from: string; to: string } {
  return { from: addDays(w.asOf, 1 - w.windowDays), to: w.asOf };
}

/**
 * RTP per canonical game and currency over the window, across partners (partnerId null) and per
 * partner, each with rtpTest's verdict against the game's latest maths. The watch alerts on these
 * very figures and the console shows them (GET /v1/insights/rtp).
 */
export async function rtpFigures(
  db: Queryable,
  w: RtpWindow,
  filter: { canonicalId?: string | undefined; partnerId?: string | undefined } = {},
): Promise<{ from: string; to: string; figures: RtpFigure[] }> {
  const { from, to } = rtpWindowDays(w);
  const params = [from, to, filter.canonicalId ?? null, filter.partnerId ?? null];
  const { rows } = await db.query<
    SumsRow & { canonical_id: string; currency: string; partner_id: string | null; across: boolean }
  >(RTP_SQL, params);
  const maths = await latestMaths(db, [...new Set(rows.map((r) => r.canonical_id))]);
  const figures: RtpFigure[] = [];
  for (const r of rows) {
    const game = maths.get(r.canonical_id);
    if (!game) continue;
    const sample = sampleOf(r);
    const partnerId = r.across ? null : r.partner_id;
    figures.push({
      canonicalId: r.canonical_id,
      name: game.name,
      version: game.version,
      maths: game.maths,
      currency: r.currency,
      partnerId,
      partners: r.partners,
      spins: sample.spins,
      betMinor: sample.betMinor,
      winMinor: sample.winMinor,
      betSquaredMinor: sample.stored,
      result: testOf(sample, game.maths, w.settings),
      // The reproducing query of this one row: the same statement, narrowed to its game and partner.
      query: reproducibleSql(RTP_SQL, [from, to, r.canonical_id, partnerId ?? filter.partnerId ?? null]),
    });
  }
  return { from, to, figures };
}

export interface RtpDay {
  date: string;
  currency: string;
  partners: number;
  spins: number;
  betMinor: bigint;
  winMinor: bigint;
  result: RtpResult;
}

/** A game's observed RTP per business day with the day's band (the console's chart), or null for an unknown game. */
export async function rtpDaily(
  db: Queryable,
  canonicalId: string,
  w: RtpWindow,
  partnerId?: string,
): Promise<{ from: string; to: string; game: LatestMaths; days: RtpDay[]; query: string } | null> {
  const game = (await latestMaths(db, [canonicalId])).get(canonicalId);
  if (!game) return null;
  const { from, to } = rtpWindowDays(w);
  const params = [from, to, canonicalId, partnerId ?? null];
  const { rows } = await db.query<SumsRow & { day: string; currency: string }>(RTP_DAILY_SQL, params);
  return {
    from,
    to,
    game,
    query: reproducibleSql(RTP_DAILY_SQL, params),
    days: rows.map((r) => {
      const sample = sampleOf(r);
      return {
        date: r.day,
        currency: r.currency,
        partners: r.partners,
        spins: sample.spins,
        betMinor: sample.betMinor,
        winMinor: sample.winMinor,
        result: testOf(sample, game.maths, w.settings),
      };
    }),
  };
}

// ---------------------------------------------------------------------------------------------
// Hourly volume by hour of week.

export interface HourVolume {
  /** The hour (UTC instant of its start). */
  hour: string;
  observed: number;
  /** The same hour of the week (partner's timezone) in each trailing week the partner was active. */
  history: { hour: string; count: number }[];
  query: string;
}

export interface PartnerVolume {
  partnerId: string;
  timezone: string;
  /** The hour in progress (only a spike can be judged on it). */
  current: HourVolume;
  /** The last complete hour (spike, drop, silence). */
  previous: HourVolume;
}

const HOUR_MS = 3_600_000;
const WEEK_MS = 7 * 24 * HOUR_MS;

const VOLUME_SQL = `
  SELECT partner_id, hour, sum(tx_count)::text AS n
    FROM activity_hours
   WHERE partner_id = ANY ($1::text[]) AND hour = ANY ($2::timestamptz[])
   GROUP BY 1, 2 ORDER BY 1, 2`;

/**
 * The transactions of each active partner in the current hour and the last complete one, with
 * the same hour of the week in each of `weeks` trailing weeks. Hours of week are the partner's
 * local ones (players keep local hours): across a DST change the same local hour is an hour
 * earlier or later in UTC, so the week's candidate is chosen among the three by hourOfWeek. A
 * week before the partner's first activity is no history (a new partner has no verdict yet).
 */
export async function hourlyVolume(db: Queryable, at: Date, weeks: number): Promise<PartnerVolume[]> {
  const current = Math.floor(at.getTime() / HOUR_MS) * HOUR_MS;
  const previous = current - HOUR_MS;
  const { rows: partners } = await db.query<{ id: string; timezone: string; first_hour: Date }>(
    `SELECT p.id, p.timezone, f.first_hour FROM partners p
      CROSS JOIN LATERAL (SELECT min(hour) AS first_hour FROM activity_hours a WHERE a.partner_id = p.id) f
      WHERE p.status = 'active' AND f.first_hour IS NOT NULL ORDER BY p.id`,
  );
  if (partners.length === 0) return [];
  const candidates = new Set<number>([current, previous]);
  for (const target of [current, previous])
    for (let k = 1; k <= weeks; k++)
      for (const shift of [0, -HOUR_MS, HOUR_MS]) candidates.add(target - k * WEEK_MS + shift);
  const hours = [...candidates].sort((a, b) => a - b).map((ms) => new Date(ms));
  const { rows } = await db.query<{ partner_id: string; hour: Date; n: string }>(VOLUME_SQL, [
    partners.map((p) => p.id),
    hours,
  ]);
  const counts = new Map(rows.map((r) => [`${r.partner_id}@${r.hour.getTime()}`, Number(r.n)]));
  const countOf = (partnerId: string, ms: number) => counts.get(`${partnerId}@${ms}`) ?? 0;

  const volumeAt = (p: { id: string; timezone: string; first_hour: Date }, target: number): HourVolume => {
    const bucket = hourOfWeek(target, p.timezone);
    const history: { hour: string; count: number }[] = [];
    for (let k = 1; k <= weeks; k++) {
      const week = [0, -HOUR_MS, HOUR_MS]
        .map((shift) => target - k * WEEK_MS + shift)
        .find((ms) => hourOfWeek(ms, p.timezone) === bucket);
      if (week === undefined || week < p.first_hour.getTime()) continue;
      history.push({ hour: new Date(week).toISOString(), count: countOf(p.id, week) });
    }
    const asked = [target, ...history.map((h) => Date.parse(h.hour))].map((ms) => new Date(ms));
    return {
      hour: new Date(target).toISOString(),
      observed: countOf(p.id, target),
      history,
      query: reproducibleSql(VOLUME_SQL, [[p.id], asked]),
    };
  };
  return partners.map((p) => ({
    partnerId: p.id,
    timezone: p.timezone,
    current: volumeAt(p, current),
    previous: volumeAt(p, previous),
  }));
}

/**
 * Every hour-of-week bucket's counts over the `weeks` weeks before the hour in progress (hours
 * since the partner's first activity; hours without a row count 0), for the partner's pooled
 * week-to-week spread (domain/anomalies.ts pooledRelativeSpread): 168 × weeks rows, read once an
 * hour per partner by the scan.
 */
export async function bucketHistories(
  db: Queryable,
  partner: { partnerId: string; timezone: string },
  at: Date,
  weeks: number,
): Promise<number[][]> {
  const current = Math.floor(at.getTime() / HOUR_MS) * HOUR_MS;
  const from = current - weeks * WEEK_MS;
  const { rows } = await db.query<{ hour: Date; n: string }>(
    `SELECT hour, sum(tx_count)::text AS n FROM activity_hours
      WHERE partner_id = $1 AND hour >= $2 AND hour < $3 GROUP BY hour ORDER BY hour`,
    [partner.partnerId, new Date(from), new Date(current)],
  );
  if (rows.length === 0) return [];
  const first = rows[0]!.hour.getTime();
  const counts = new Map(rows.map((r) => [r.hour.getTime(), Number(r.n)]));
  const buckets = new Map<number, number[]>();
  for (let ms = first; ms < current; ms += HOUR_MS) {
    const bucket = hourOfWeek(ms, partner.timezone);
    const list = buckets.get(bucket) ?? [];
    list.push(counts.get(ms) ?? 0);
    buckets.set(bucket, list);
  }
  return [...buckets.values()];
}

// ---------------------------------------------------------------------------------------------
// Rollbacks (positions of recent days).

export interface PartnerRollbacks {
  partnerId: string;
  /** Bets and rollbacks (of any kind, orphans included) over the recent days. */
  bets: number;
  rollbacks: number;
  /** Rollbacks still without the transaction they cancel, on days that have ended. */
  orphansOnEndedDays: number;
  from: string;
  to: string;
  query: string;
}

const ROLLBACK_SQL = `
  SELECT pt.id AS partner_id,
         coalesce(sum(p.bet_count) FILTER (WHERE p.business_date >= $2::date), 0)::text AS bets,
         coalesce(sum(p.rollback_bet_count + p.rollback_win_count + p.rollback_other_count + p.orphan_rollback_count)
                    FILTER (WHERE p.business_date >= $2::date), 0)::text AS rollbacks,
         coalesce(sum(p.orphan_rollback_count) FILTER (WHERE p.business_date < $3::date), 0)::text AS orphans
    FROM partners pt
    JOIN LATERAL (SELECT * FROM positions x WHERE x.partner_id = pt.id
                     AND x.business_date BETWEEN $1::date AND $3::date) p ON true
   WHERE pt.status = 'active' AND ($4::text IS NULL OR pt.id = $4)
   GROUP BY pt.id ORDER BY pt.id`;

/**
 * Per active partner: the rollback rate over the last `rateDays` days (today included), and the
 * orphan rollbacks left on the `orphanDays` days before today.
 */
export async function rollbackFigures(
  db: Queryable,
  today: string,
  opts: { rateDays: number; orphanDays: number },
): Promise<PartnerRollbacks[]> {
  const orphanFrom = addDays(today, -opts.orphanDays);
  const rateFrom = addDays(today, 1 - opts.rateDays);
  const first = orphanFrom < rateFrom ? orphanFrom : rateFrom;
  const { rows } = await db.query<{ partner_id: string; bets: string; rollbacks: string; orphans: string }>(
    ROLLBACK_SQL,
    [first, rateFrom, today, null],
  );
  return rows.map((r) => ({
    partnerId: r.partner_id,
    bets: Number(r.bets),
    rollbacks: Number(r.rollbacks),
    orphansOnEndedDays: Number(r.orphans),
    from: first,
    to: today,
    query: reproducibleSql(ROLLBACK_SQL, [first, rateFrom, today, r.partner_id]),
  }));
}

// ---------------------------------------------------------------------------------------------
// Ingest over the last hour: duplicates and stale transactions.

export interface PartnerIngest {
  partnerId: string;
  batches: number;
  received: number;
  accepted: number;
  duplicates: number;
  stale: number;
  from: string;
  to: string;
  query: string;
}

const INGEST_SQL = `
  SELECT partner_id, count(*)::int AS batches, sum(received_count)::text AS received,
         sum(accepted_count)::text AS accepted, coalesce(sum(stale_count), 0)::text AS stale
    FROM ingest_batches
   WHERE received_at > $1::timestamptz AND received_at <= $2::timestamptz AND received_count IS NOT NULL
     AND ($3::text IS NULL OR partner_id = $3)
   GROUP BY partner_id ORDER BY partner_id`;

export async function ingestFigures(db: Queryable, at: Date): Promise<PartnerIngest[]> {
  const from = new Date(at.getTime() - HOUR_MS);
  const { rows } = await db.query<{
    partner_id: string;
    batches: number;
    received: string;
    accepted: string;
    stale: string;
  }>(INGEST_SQL, [from, at, null]);
  return rows.map((r) => ({
    partnerId: r.partner_id,
    batches: r.batches,
    received: Number(r.received),
    accepted: Number(r.accepted),
    duplicates: Number(r.received) - Number(r.accepted),
    stale: Number(r.stale),
    from: from.toISOString(),
    to: at.toISOString(),
    query: reproducibleSql(INGEST_SQL, [from, at, r.partner_id]),
  }));
}

// ---------------------------------------------------------------------------------------------
// Provider reports late or missing.

export interface LateReport {
  cycleId: string;
  partnerId: string;
  periodStart: string;
  periodEnd: string;
  status: string;
  cutoffAt: string;
  graceMinutes: number;
  /** When the report was due: cut-off + grace + WATCH_REPORT_LATE_MINUTES. */
  dueAt: string;
  /** The cycle holds an open report_unavailable exception (the fetch gave up). */
  unavailable: boolean;
  query: string;
}

const LATE_SQL = `
  SELECT c.id, c.partner_id, c.period_start::text, c.period_end::text, c.status, d.cutoff_at, d.grace, d.due_at,
         EXISTS (SELECT 1 FROM settlement_exceptions e JOIN exception_books b ON b.cycle_id = e.cycle_id AND b.generation = e.generation
                  WHERE e.cycle_id = c.id AND e.kind = 'report_unavailable' AND e.resolved_at IS NULL) AS unavailable
    FROM settlement_cycles c
    JOIN partners p ON p.id = c.partner_id
    LEFT JOIN LATERAL (SELECT terms FROM partner_contracts k WHERE k.partner_id = c.partner_id AND k.status = 'approved'
                          AND k.effective_from <= c.period_start ORDER BY k.effective_from DESC LIMIT 1) k ON true
    CROSS JOIN LATERAL (
      SELECT ((c.period_end + 1)::timestamp AT TIME ZONE p.timezone) AS cutoff_at,
             coalesce((k.terms -> 'settlement' ->> 'cutoffGraceMinutes')::int, $2::int) AS grace) g
    CROSS JOIN LATERAL (SELECT g.cutoff_at, g.grace,
                               g.cutoff_at + (g.grace + $3::int) * interval '1 minute' AS due_at) d
   WHERE c.status NOT IN ('Completed', 'Failed') AND ($4::text IS NULL OR c.id = $4)
     AND ((c.status IN ('WaitingForCutoff', 'Reconciling') AND d.due_at < $1::timestamptz)
          OR EXISTS (SELECT 1 FROM settlement_exceptions e JOIN exception_books b ON b.cycle_id = e.cycle_id AND b.generation = e.generation
                      WHERE e.cycle_id = c.id AND e.kind = 'report_unavailable' AND e.resolved_at IS NULL))
   ORDER BY c.id`;

/** Cycles whose provider report is late (past cut-off, grace and the allowance) or unavailable. */
export async function lateReports(db: Queryable, at: Date, lateMinutes: number): Promise<LateReport[]> {
  const { rows } = await db.query<{
    id: string;
    partner_id: string;
    period_start: string;
    period_end: string;
    status: string;
    cutoff_at: Date;
    grace: number;
    due_at: Date;
    unavailable: boolean;
  }>(LATE_SQL, [at, DEFAULT_GRACE_MINUTES, lateMinutes, null]);
  return rows.map((r) => ({
    cycleId: r.id,
    partnerId: r.partner_id,
    periodStart: r.period_start,
    periodEnd: r.period_end,
    status: r.status,
    cutoffAt: r.cutoff_at.toISOString(),
    graceMinutes: r.grace,
    dueAt: r.due_at.toISOString(),
    unavailable: r.unavailable,
    query: reproducibleSql(LATE_SQL, [at, DEFAULT_GRACE_MINUTES, lateMinutes, r.id]),
  }));
}

// ---------------------------------------------------------------------------------------------
// FX: each lock against the previous lock of the same pair.

export interface FxLockMove {
  cycleId: string;
  partnerId: string;
  from: string;
  to: string;
  rate: string;
  lockedAt: string;
  previousCycleId: string;
  previousRate: string;
  previousLockedAt: string;
  query: string;
}

/** A lock is compared with its pair's previous lock of at most this many days before the window. */
export const PREVIOUS_LOCK_DAYS = 90;

const FX_SQL = `
  SELECT x.* FROM (
    SELECT f.cycle_id, c.partner_id, f.from_ccy, f.to_ccy, f.rate::text, f.locked_at,
           lag(f.cycle_id) OVER w AS previous_cycle_id, lag(f.rate::text) OVER w AS previous_rate,
           lag(f.locked_at) OVER w AS previous_locked_at
      FROM settlement_fx_rates f JOIN settlement_cycles c ON c.id = f.cycle_id
     WHERE f.locked_at > $1::timestamptz - interval '${PREVIOUS_LOCK_DAYS} days'
    WINDOW w AS (PARTITION BY f.from_ccy, f.to_ccy ORDER BY f.locked_at, f.cycle_id)) x
   WHERE x.previous_rate IS NOT NULL AND x.locked_at > $1::timestamptz AND ($2::text IS NULL OR x.cycle_id = $2)
   ORDER BY x.locked_at, x.cycle_id, x.from_ccy`;

/**
 * Locks made since `since`, each with the lock of its pair before it (within PREVIOUS_LOCK_DAYS
 * before `since`: the table is read over that horizon, not whole).
 */
export async function fxLockMoves(db: Queryable, since: Date): Promise<FxLockMove[]> {
  const { rows } = await db.query<{
    cycle_id: string;
    partner_id: string;
    from_ccy: string;
    to_ccy: string;
    rate: string;
    locked_at: Date;
    previous_cycle_id: string;
    previous_rate: string;
    previous_locked_at: Date;
  }>(FX_SQL, [since, null]);
  return rows.map((r) => ({
    cycleId: r.cycle_id,
    partnerId: r.partner_id,
    from: r.from_ccy,
    to: r.to_ccy,
    rate: r.rate,
    lockedAt: r.locked_at.toISOString(),
    previousCycleId: r.previous_cycle_id,
    previousRate: r.previous_rate,
    previousLockedAt: r.previous_locked_at.toISOString(),
    query: reproducibleSql(FX_SQL, [since, r.cycle_id]),
  }));
}

// ---------------------------------------------------------------------------------------------
// Big wins held after their period was paid.

/** A win held at ingest whose review is not done: not yet in a book, or its exception still open. */
export interface HeldWinUnderReview {
  partnerId: string;
  txId: string;
  roundId: string;
  gameId: string;
  playerId: string;
  businessDate: string;
  currency: string;
  amount: string;
  multiple: string | null;
  heldAt: string;
  cycleId: string | null;
  evidence: unknown;
  query: string;
}

const HELD_WIN_SQL = `
  SELECT h.partner_id, h.tx_id, h.round_id, h.game_id, h.player_id, h.business_date::text, h.currency,
         h.amount_minor::text, h.multiple::text, h.held_at, h.cycle_id, h.evidence
    FROM held_wins h
    LEFT JOIN exception_books b ON b.cycle_id = h.cycle_id
    LEFT JOIN settlement_exceptions e ON e.cycle_id = h.cycle_id AND e.generation = b.generation
                                     AND e.exception_id = 'big_win:' || h.tx_id
   WHERE h.held_at > $1::timestamptz AND e.resolved_at IS NULL
     AND NOT EXISTS (SELECT 1 FROM settlement_cycles c
                      WHERE c.partner_id = h.partner_id AND c.status = 'Completed'
                        AND h.business_date BETWEEN c.period_start AND c.period_end AND c.id IS DISTINCT FROM h.cycle_id)
     AND ($2::text IS NULL OR (h.partner_id = $2 AND h.tx_id = $3))
   ORDER BY h.partner_id, h.tx_id`;

/** Wins held at ingest in the last 90 days still waiting for a person (after payout: LateBigWin). */
export async function heldWinsUnderReview(
  db: Queryable,
  currencies: CurrencyRegistry,
  at: Date,
): Promise<HeldWinUnderReview[]> {
  const since = new Date(at.getTime() - 90 * 24 * HOUR_MS);
  const { rows } = await db.query<{
    partner_id: string;
    tx_id: string;
    round_id: string;
    game_id: string;
    player_id: string;
    business_date: string;
    currency: string;
    amount_minor: string;
    multiple: string | null;
    held_at: Date;
    cycle_id: string | null;
    evidence: unknown;
  }>(HELD_WIN_SQL, [since, null, null]);
  return rows.map((r) => ({
    partnerId: r.partner_id,
    txId: r.tx_id,
    roundId: r.round_id,
    gameId: r.game_id,
    playerId: r.player_id,
    businessDate: r.business_date,
    currency: r.currency,
    amount: formatAmount(BigInt(r.amount_minor), currencies.scaleOf(r.currency) ?? 0),
    multiple: r.multiple,
    heldAt: r.held_at.toISOString(),
    cycleId: r.cycle_id,
    evidence: r.evidence,
    query: reproducibleSql(HELD_WIN_SQL, [since, r.partner_id, r.tx_id]),
  }));
}

export interface LateBigWin {
  partnerId: string;
  txId: string;
  roundId: string;
  gameId: string;
  businessDate: string;
  currency: string;
  amount: string;
  heldAt: string;
  cycleId: string;
  periodStart: string;
  periodEnd: string;
  query: string;
}

const LATE_WIN_SQL = `
  SELECT h.partner_id, h.tx_id, h.round_id, h.game_id, h.business_date::text, h.currency, h.amount_minor::text,
         h.held_at, c.id AS cycle_id, c.period_start::text, c.period_end::text
    FROM held_wins h
    JOIN settlement_cycles c ON c.partner_id = h.partner_id AND c.status = 'Completed'
                            AND h.business_date BETWEEN c.period_start AND c.period_end
   WHERE h.cycle_id IS DISTINCT FROM c.id AND ($1::text IS NULL OR (h.partner_id = $1 AND h.tx_id = $2))
     -- Reviewed: an operator acknowledged its alert (with a note); it then clears.
     AND NOT EXISTS (SELECT 1 FROM alerts a
                      WHERE a.dedup_key = 'big_win_after_payout:' || h.partner_id || ':' || h.tx_id
                        AND a.acknowledged_at IS NOT NULL)
   ORDER BY h.partner_id, h.tx_id`;

/** Held wins whose business day belongs to a cycle already Completed without them (found after payout). */
export async function bigWinsAfterPayout(db: Queryable, currencies: CurrencyRegistry): Promise<LateBigWin[]> {
  const { rows } = await db.query<{
    partner_id: string;
    tx_id: string;
    round_id: string;
    game_id: string;
    business_date: string;
    currency: string;
    amount_minor: string;
    held_at: Date;
    cycle_id: string;
    period_start: string;
    period_end: string;
  }>(LATE_WIN_SQL, [null, null]);
  return rows.map((r) => ({
    partnerId: r.partner_id,
    txId: r.tx_id,
    roundId: r.round_id,
    gameId: r.game_id,
    businessDate: r.business_date,
    currency: r.currency,
    amount: formatAmount(BigInt(r.amount_minor), currencies.scaleOf(r.currency) ?? 0),
    heldAt: r.held_at.toISOString(),
    cycleId: r.cycle_id,
    periodStart: r.period_start,
    periodEnd: r.period_end,
    query: reproducibleSql(LATE_WIN_SQL, [r.partner_id, r.tx_id]),
  }));
}
