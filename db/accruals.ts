import type pg from 'pg';
import { readContractTerms, type StoredContractTerms } from '../domain/contract';
import { NotFoundError } from '../domain/errors';
import type { FeeResult, MonthToDate } from '../domain/fees';
import { formatAmount, type CurrencyRegistry } from '../domain/money';
import type { Resolution } from '../domain/settlement';
import type { AggregateRow } from '../domain/reconciliation';
import type { ExceptionRecord, PayoutInputs, SourceRow, StatementInputs } from '../domain/statement';
import { lockedRates, type CycleRef } from './settlement';
import { aggregateRow, type AggregateSqlRow } from './reports';

// A period's money state between cycles: the month's accrual (tier volume, variable fees,
// guarantee top-ups, fixed fee) and the carry one period leaves for a later one. Every write
// happens in the fee step's transaction, under the partner's lock, once per cycle.

type Queryable = Pick<pg.Pool | pg.PoolClient, 'query'>;

/** Serialises the fee steps of one partner's cycles (month-to-date and carries are shared). */
export async function lockPartnerMoney(db: pg.PoolClient, partnerId: string): Promise<void> {
  await db.query(`SELECT pg_advisory_xact_lock(hashtext('clearhouse:accrual:' || $1))`, [partnerId]);
}

/**
 * Freezes our positions for the period (rollbacks netted, categories as catalogued now), once:
 * a repeat finds the cycle's sources frozen and changes nothing, even if positions moved since.
 */
export async function snapshotSources(db: Queryable, c: CycleRef): Promise<void> {
  await db.query(
    `WITH claim AS (
       UPDATE settlement_cycles SET sources_frozen_at = now() WHERE id = $1 AND sources_frozen_at IS NULL RETURNING id),
     pos AS (
       SELECT business_date, game_id, currency, sum(bet_count) AS bet_count, sum(bet_minor) AS bet, sum(win_minor) AS win,
              sum(rollback_bet_minor) AS rb_bet, sum(rollback_win_minor) AS rb_win, sum(bonus_win_minor) AS bonus,
              sum(jackpot_contribution_minor) AS jc, sum(jackpot_win_minor) AS jw
         FROM positions WHERE partner_id = $2 AND business_date BETWEEN $3 AND $4
        GROUP BY 1, 2, 3),
     other AS (
       SELECT business_date, game_id, currency,
              coalesce(sum(amount_minor) FILTER (WHERE ref_type = 'bonus_win'), 0) AS bonus,
              coalesce(sum(amount_minor) FILTER (WHERE ref_type = 'jackpot_contribution'), 0) AS jc,
              coalesce(sum(amount_minor) FILTER (WHERE ref_type = 'jackpot_win'), 0) AS jw
         FROM game_transactions
        WHERE partner_id = $2 AND business_date BETWEEN $3 AND $4
          AND type = 'rollback' AND ref_type IN ('bonus_win', 'jackpot_contribution', 'jackpot_win')
        GROUP BY 1, 2, 3)
     INSERT INTO settlement_sources (cycle_id, business_date, game_id, currency, category, bet_count, bet_minor, win_minor,
                                     rollback_bet_minor, rollback_win_minor, bonus_win_minor, jackpot_contribution_minor, jackpot_win_minor)
     SELECT $1, p.business_date, p.game_id, p.currency, g.category, p.bet_count, p.bet, p.win, p.rb_bet, p.rb_win,
            p.bonus - coalesce(o.bonus, 0), p.jc - coalesce(o.jc, 0), p.jw - coalesce(o.jw, 0)
       FROM pos p
       LEFT JOIN other o USING (business_date, game_id, currency)
       LEFT JOIN partner_games g ON g.partner_id = $2 AND g.game_id = p.game_id
      WHERE EXISTS (SELECT 1 FROM claim)`,
    [c.cycleId, c.partnerId, c.periodStart, c.periodEnd],
  );
}

