import { z } from 'zod';
import {
  lockedRatesByDay,
  partnersOf,
  referenceRatesByDay,
  revenueRows,
  type PartnerBasics,
  type RateOfDay,
  type RevenueRow,
} from '../../db/insights';
import type { Db } from '../../db/pool';
import { BadRequestError, NotFoundError } from '../../domain/errors';
import { grossGamingRevenue, netGamingRevenue, type PeriodTotals } from '../../domain/fees';
import { convert, formatAmount, parseDecimal, type CurrencyRegistry } from '../../domain/money';
import type { Principal } from '../auth';
import type { Config } from '../../platform/config';

// What the insight routes share: the partners a caller may read, the conversion of a day's
// figures into the partner's settlement currency (at the rate a cycle locked for that day, else
// the day's reference rate: indicative), the one NGR formula (domain/fees.ts), and the schemas
// of amounts and rates.

export const amount = z
  .string()
  .meta({ description: "Decimal string in the currency's major units", example: '1161.09' });
export const day = z.iso.date();

/** How a figure reached the settlement currency. */
export const conversionBases = ['locked', 'reference', 'same_currency'] as const;
export type ConversionBasis = (typeof conversionBases)[number];

export const inSettlementSchema = z
  .object({
    currency: z.string().meta({ description: "The partner's settlement currency", example: 'EUR' }),
    ggr: amount,
    ngr: amount.meta({ description: 'NGR before gaming tax, converted' }),
    rate: z.string().nullable().meta({
      description:
        'The rate used (quote per unit of the row currency); null when the row spans several rates',
      example: '0.9215',
    }),
    rateDay: z
      .string()
      .nullable()
      .meta({ description: 'The day the rate is for (a reference rate may be older than the row)' }),
    source: z.string().nullable(),
    asOf: z.string().nullable(),
    basis: z.enum(conversionBases).meta({
      description:
        "locked: every day at the rate its cycle locked (what the statement uses); reference: at least one day at the day's reference rate (indicative); same_currency: no conversion",
    }),
    ratesUsed: z.number().int().meta({ description: 'Distinct rates behind the row (days × rates)' }),
  })
  .meta({
    id: 'RevenueInSettlementCurrency',
    description:
      "A row's GGR and NGR in the partner's settlement currency; null when some day of it has no rate.",
  });

/** Day-level figures in minor units, with how they convert into the settlement currency. */
export interface DayFigures {
  row: RevenueRow;
  partner: PartnerBasics;
  totals: PeriodTotals;
  /** Null: no rate known for this day and currency. */
  converted: { totals: PeriodTotals; basis: ConversionBasis; rate: RateOfDay | null } | null;
}

const ZERO_TOTALS = (): PeriodTotals => ({
  betMinor: 0n,
  winMinor: 0n,
  bonusCostMinor: 0n,
  jackpotContributionMinor: 0n,
  jackpotWinMinor: 0n,
  baseByCategoryMinor: {},
});

export function addTotals(a: PeriodTotals, b: PeriodTotals): PeriodTotals {
  return {
    betMinor: a.betMinor + b.betMinor,
    winMinor: a.winMinor + b.winMinor,
    bonusCostMinor: a.bonusCostMinor + b.bonusCostMinor,
    jackpotContributionMinor: a.jackpotContributionMinor + b.jackpotContributionMinor,
    jackpotWinMinor: a.jackpotWinMinor + b.jackpotWinMinor,
    baseByCategoryMinor: {},
  };
}
export const zeroTotals = ZERO_TOTALS;

/** GGR and NGR of totals: domain/fees.ts, the one owner of both formulas; no gaming tax (before tax). */
export const ggrOf = (t: PeriodTotals): bigint => grossGamingRevenue(t);
export const ngrBeforeTax = (t: PeriodTotals): bigint => netGamingRevenue(t, 0n);

/**
 * The partners a caller reads: a partner only itself (another's id answers 404 as a missing
 * one does), an operator one partner or every partner.
 */
