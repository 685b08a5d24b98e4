import { activityInfo, heartbeat } from '@temporalio/activity';
import { ensureAccounts, postEntries, type EntryInput } from '../db/ledger';
import type { Db } from '../db/pool';
import { withTransaction } from '../db/retry';
import { webhookOf } from '../db/partners';
import * as q from '../db/settlement';
import { ConflictError, NotFoundError, UnavailableError, ValidationError } from '../domain/errors';
import { houseAccount, partnerAccount } from '../domain/accounts';
import { computeFees, type PeriodTotals } from '../domain/fees';
import {
  convert,
  defaultCurrencies,
  formatAmount,
  parseAmount,
  parseDecimal,
  type CurrencyRegistry,
} from '../domain/money';
import {
  aggregateDiscrepancies,
  controlTotalsDiscrepancy,
  differingKeys,
  reconcileTransactions,
  type Discrepancy,
} from '../domain/reconciliation';
import {
  resolutionBaseEffect,
  type ResolveExceptionInput,
  type SettlementException,
  type SettlementResolution,
  type SettlementStatus,
  type SettlementInput,
} from '../domain/settlement';
import type { SecretBox } from '../platform/secrets';
import { SIGNATURE_HEADER, signWebhook, TIMESTAMP_HEADER } from '../platform/webhooks';
import { callUpstream, UpstreamRefusedError, UpstreamUnavailableError } from '../platform/outbound-http';
import { adapters } from '../providers/registry';
import { jsonBody, ProviderReportError, ProviderUnavailableError } from '../providers/types';

// Activities of the settlement cycle. Each one may run more than once (Temporal retries,
// worker crashes): every write is keyed by the cycle id, so a repeat changes nothing.
// Values crossing into workflow history are strings, never bigint or float.

export interface CycleArgs extends q.CycleRef {
  currencyScale: number;
  /** Amounts within this many minor units are FX/rounding differences. */
  roundingToleranceMinor: string;
}

/** A webhook receiver's answer is only read to be discarded: a small cap is enough. */
const WEBHOOK_MAX_RESPONSE_BYTES = 64 * 1024;

/** The one mapping of an outbound call's failure: unavailable is retried (after Retry-After). */
function outboundFailure(err: unknown, refused: (e: UpstreamRefusedError) => Error): unknown {
  if (err instanceof UpstreamUnavailableError) return new UnavailableError(err.message, [], err.retryAfterMs);
  if (err instanceof UpstreamRefusedError) return refused(err);
  return err;
}

const toException = (d: Discrepancy): SettlementException => ({
  exceptionId: d.id,
  kind: d.kind,
  txId: d.txId,
  differenceMinor: d.differenceMinor.toString(),
  detail: d.detail,
});