export async function cycleSources(db: Queryable, cycleId: string): Promise<SourceRow[]> {
  const { rows } = await db.query<Record<string, string | null>>(
    `SELECT business_date::text AS d, game_id, currency, category, bet_count::text, bet_minor::text, win_minor::text,
            rollback_bet_minor::text AS rb_bet, rollback_win_minor::text AS rb_win, bonus_win_minor::text AS bonus,
            jackpot_contribution_minor::text AS jc, jackpot_win_minor::text AS jw
       FROM settlement_sources WHERE cycle_id = $1 ORDER BY business_date, game_id, currency`,
    [cycleId],
  );
  return rows.map((r) => ({
    businessDate: r.d!,
    gameId: r.game_id!,
    category: r.category ?? null,
    currency: r.currency!,
    betCount: BigInt(r.bet_count!),
    betMinor: BigInt(r.bet_minor!),
    winMinor: BigInt(r.win_minor!),
    rollbackBetMinor: BigInt(r.rb_bet!),
    rollbackWinMinor: BigInt(r.rb_win!),
    bonusWinMinor: BigInt(r.bonus!),
    jackpotContributionMinor: BigInt(r.jc!),
    jackpotWinMinor: BigInt(r.jw!),
  }));
}

/** Our side of reconciliation: the frozen sources' totals per (day, game, currency). */
export async function sourceAggregates(db: Queryable, cycleId: string): Promise<AggregateRow[]> {
  const { rows } = await db.query<AggregateSqlRow>(
    `SELECT business_date::text, game_id, currency, bet_count::text, bet_minor::text, win_minor::text
       FROM settlement_sources WHERE cycle_id = $1`,
    [cycleId],
  );
  return rows.map(aggregateRow);
}

/** The month so far: the other cycles of the partner's month (currency) whose fees are computed. */
export async function monthToDate(
  db: Queryable,
  p: { cycleId: string; partnerId: string; currency: string; month: string },
): Promise<MonthToDate> {
  const { rows } = await db.query<Record<string, string | boolean>>(
    `SELECT coalesce(sum(tax_base_minor), 0)::text AS tax_base, coalesce(sum(gaming_tax_minor), 0)::text AS tax,
            coalesce(sum(volume_minor), 0)::text AS volume, coalesce(sum(tier_fee_minor), 0)::text AS tier,
            coalesce(sum(variable_fee_minor), 0)::text AS variable, coalesce(sum(top_up_minor), 0)::text AS top_up,
            coalesce(bool_or(fixed_fee_charged), false) AS fixed, coalesce(bool_or(closes_month), false) AS closed
       FROM settlement_accruals WHERE partner_id = $1 AND currency = $2 AND month = $3 AND cycle_id <> $4`,
    [p.partnerId, p.currency, p.month, p.cycleId],
  );
  const r = rows[0]!;
  return {
    taxBaseMinor: BigInt(r.tax_base as string),
    gamingTaxMinor: BigInt(r.tax as string),
    volumeMinor: BigInt(r.volume as string),
    tierFeeMinor: BigInt(r.tier as string),
    variableFeeMinor: BigInt(r.variable as string),
    topUpMinor: BigInt(r.top_up as string),
    fixedFeeCharged: r.fixed as boolean,
    closed: r.closed as boolean,
  };
}

/**
 * Claims, for this cycle, every carry left by an earlier period (ended before this one
 * starts) that no cycle has claimed yet: a carry goes to the first later period whose fee is
 * computed, exactly once. Run under lockPartnerMoney.
 */
export async function claimCarries(
  db: Queryable,
  p: { cycleId: string; partnerId: string; currency: string; periodStart: string },
): Promise<{ fromSettlementId: string; amountMinor: bigint }[]> {
  const { rows } = await db.query<{ cycle_id: string; carried_out_minor: string }>(
    `UPDATE settlement_accruals SET carry_claimed_by = $1
      WHERE partner_id = $2 AND currency = $3 AND period_end < $4 AND carried_out_minor <> 0 AND carry_claimed_by IS NULL
      RETURNING cycle_id, carried_out_minor::text`,
    [p.cycleId, p.partnerId, p.currency, p.periodStart],
  );
  return rows
    .map((r) => ({ fromSettlementId: r.cycle_id, amountMinor: BigInt(r.carried_out_minor) }))
    .sort((a, b) => (a.fromSettlementId < b.fromSettlementId ? -1 : 1));
}