export async function visiblePartners(
  db: Db,
  principal: Principal,
  partnerId: string | undefined,
): Promise<PartnerBasics[]> {
  if (principal.kind === 'partner' && partnerId !== undefined && partnerId !== principal.partnerId)
    throw notFoundPartner(partnerId);
  const wanted = principal.kind === 'partner' ? principal.partnerId : (partnerId ?? null);
  const partners = await partnersOf(db, wanted);
  if (wanted !== null && partners.length === 0) throw notFoundPartner(wanted);
  return partners;
}

export function notFoundPartner(partnerId: string, path = 'query.partnerId'): NotFoundError {
  return new NotFoundError(`partner ${partnerId} not found`, [{ path, message: 'not found' }]);
}

/** A partner named in the path: visible to operators, and to that partner alone (else 404). */
export async function visiblePartnerInPath(
  db: Db,
  principal: Principal,
  partnerId: string,
): Promise<PartnerBasics> {
  if (principal.kind === 'partner' && principal.partnerId !== partnerId)
    throw notFoundPartner(partnerId, 'params.partnerId');
  const [partner] = await partnersOf(db, partnerId);
  if (!partner) throw notFoundPartner(partnerId, 'params.partnerId');
  return partner;
}

export const daysBetween = (from: string, to: string): number =>
  Math.round((Date.parse(`${to}T00:00:00Z`) - Date.parse(`${from}T00:00:00Z`)) / 86_400_000) + 1;

/** A 400 naming `query.to` when a range is longer than `max` days (both ends counted). */
export function checkRange(from: string, to: string, max: number, why: string): void {
  const days = daysBetween(from, to);
  if (days > max)
    throw new BadRequestError(`the range is ${days} days; at most ${max} ${why}`, [
      { path: 'query.to', message: `at most ${max} days after from, counting both (${why})` },
    ]);
}

/**
 * The partners' figures per business day and currency (and game) over [from, to], each with
 * its conversion into the partner's settlement currency: at the rate the cycle covering that day
 * locked, else the reference rate of the day (the latest stored on or before it), else none.
 * Converted field by field, half-even, as the statement converts (domain/statement.ts).
 */
export async function dayFigures(
  db: Db,
  currencies: CurrencyRegistry,
  q: { partners: PartnerBasics[]; from: string; to: string; byGame: boolean },
): Promise<DayFigures[]> {
  const ids = q.partners.map((p) => p.id);
  const byId = new Map(q.partners.map((p) => [p.id, p]));
  const rows = await revenueRows(db, { partnerIds: ids, from: q.from, to: q.to, byGame: q.byGame });
  const foreign = rows.filter((r) => r.currency !== byId.get(r.partnerId)!.settlementCurrency);
  const locked: Map<string, RateOfDay> =
    foreign.length > 0
      ? await lockedRatesByDay(db, { partnerIds: ids, from: q.from, to: q.to })
      : new Map<string, RateOfDay>();
  const wanted = new Map<string, { from: string; to: string; day: string }>();
  for (const r of foreign) {
    const to = byId.get(r.partnerId)!.settlementCurrency;
    if (locked.has(`${r.partnerId}|${r.businessDate}|${r.currency}|${to}`)) continue;
    wanted.set(`${r.currency}|${to}|${r.businessDate}`, { from: r.currency, to, day: r.businessDate });
  }
  const reference = await referenceRatesByDay(db, [...wanted.values()]);
  return rows.map((row) => {
    const partner = byId.get(row.partnerId)!;
    const totals: PeriodTotals = {
      betMinor: BigInt(row.betMinor),
      winMinor: BigInt(row.winMinor),
      bonusCostMinor: BigInt(row.bonusCostMinor),
      jackpotContributionMinor: BigInt(row.jackpotContributionMinor),
      jackpotWinMinor: BigInt(row.jackpotWinMinor),
      baseByCategoryMinor: {},
    };
    const to = partner.settlementCurrency;
    if (row.currency === to)
      return { row, partner, totals, converted: { totals, basis: 'same_currency' as const, rate: null } };
    const lockedRate = locked.get(`${row.partnerId}|${row.businessDate}|${row.currency}|${to}`);
    const rate = lockedRate ?? reference.get(`${row.currency}|${to}|${row.businessDate}`);
    const parsed = rate ? parseDecimal(rate.rate, { maxScale: 20 }) : null;
    if (!rate || !parsed?.ok) return { row, partner, totals, converted: null };
    const fromScale = currencies.requireScale(row.currency);
    const toScale = currencies.requireScale(to);
    const c = (m: bigint) => convert(m, fromScale, parsed.value, toScale).rounded;
    return {
      row,
      partner,
      totals,
      converted: {
        totals: {
          betMinor: c(totals.betMinor),
          winMinor: c(totals.winMinor),
          bonusCostMinor: c(totals.bonusCostMinor),
          jackpotContributionMinor: c(totals.jackpotContributionMinor),
          jackpotWinMinor: c(totals.jackpotWinMinor),
          baseByCategoryMinor: {},
        },
        basis: lockedRate ? ('locked' as const) : ('reference' as const),
        rate: {
          from: rate.from,
          to: rate.to,
          day: rate.day,
          rate: rate.rate,
          source: rate.source,
          asOf: rate.asOf,
        },
      },
    };
  });
}