export function settlementActivities({
  db,
  currencies = defaultCurrencies,
  secrets,
  fxRatesUrl,
}: {
  db: Db;
  currencies?: CurrencyRegistry;
  secrets?: SecretBox;
  fxRatesUrl?: string;
}) {
  return {
    /**
     * Locks, once per cycle, the rate of every transaction currency into the settlement
     * currency, with its source and time. A repeat finds the locked rates and reuses them.
     */
    async lockFxRates(c: CycleArgs): Promise<q.LockedRate[]> {
      const totals = await q.periodTotalsByCurrency(db, c);
      const locked = new Map((await q.lockedRates(db, c.cycleId)).map((r) => [r.from, r]));
      for (const from of totals.keys()) {
        if (from === c.currency || locked.has(from)) continue;
        if (!fxRatesUrl) throw new NotFoundError('no FX rates service configured (FX_RATES_URL)');
        const url = new URL('rates', `${fxRatesUrl.replace(/\/+$/, '')}/`);
        url.searchParams.set('base', from);
        url.searchParams.set('quote', c.currency);
        let text: string;
        try {
          ({ text } = await callUpstream(url, {}, { who: 'FX rates service' }));
        } catch (err) {
          throw outboundFailure(err, (refused) =>
            refused.status === 404
              ? new NotFoundError(`no FX rate ${from}/${c.currency}: ${refused.message}`)
              : new ConflictError(`FX rate ${from}/${c.currency}: ${refused.message}`),
          );
        }
        const body = (jsonBody(text) ?? {}) as { rate?: unknown; source?: unknown; asOf?: unknown };
        const rate = parseDecimal(body.rate, { maxScale: 12 });
        if (
          !rate.ok ||
          rate.value.units === 0n ||
          typeof body.source !== 'string' ||
          typeof body.asOf !== 'string'
        ) {
          throw new ConflictError(`malformed FX rate for ${from}/${c.currency}`);
        }
        await q.lockRate(db, c.cycleId, {
          from,
          to: c.currency,
          rate: body.rate as string,
          source: body.source,
          asOf: body.asOf,
        });
      }
      return q.lockedRates(db, c.cycleId);
    },

    /** The time, recorded in history: how the workflow learns "now" for the deadlines it shows. */
    async now(): Promise<string> {
      return new Date().toISOString();
    },

    /** The cycle's row, so that it is listed from its start whoever started it. */
    async registerCycle(c: CycleArgs): Promise<void> {
      await q.registerCycle(db, c);
    },

    async freezePeriod(c: CycleArgs): Promise<{ frozenAt: string }> {
      return { frozenAt: await q.freezeCycle(db, c) };
    },

    /**
     * Pages through the provider's report, storing each page and heartbeating the cursor, so
     * a new worker resumes where a crashed one stopped. Transient provider faults throw
     * (Temporal retries with backoff); a report that cannot be read is non-retryable.
     */
    async fetchProviderReport(
      c: CycleArgs,
    ): Promise<{ rows: number; control: 'ok' | 'absent' | 'mismatch'; exceptions: SettlementException[] }> {
      const provider = await q.providerConnection(db, c.partnerId);
      if (!provider) throw new NotFoundError(`no provider report configured for partner ${c.partnerId}`);
      const adapter = adapters[provider.format];
      if (!adapter) throw new NotFoundError(`no adapter for report format ${provider.format}`);
      const window = await q.periodWindowMs(db, c);
      const resume = activityInfo().heartbeatDetails as { cursor: string | null; ord: number } | undefined;
      let cursor = resume?.cursor ?? null;
      let ord = resume?.ord ?? 1;
      let control: { recordCount: number; sumMinor: bigint } | undefined;
      let fileMismatch: Discrepancy | null = null;
      let fileChecked = false;
      let aggregateKeys = 0;
      for (;;) {
        let page;
        try {
          page = await adapter.fetchPage({
            baseUrl: provider.baseUrl,
            currencies,
            options: provider.options,
            fromMs: window.fromMs,
            toMs: window.toMs,
            cursor,
          });
        } catch (err) {
          if (err instanceof ProviderUnavailableError)
            throw new UnavailableError(err.message, [], err.retryAfterMs);
          if (err instanceof ProviderReportError) throw new ConflictError(err.message);
          throw err;
        }
        await q.storeReportRows(db, c, ord, page.rows);
        await q.storeReportAggregates(db, c.cycleId, page.aggregates ?? []);
        ord += page.rows.length;
        aggregateKeys += page.aggregates?.length ?? 0;
        control = page.control ?? control;
        if (page.fileCheck) {
          fileChecked = true;
          fileMismatch ??= controlTotalsDiscrepancy(page.fileCheck.actual, page.fileCheck.declared);
        }
        cursor = page.nextCursor;
        heartbeat({ cursor, ord });
        if (cursor === null) break;
      }
      const stored = await q.reportTotals(db, c.cycleId);
      const mismatch = fileMismatch ?? (control ? controlTotalsDiscrepancy(stored, control) : null);
      if (mismatch) await q.storeExceptions(db, c.cycleId, [mismatch]);
      const checked = control !== undefined || fileChecked;
      return {
        rows: stored.recordCount + aggregateKeys,
        control: !checked ? 'absent' : mismatch ? 'mismatch' : 'ok',
        exceptions: mismatch ? [toException(mismatch)] : [],
      };
    },

    /** Records that the report could not be fetched at all, as an exception operators resolve. */
    async recordReportUnavailable(c: CycleArgs, reason: string): Promise<SettlementException> {
      const d: Discrepancy = {
        id: 'report_unavailable:report',
        kind: 'report_unavailable',
        key: null,
        txId: null,
        oursMinor: null,
        theirsMinor: null,
        differenceMinor: 0n,
        detail: `provider report unavailable: ${reason}`,
      };
      await q.storeExceptions(db, c.cycleId, [d]);
      return toException(d);
    },

    /** Totals per (day, game, currency) first; transactions only where they differ. */
    async reconcile(
      c: CycleArgs & { frozenAt: string },
    ): Promise<{ keysCompared: number; keysDiffering: number; exceptions: SettlementException[] }> {
      const [ours, theirs] = await Promise.all([q.ourAggregates(db, c), q.theirAggregates(db, c.cycleId)]);
      const keys = differingKeys(ours, theirs);
      let discrepancies: Discrepancy[] = [];
      if (keys.length) {
        const aggregateOnly = await q.hasReportAggregates(db, c.cycleId);
        if (aggregateOnly) {
          // An aggregator reports no transactions: the difference is named per key.
          discrepancies = aggregateDiscrepancies(ours, theirs, keys);
        } else {
          const txs = await q.transactionsForKeys(db, c, keys);
          discrepancies = reconcileTransactions(txs.ours, txs.theirs, {
            frozenAt: c.frozenAt,
            roundingToleranceMinor: BigInt(c.roundingToleranceMinor),
          });
        }
      }
      await q.storeExceptions(db, c.cycleId, discrepancies);
      await q.storeCycleOutputs(db, c.cycleId, {
        report: {
          keysCompared: new Set(
            [...ours, ...theirs].map((k) => `${k.businessDate}|${k.gameId}|${k.currency}`),
          ).size,
          keysDiffering: keys.length,
        },
      });
      return {
        keysCompared: ours.length,
        keysDiffering: keys.length,
        exceptions: discrepancies.map(toException),
      };
    },

    async recordResolution(c: CycleArgs, r: ResolveExceptionInput): Promise<void> {
      const amount =
        r.amount === undefined ? null : parseAmount(r.amount, c.currencyScale, { allowNegative: true });
      await q.storeResolution(db, c.cycleId, {
        ...r,
        amountMinor: amount && amount.ok ? amount.minor : null,
      });
    },

    /**
     * The fee from the contract in force. `resolutions` come from the workflow's state (what
     * the operators decided), never re-read from the database, where the last one may still
     * be being written by its Update handler.
     */
    async computeSettlementFees(
      c: CycleArgs,
      resolutions: SettlementResolution[],
    ): Promise<{
      contractVersion: number;
      grossFee: string;
      taxWithheld: string;
      netPayable: string;
      netPayableMinor: string;
      baseAdjustmentMinor: string;
      /** Each resolution that moves GGR, by how much (minor units, settlement currency). */
      resolutionEffects: { exceptionId: string; effectMinor: string }[];
      lines: { code: string; description: string; base: string; rate: string | null; amount: string }[];
    }> {
      const contract = await q.contractInForce(db, c.partnerId, c.periodStart);
      if (!contract) throw new NotFoundError(`no contract in force for ${c.partnerId} on ${c.periodStart}`);
      // Every currency's totals in the settlement currency, at the rates locked for this cycle.
      const rates = new Map((await q.lockedRates(db, c.cycleId)).map((r) => [r.from, r]));
      const residues: string[] = [];
      const fields = [
        'betMinor',
        'winMinor',
        'bonusCostMinor',
        'jackpotContributionMinor',
        'jackpotWinMinor',
        'gamingTaxMinor',
      ] as const;
      const totals: PeriodTotals = {
        betMinor: 0n,
        winMinor: 0n,
        bonusCostMinor: 0n,
        jackpotContributionMinor: 0n,
        jackpotWinMinor: 0n,
        gamingTaxMinor: 0n,
        baseByCategoryMinor: {},
      };
      for (const [currency, t] of await q.periodTotalsByCurrency(db, c)) {
        if (currency === c.currency) {
          for (const f of fields) totals[f] += t[f];
          continue;
        }
        const locked = rates.get(currency);
        const rate = locked ? parseDecimal(locked.rate, { maxScale: 20 }) : null;
        if (!rate?.ok) throw new NotFoundError(`no FX rate locked for ${currency}/${c.currency}`);
        for (const f of fields) {
          const r = convert(t[f], currencies.requireScale(currency), rate.value, c.currencyScale);
          totals[f] += r.rounded;
          if (r.residue.num !== 0n) residues.push(`${currency} ${f}: ${r.residue.num}/${r.residue.den}`);
        }
      }
      const facts = await q.exceptionFacts(db, c.cycleId);
      let adjustment = 0n;
      const resolutionEffects: { exceptionId: string; effectMinor: string }[] = [];
      for (const r of resolutions) {
        const fact = facts.get(r.exceptionId);
        if (!fact) throw new NotFoundError(`exception ${r.exceptionId} is not one of ${c.cycleId}'s`);
        const amount =
          r.amount === undefined ? null : parseAmount(r.amount, c.currencyScale, { allowNegative: true });
        if (amount && !amount.ok) throw new ValidationError(`amount of ${r.exceptionId}: ${amount.message}`);
        const effect = resolutionBaseEffect(fact, {
          resolution: r.resolution,
          ...(amount?.ok ? { amountMinor: amount.minor } : {}),
        });
        adjustment += effect;
        if (effect !== 0n)
          resolutionEffects.push({ exceptionId: r.exceptionId, effectMinor: effect.toString() });
      }
      // The adjustment moves the base: applied as extra bets (positive) or wins (negative).
      const adjusted =
        adjustment >= 0n
          ? { ...totals, betMinor: totals.betMinor + adjustment }
          : { ...totals, winMinor: totals.winMinor - adjustment };
      const fees = computeFees(contract.terms, adjusted);
      const fmt = (m: bigint) => formatAmount(m, c.currencyScale);
      const summary = {
        contractVersion: contract.version,
        grossFee: fmt(fees.grossFeeMinor),
        taxWithheld: fmt(fees.taxWithheldMinor),
        netPayable: fmt(fees.netPayableMinor),
        netPayableMinor: fees.netPayableMinor.toString(),
        baseAdjustmentMinor: adjustment.toString(),
        resolutionEffects,
        fxRates: [...rates.values()],
        fxRoundingResidues: residues,
        ggr: fmt(fees.ggrMinor),
        feeBase: fmt(fees.feeBaseMinor),
        // Base and rate in the statement's own terms: "10596.49 at 0.12".
        lines: fees.lines.map((l) => ({
          code: l.code,
          description: l.rate === null ? l.description : `${fmt(l.baseMinor)} at ${l.rate}`,
          base: fmt(l.baseMinor),
          rate: l.rate,
          amount: fmt(l.amountMinor),
        })),
      };
      await q.storeCycleOutputs(db, c.cycleId, { fees: summary });
      return summary;
    },

    /** Posts the fee (expense → payable, and tax withheld) under keys derived from the cycle. */
    /**
     * Posts the cycle's money under keys derived from it, in one transaction: each resolution
     * that moves GGR (`<cycle>:resolution:<exceptionId>`, game activity ↔ gaming revenue, so
     * that the ledger's GGR for the period is the statement's), then the fee (expense →
     * payable, and tax withheld) as `<cycle>:fees`.
     */
    async postSettlement(
      c: CycleArgs,
      fees: {
        grossFee: string;
        taxWithheld: string;
        netPayable: string;
        resolutionEffects?: { exceptionId: string; effectMinor: string }[];
      },
    ): Promise<{ entryIds: string[] }> {
      const amount = (s: string) => {
        const p = parseAmount(s, c.currencyScale);
        if (!p.ok) throw new Error(`bad amount ${s}`);
        return p.minor;
      };
      const net = amount(fees.netPayable);
      const tax = amount(fees.taxWithheld);
      const effects = (fees.resolutionEffects ?? []).map((e) => ({ ...e, minor: BigInt(e.effectMinor) }));
      if (net + tax === 0n && effects.length === 0) return { entryIds: [] };
      return withTransaction(db, async (client) => {
        const fee = partnerAccount(c.partnerId, 'provider_fees', c.currency);
        const payable = partnerAccount(c.partnerId, 'fees_payable', c.currency);
        const withheld = partnerAccount(c.partnerId, 'tax_withheld', c.currency);
        const activity = partnerAccount(c.partnerId, 'game_activity', c.currency);
        const revenue = partnerAccount(c.partnerId, 'gaming_revenue', c.currency);
        const ids = await ensureAccounts(client, [fee, payable, withheld, activity, revenue]);
        const move = (from: { code: string }, to: { code: string }, amountMinor: bigint) => ({
          debitAccountId: ids.get(from.code)!,
          creditAccountId: ids.get(to.code)!,
          currency: c.currency,
          amountMinor,
        });
        const entries: EntryInput[] = effects.map((e) => ({
          idempotencyKey: `${c.cycleId}:resolution:${e.exceptionId}`,
          effectiveDate: c.periodEnd,
          sourceKind: 'adjustment',
          sourceRef: c.cycleId,
          metadata: { partnerId: c.partnerId, exceptionId: e.exceptionId, ggrEffectMinor: e.effectMinor },
          // More GGR: game play owes the operator more; less: the reverse.
          postings: [e.minor > 0n ? move(activity, revenue, e.minor) : move(revenue, activity, -e.minor)],
        }));
        const postings = [
          ...(net > 0n ? [move(fee, payable, net)] : []),
          ...(tax > 0n ? [move(fee, withheld, tax)] : []),
        ];
        if (postings.length > 0) {
          entries.push({
            idempotencyKey: `${c.cycleId}:fees`,
            effectiveDate: c.periodEnd,
            sourceKind: 'settlement',
            sourceRef: c.cycleId,
            metadata: {
              partnerId: c.partnerId,
              periodStart: c.periodStart,
              periodEnd: c.periodEnd,
              grossFee: fees.grossFee,
              taxWithheld: fees.taxWithheld,
              netPayable: fees.netPayable,
            },
            postings,
          });
        }
        const results = await postEntries(client, entries);
        return { entryIds: results.map((r) => r.entryId) };
      });
    },

    async buildStatement(
      c: CycleArgs,
      parts: { fees: unknown; entryIds: string[]; exceptions: SettlementException[] },
    ): Promise<{ lines: number }> {
      // Every figure traceable: the positions (source aggregates) the fee base came from,
      // the exceptions and how they were resolved, and the ledger entries posted.
      const sources = (await q.ourAggregates(db, c)).map((a) => ({
        businessDate: a.businessDate,
        gameId: a.gameId,
        currency: a.currency,
        betCount: a.betCount.toString(),
        bets: formatAmount(a.betMinor, currencies.requireScale(a.currency)),
        wins: formatAmount(a.winMinor, currencies.requireScale(a.currency)),
      }));
      const statement = {
        cycleId: c.cycleId,
        partnerId: c.partnerId,
        period: { start: c.periodStart, end: c.periodEnd },
        currency: c.currency,
        fees: parts.fees,
        sources,
        exceptions: parts.exceptions,
        ledgerEntryIds: parts.entryIds,
      };
      await q.storeCycleOutputs(db, c.cycleId, { statement });
      return { lines: parts.exceptions.length + 1 };
    },

    /** Pays the partner: fees payable → payouts clearing, once per cycle. */
    async recordPayout(
      c: CycleArgs,
      p: { netPayableMinor: string; approvers: string[] },
    ): Promise<{ entryId: string | null }> {
      const amount = BigInt(p.netPayableMinor);
      if (amount <= 0n) return { entryId: null };
      return withTransaction(db, async (client) => {
        const payable = partnerAccount(c.partnerId, 'fees_payable', c.currency);
        const clearing = houseAccount('payouts_clearing', c.currency);
        const ids = await ensureAccounts(client, [payable, clearing]);
        const [r] = await postEntries(client, [
          {
            idempotencyKey: `${c.cycleId}:payout`,
            effectiveDate: c.periodEnd,
            sourceKind: 'settlement',
            sourceRef: c.cycleId,
            metadata: { approvers: p.approvers },
            postings: [
              {
                debitAccountId: ids.get(payable.code)!,
                creditAccountId: ids.get(clearing.code)!,
                currency: c.currency,
                amountMinor: amount,
              },
            ],
          },
        ]);
        return { entryId: r!.entryId };
      });
    },

    async planScheduledCycle(p: { partnerId: string; firedAt: string }): Promise<SettlementInput> {
      return q.planCycle(db, currencies, { partnerId: p.partnerId, periodStart: null, firedAt: p.firedAt });
    },

    /**
     * Tells the partner its cycle is done: a signed webhook (HMAC-SHA256 over timestamp and
     * body). A refused or failed delivery throws, and Temporal retries it with backoff; every
     * attempt is signed afresh with its own timestamp.
     */
    async notifyPartner(c: CycleArgs, event: Record<string, unknown>): Promise<'sent' | 'no-webhook'> {
      const hook = await webhookOf(db, c.partnerId);
      if (!hook) return 'no-webhook';
      if (!secrets) throw new Error('no SecretBox configured for webhook signing');
      const body = JSON.stringify({ type: 'settlement.completed', id: `${c.cycleId}:completed`, ...event });
      const ts = Math.floor(Date.now() / 1000);
      try {
        await callUpstream(
          hook.url,
          {
            method: 'POST',
            headers: {
              'content-type': 'application/json',
              [TIMESTAMP_HEADER]: String(ts),
              [SIGNATURE_HEADER]: signWebhook(secrets.open(hook.secretSealed), ts, body),
            },
            body,
          },
          { who: 'partner webhook', maxBytes: WEBHOOK_MAX_RESPONSE_BYTES },
        );
      } catch (err) {
        // A partner that refuses is retried with backoff too: it may be mid-deploy.
        throw outboundFailure(err, (refused) => new UnavailableError(refused.message));
      }
      return 'sent';
    },

    /** Mirrors the status the workflow published (its publish() is the only caller). */
    async setCycleStatus(cycleId: string, status: SettlementStatus): Promise<void> {
      await q.setCycleStatus(db, cycleId, status);
    },
  };
}