/** What a cycle's fee step froze: inputs kept nowhere else, and the statement's bytes. */
export interface FrozenAccrualInputs {
  contractVersion: number;
  currencyScale: number;
  month: string;
  closesMonth: boolean;
  monthToDate: {
    taxBaseMinor?: string;
    gamingTaxMinor?: string;
    volumeMinor: string;
    tierFeeMinor: string;
    variableFeeMinor: string;
    topUpMinor: string;
    fixedFeeCharged: boolean;
    closed: boolean;
  };
  carriedIn: { fromSettlementId: string; amountMinor: string }[];
  /** Exceptions whose transaction arrived after the freeze, with our amount, as the fee step saw them. */
  lateAccrued?: Record<string, string>;
  /** The payout section's inputs (domain/statement.ts withPayout), when the statement has one. */
  payout?: {
    minimumPayoutMinor: string;
    broughtForward: { id: string; kind: string; ref: string; amountMinor: string; note: string }[];
  };
}

export interface AccrualRow {
  cycleId: string;
  inputs: FrozenAccrualInputs;
  statementText: string;
}

export async function accrualOf(db: Queryable, cycleId: string): Promise<AccrualRow | null> {
  const { rows } = await db.query<{ inputs: FrozenAccrualInputs; statement_text: string }>(
    'SELECT inputs, statement_text FROM settlement_accruals WHERE cycle_id = $1',
    [cycleId],
  );
  return rows[0] ? { cycleId, inputs: rows[0].inputs, statementText: rows[0].statement_text } : null;
}

export async function insertAccrual(
  db: Queryable,
  a: {
    cycle: CycleRef;
    month: string;
    closesMonth: boolean;
    accrual: FeeResult['accrual'];
    fixedFeeCharged: boolean;
    carriedOutMinor: bigint;
    inputs: FrozenAccrualInputs;
    statementText: string;
  },
): Promise<void> {
  await db.query(
    `INSERT INTO settlement_accruals (cycle_id, partner_id, currency, month, period_start, period_end, closes_month,
                                      volume_minor, tier_fee_minor, variable_fee_minor, top_up_minor, fixed_fee_charged,
                                      carried_out_minor, inputs, statement_text, tax_base_minor, gaming_tax_minor)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)`,
    [
      a.cycle.cycleId,
      a.cycle.partnerId,
      a.cycle.currency,
      a.month,
      a.cycle.periodStart,
      a.cycle.periodEnd,
      a.closesMonth,
      a.accrual.volumeMinor.toString(),
      a.accrual.tierFeeMinor.toString(),
      a.accrual.variableFeeMinor.toString(),
      a.accrual.topUpMinor.toString(),
      a.fixedFeeCharged,
      a.carriedOutMinor.toString(),
      JSON.stringify(a.inputs),
      a.statementText,
      a.accrual.taxBaseMinor.toString(),
      a.accrual.gamingTaxMinor.toString(),
    ],
  );
}

/** A cycle's exceptions as reconciliation recorded them, with the resolution stored for each. */
export async function exceptionRecords(
  db: Queryable,
  cycleId: string,
  currencyScale: number,
): Promise<ExceptionRecord[]> {
  const { rows } = await db.query<{
    exception_id: string;
    kind: string;
    tx_id: string | null;
    difference_minor: string;
    late_accrued_minor: string | null;
    detail: string;
    currency: string | null;
    tx_type: string | null;
    is_aggregate: boolean;
    resolution: Resolution | null;
    amount: string | null;
    reason: string | null;
    operator: string | null;
    resolution_group: string | null;
    expected_until: Date | null;
    write_off_account: string | null;
  }>(
    `SELECT e.exception_id, e.kind, e.tx_id, e.difference_minor::text, e.detail, e.currency, e.resolution_group, e.expected_until, e.write_off_account,
            CASE WHEN g.received_at > c.frozen_at THEN g.amount_minor::text END AS late_accrued_minor, coalesce(g.type, e.report_tx_type) AS tx_type,
            (e.tx_id IS NULL AND e.game_id IS NOT NULL) AS is_aggregate,
            e.resolution, e.resolution_amount_minor::text AS amount, e.reason, e.operator
       FROM settlement_exceptions e
       JOIN settlement_cycles c ON c.id = e.cycle_id
       JOIN exception_books b ON b.cycle_id = e.cycle_id AND b.generation = e.generation
       LEFT JOIN game_transactions g ON g.partner_id = c.partner_id AND g.tx_id = e.tx_id
      WHERE e.cycle_id = $1 AND e.kind <> 'fee_variance' ORDER BY e.exception_id`,
    [cycleId],
  );
  return rows.map((r) => ({
    exceptionId: r.exception_id,
    kind: r.kind,
    txId: r.tx_id,
    differenceMinor: r.difference_minor,
    lateAccruedMinor: r.late_accrued_minor,
    detail: r.detail,
    currency: r.currency,
    txType: r.tx_type,
    isAggregate: r.is_aggregate,
    ...(r.resolution_group === null ? {} : { group: r.resolution_group }),
    ...(r.expected_until === null ? {} : { expectedUntil: r.expected_until.toISOString() }),
    ...(r.write_off_account === null ? {} : { writeOffAccount: r.write_off_account }),
    resolution:
      r.resolution === null
        ? null
        : {
            resolution: r.resolution,
            ...(r.amount === null ? {} : { amount: formatAmount(BigInt(r.amount), currencyScale) }),
            reason: r.reason ?? '',
            operator: r.operator ?? '',
          },
  }));
}