/** Figures of several days (and games) summed, with their conversion, ready to answer. */
export class FigureSum {
  txCount = 0n;
  totals = zeroTotals();
  converted: PeriodTotals | null = zeroTotals();
  rates = new Map<string, RateOfDay & { basis: ConversionBasis }>();
  bases = new Set<ConversionBasis>();
  missing = false;

  add(f: DayFigures): void {
    this.txCount += BigInt(f.row.txCount);
    this.totals = addTotals(this.totals, f.totals);
    if (!f.converted) {
      this.missing = true;
      this.converted = null;
      return;
    }
    this.bases.add(f.converted.basis);
    if (f.converted.rate)
      this.rates.set(`${f.converted.rate.rate}|${f.converted.rate.day}|${f.converted.rate.source}`, {
        ...f.converted.rate,
        basis: f.converted.basis,
      });
    if (this.converted) this.converted = addTotals(this.converted, f.converted.totals);
  }

  basis(): ConversionBasis {
    if (this.bases.has('reference')) return 'reference';
    if (this.bases.has('locked')) return 'locked';
    return 'same_currency';
  }
}

/** A sum's figures in its own currency and, when every day of it converted, the settlement currency's. */
export function figuresOf(
  sum: FigureSum,
  currency: string,
  settlementCurrency: string,
  currencies: CurrencyRegistry,
) {
  const own = (m: bigint) => formatAmount(m, currencies.requireScale(currency));
  const t = sum.totals;
  const single = sum.rates.size === 1 ? [...sum.rates.values()][0]! : null;
  const settle = (m: bigint) => formatAmount(m, currencies.requireScale(settlementCurrency));
  return {
    txCount: sum.txCount.toString(),
    bets: own(t.betMinor),
    wins: own(t.winMinor),
    ggr: own(ggrOf(t)),
    bonusCost: own(t.bonusCostMinor),
    jackpotContributions: own(t.jackpotContributionMinor),
    ngr: own(ngrBeforeTax(t)),
    inSettlement:
      sum.converted === null
        ? null
        : {
            currency: settlementCurrency,
            ggr: settle(ggrOf(sum.converted)),
            ngr: settle(ngrBeforeTax(sum.converted)),
            rate: sum.rates.size === 0 ? '1' : (single?.rate ?? null),
            rateDay: single?.day ?? null,
            source: sum.rates.size === 0 ? 'same currency' : (single?.source ?? null),
            asOf: single?.asOf ?? null,
            basis: sum.basis(),
            ratesUsed: sum.rates.size,
          },
  };
}

/** The Temporal UI's page of a workflow (the cycle's id is its workflow id). */
export function temporalWorkflowUrl(config: Pick<Config, 'temporal'>, workflowId: string): string {
  return `${config.temporal.uiUrl.replace(/\/+$/, '')}/namespaces/${encodeURIComponent(
    config.temporal.namespace,
  )}/workflows/${encodeURIComponent(workflowId)}`;
}