export async function contractVersion(
  db: Queryable,
  partnerId: string,
  version: number,
): Promise<StoredContractTerms> {
  const { rows } = await db.query<{ terms: unknown }>(
    'SELECT terms FROM partner_contracts WHERE partner_id = $1 AND version = $2',
    [partnerId, version],
  );
  if (!rows[0]) throw new NotFoundError(`contract version ${version} of ${partnerId} not found`);
  readContractTerms(rows[0].terms);
  return rows[0].terms as StoredContractTerms;
}

/**
 * A settled period's inputs, each from where it was frozen (sources, FX locks, exceptions and
 * resolutions, the contract version, the accrual's carries and month-to-date), and the bytes
 * of the statement it produced: a dry run recomputes from these.
 */
export async function frozenStatementInputs(
  db: Queryable,
  currencies: CurrencyRegistry,
  cycleId: string,
): Promise<{ inputs: StatementInputs; storedText: string; payout: PayoutInputs | null } | null> {
  const { rows } = await db.query<{
    partner_id: string;
    period_start: string;
    period_end: string;
    currency: string;
    inputs: FrozenAccrualInputs;
    statement_text: string;
  }>(
    `SELECT partner_id, period_start::text, period_end::text, currency, inputs, statement_text
       FROM settlement_accruals WHERE cycle_id = $1`,
    [cycleId],
  );
  const row = rows[0];
  if (!row) return null;
  const f = row.inputs;
  const cycle = {
    cycleId,
    partnerId: row.partner_id,
    periodStart: row.period_start,
    periodEnd: row.period_end,
    currency: row.currency,
  };
  const [sources, fxRates, exceptions, terms] = await Promise.all([
    cycleSources(db, cycleId),
    lockedRates(db, cycleId),
    exceptionRecords(db, cycleId, f.currencyScale),
    contractVersion(db, row.partner_id, f.contractVersion),
  ]);
  return {
    storedText: row.statement_text,
    payout: f.payout
      ? {
          minimumPayoutMinor: BigInt(f.payout.minimumPayoutMinor),
          broughtForward: f.payout.broughtForward.map((b) => ({ ...b, amountMinor: BigInt(b.amountMinor) })),
        }
      : null,
    inputs: {
      ...cycle,
      currencyScale: f.currencyScale,
      contract: { version: f.contractVersion, terms },
      currencyScales: currencyScales(currencies, sources, exceptions),
      sources,
      fxRates,
      // Late arrivals as the fee step saw them (another could arrive after it).
      exceptions: exceptions.map((e) => ({ ...e, lateAccruedMinor: f.lateAccrued?.[e.exceptionId] ?? null })),
      carriedIn: f.carriedIn.map((c) => ({
        fromSettlementId: c.fromSettlementId,
        amountMinor: BigInt(c.amountMinor),
      })),
      month: f.month,
      closesMonth: f.closesMonth,
      monthToDate: {
        taxBaseMinor: BigInt(f.monthToDate.taxBaseMinor ?? '0'),
        gamingTaxMinor: BigInt(f.monthToDate.gamingTaxMinor ?? '0'),
        volumeMinor: BigInt(f.monthToDate.volumeMinor),
        tierFeeMinor: BigInt(f.monthToDate.tierFeeMinor),
        variableFeeMinor: BigInt(f.monthToDate.variableFeeMinor),
        topUpMinor: BigInt(f.monthToDate.topUpMinor),
        fixedFeeCharged: f.monthToDate.fixedFeeCharged,
        closed: f.monthToDate.closed,
      },
    },
  };
}

/** Serialises the month-to-date for the frozen inputs. */
export function frozenMonth(m: MonthToDate): FrozenAccrualInputs['monthToDate'] {
  return {
    taxBaseMinor: m.taxBaseMinor.toString(),
    gamingTaxMinor: m.gamingTaxMinor.toString(),
    volumeMinor: m.volumeMinor.toString(),
    tierFeeMinor: m.tierFeeMinor.toString(),
    variableFeeMinor: m.variableFeeMinor.toString(),
    topUpMinor: m.topUpMinor.toString(),
    fixedFeeCharged: m.fixedFeeCharged,
    closed: m.closed,
  };
}

/** The game catalogue: sets categories of the listed games (others unchanged); idempotent. */
export async function upsertGames(
  db: Queryable,
  partnerId: string,
  games: { gameId: string; category: string; name?: string | undefined }[],
): Promise<void> {
  if (games.length === 0) return;
  await db.query(
    `INSERT INTO partner_games (partner_id, game_id, category, name)
     SELECT $1, * FROM unnest($2::text[], $3::text[], $4::text[])
     ON CONFLICT (partner_id, game_id) DO UPDATE SET category = EXCLUDED.category, name = EXCLUDED.name, updated_at = now()
       WHERE (partner_games.category, partner_games.name) IS DISTINCT FROM (EXCLUDED.category, EXCLUDED.name)`,
    [partnerId, games.map((g) => g.gameId), games.map((g) => g.category), games.map((g) => g.name ?? null)],
  );
}

/** The catalogue by game id: `limit` after the game id `after`. */
export async function listGames(
  db: Queryable,
  partnerId: string,
  pageOf: { limit: number; after: string | null },
): Promise<{ gameId: string; category: string; name: string | null }[]> {
  const { rows } = await db.query<{ game_id: string; category: string; name: string | null }>(
    `SELECT game_id, category, name FROM partner_games
      WHERE partner_id = $1 AND ($2::text IS NULL OR game_id > $2) ORDER BY game_id LIMIT $3`,
    [partnerId, pageOf.after, pageOf.limit],
  );
  return rows.map((r) => ({ gameId: r.game_id, category: r.category, name: r.name }));
}

/** The currencies of the cycle's frozen sources and of its exceptions (those that need an FX rate). */
export async function sourceCurrencies(db: Queryable, cycleId: string): Promise<string[]> {
  const { rows } = await db.query<{ currency: string }>(
    `SELECT currency FROM settlement_sources WHERE cycle_id = $1
     UNION SELECT e.currency FROM settlement_exceptions e
             JOIN exception_books b ON b.cycle_id = e.cycle_id AND b.generation = e.generation
            WHERE e.cycle_id = $1 AND e.currency IS NOT NULL AND e.kind <> 'fee_variance'
     ORDER BY currency`,
    [cycleId],
  );
  return rows.map((r) => r.currency);
}

/** The scale of every currency a period's sources and exceptions use. */
export function currencyScales(
  currencies: CurrencyRegistry,
  sources: { currency: string }[],
  exceptions: { currency: string | null }[],
): Record<string, number> {
  const codes = new Set([
    ...sources.map((s) => s.currency),
    ...exceptions.flatMap((e) => (e.currency ? [e.currency] : [])),
  ]);
  return Object.fromEntries([...codes].sort().map((ccy) => [ccy, currencies.requireScale(ccy)]));
}

/**
 * The statement's bytes once the cycle has published it (after posting): as the fee step
 * stored them; for cycles settled before statements were kept as bytes, their stored JSON.
 */
export async function publishedStatement(db: Queryable, cycleId: string): Promise<string | null> {
  const { rows } = await db.query<{ text: string | null; statement: unknown }>(
    `SELECT a.statement_text AS text, c.statement FROM settlement_cycles c
       LEFT JOIN settlement_accruals a ON a.cycle_id = c.id
      WHERE c.id = $1 AND (c.statement IS NOT NULL OR c.statement_published_at IS NOT NULL)`,
    [cycleId],
  );
  const r = rows[0];
  if (!r) return null;
  return r.text ?? `${JSON.stringify(r.statement, null, 2)}\n`;
}
