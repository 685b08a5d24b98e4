import { Context } from '@temporalio/activity';
import { WorkflowNotFoundError } from '@temporalio/client';
import { settlementWorkflowId } from '../workflows/ids';
import { ensureAccounts, postEntries, type EntryInput } from '../db/ledger';
import type { Db } from '../db/pool';
import { withTransaction } from '../db/retry';
import { webhookOf } from '../db/partners';
import * as q from '../db/settlement';
import { ConflictError, NotFoundError, ValidationError } from '../domain/errors';
import * as accruals from '../db/accruals';
import { gamingTaxAccount, houseAccount, partnerAccount, type PartnerAccountName } from '../domain/accounts';
import { accrualMonth, closesMonth, earlierPeriodStarts } from '../domain/contract';
import {
  defaultCurrencies,
  formatAmount,
  parseAmount,
  parseDecimal,
  type CurrencyRegistry,
} from '../domain/money';
import {
  ledgerEntryKeys,
  renderStatement,
  settlePeriod,
  type Statement,
  type StatementInputs,
} from '../domain/statement';
import {
  type ResolveExceptionInput,
  type SettlementException,
  type SettlementResolution,
  type SettlementStatus,
  cyclePlanDifferences,
  type CyclePlan,
  type SettlementInput,
} from '../domain/settlement';
import type { SecretBox } from '../platform/secrets';
import { callUpstream } from '../platform/outbound-http';
import { auditWorkflowStep } from './audit';
import { deliverSignedWebhook, outboundFailure } from './failures';
import { jsonBody } from '../providers/types';

// Activities of the settlement cycle. Each one may run more than once (Temporal retries,
// worker crashes): every write is keyed by the cycle id, so a repeat changes nothing.
// Values crossing into workflow history are strings, never bigint or float.

export interface CycleArgs extends q.CycleRef {
  currencyScale: number;
  /** Amounts within this many minor units are FX/rounding differences. */
  roundingToleranceMinor: string;
}

/** What the workflow keeps of the fee step: the statement's figures and what to post. */
export interface FeeSummary {
  contractVersion: number;
  grossFee: string;
  taxWithheld: string;
  netPayable: string;
  netPayableMinor: string;
  ggr: string;
  feeBase: string;
  lines: Statement['lines'];
  posting: {
    resolutionEffects: { exceptionId: string; effect: string }[];
    gamingTax: { jurisdiction: string; amount: string } | null;
    carriedIn: string;
    carriedOut: string;
  };
}

function feeSummary(s: Statement, scale: number): FeeSummary {
  const net = parseAmount(s.netPayable, scale);
  if (!net.ok) throw new Error(`statement of ${s.settlementId}: net payable ${s.netPayable}`);
  return {
    contractVersion: s.contractVersion,
    grossFee: s.grossFee,
    taxWithheld: s.taxWithheld,
    netPayable: s.netPayable,
    netPayableMinor: net.minor.toString(),
    ggr: s.revenue.ggr,
    feeBase: s.base.feeBase,
    lines: s.lines,
    posting: {
      // What each resolution's entry moves (its GGR effect less what ingest already accrued).
      resolutionEffects: s.revenue.resolutions
        .filter((r) => r.posted !== formatAmount(0n, scale))
        .map((r) => ({ exceptionId: r.exceptionId, effect: r.posted })),
      gamingTax: s.revenue.gamingTax
        ? { jurisdiction: s.revenue.gamingTax.jurisdiction, amount: s.revenue.gamingTax.amount }
        : null,
      carriedIn: formatAmount(
        s.base.carriedIn.reduce((sum, x) => {
          const p = parseAmount(x.amount, scale, { allowNegative: true });
          if (!p.ok) throw new Error(`statement of ${s.settlementId}: carry ${x.amount}`);
          return sum + p.minor;
        }, 0n),
        scale,
      ),
      carriedOut: s.base.carriedOut.total,
    },
  };
}

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
     * Freezes the period's sources, then locks, once per cycle, the rate of every transaction currency into the settlement
     * currency, with its source and time. A repeat finds the locked rates and reuses them.
     */
    async lockFxRates(c: CycleArgs): Promise<q.LockedRate[]> {
      // The period's sources were frozen with it (a no-op here, except for cycles frozen before
      // sources were): every currency in them and in the exceptions gets its rate.
      await accruals.snapshotSources(db, c);
      const locked = new Map((await q.lockedRates(db, c.cycleId)).map((r) => [r.from, r]));
      for (const from of await accruals.sourceCurrencies(db, c.cycleId)) {
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

    /**
     * The cycle's input as Postgres says it is: the plan recorded when it was started (by the
     * API for an operator, by the partner's Schedule), claimed by this run, re-derived (partner,
     * period, currency, the contract in force and its threshold) and compared with what the
     * workflow was told. A start without a plan, a second run of a claimed plan, or input that
     * differs in anything money-shaped is refused (ConflictError): nothing is posted. Process
     * settings (reminders, report attempts) and a later cut-off (waiting longer) may differ.
     */
    async confirmCyclePlan(cycleId: string, given: SettlementInput): Promise<CyclePlan> {
      const runId = Context.current().info.workflowExecution?.runId ?? cycleId;
      return withTransaction(db, async (client) => {
        const claimed = await q.claimCyclePlan(client, cycleId, runId);
        if (!claimed)
          throw new ConflictError(
            `no plan was recorded for ${cycleId}: cycles are started through POST /v1/settlements or a partner's Schedule, not directly on Temporal`,
          );
        const plan = await q.planCycle(client, currencies, {
          partnerId: claimed.partnerId,
          periodStart: claimed.periodStart,
          periodEnd: claimed.periodEnd,
        });
        const differs = cyclePlanDifferences(plan, given);
        if (differs.length > 0)
          throw new ConflictError(
            `the cycle's input differs from its plan in Postgres (${differs.join('; ')}): start it through the API or the Schedule`,
          );
        return {
          input: {
            ...plan,
            reminderIntervalMs: given.reminderIntervalMs,
            cutoffAt: given.cutoffAt,
            graceMs: given.graceMs,
            ...(given.reportFetchAttempts === undefined
              ? {}
              : { reportFetchAttempts: given.reportFetchAttempts }),
          },
          requestedBy: claimed.requester
            ? { actor: claimed.requester.actor, name: claimed.requester.name }
            : null,
        };
      });
    },

    /** The cycle's row, so that it is listed from its start whoever started it. */
    async registerCycle(c: CycleArgs): Promise<void> {
      await q.registerCycle(db, c);
    },

    /**
     * The partner's earlier periods this fee follows that have not computed theirs yet: their
     * cycles still run in Temporal (read from Temporal itself, so a cycle started a moment ago
     * counts before it has written anything; a terminated or failed one no longer blocks) and
     * have no fee stored.
     */
    async earlierPeriodsPending(c: CycleArgs): Promise<string[]> {
      const client = Context.current().client;
      const ids = earlierPeriodStarts(c.periodStart, c.periodEnd).map((d) =>
        settlementWorkflowId(c.partnerId, d),
      );
      const running: string[] = [];
      for (let i = 0; i < ids.length; i += 16) {
        const described = await Promise.all(
          ids.slice(i, i + 16).map((id) =>
            client.workflow
              .getHandle(id)
              .describe()
              .then((d) => (d.status.name === 'RUNNING' ? id : null))
              .catch((err: unknown) => {
                if (err instanceof WorkflowNotFoundError) return null;
                throw err;
              }),
          ),
        );
        running.push(...described.filter((id): id is string => id !== null));
      }
      const computed = await q.cyclesWithFees(db, running);
      return running.filter((id) => !computed.has(id));
    },

    /**
     * Freezes the period: from now on its sources (our positions per day, game and currency,
     * with the games' categories) are fixed, and reconciliation and the fee see the same ones.
     */
    async freezePeriod(c: CycleArgs): Promise<{ frozenAt: string }> {
      const frozenAt = await q.freezeCycle(db, c);
      await accruals.snapshotSources(db, c);
      return { frozenAt };
    },

    async recordResolution(c: CycleArgs, r: ResolveExceptionInput): Promise<void> {
      const amount =
        r.amount === undefined ? null : parseAmount(r.amount, c.currencyScale, { allowNegative: true });
      await q.storeResolution(db, c.cycleId, {
        ...r,
        reason: r.reason.trim(),
        operator: (r.operator ?? '').trim(),
        amountMinor: amount && amount.ok ? amount.minor : null,
      });
    },

    /**
     * Settles the period's money: the fee from the contract in force, on the frozen sources at
     * the locked rates, with the operators' resolutions, the carries claimed from earlier
     * periods and the month's position so far (domain/statement.ts decides every figure).
     * `resolutions` come from the workflow's state (what the operators decided), never re-read
     * from the database, where the last one may still be being written by its Update handler.
     * Runs in one transaction under the partner's lock, once: a repeat returns what was decided.
     */
    async computeSettlementFees(c: CycleArgs, resolutions: SettlementResolution[]): Promise<FeeSummary> {
      return withTransaction(db, async (client) => {
        await accruals.lockPartnerMoney(client, c.partnerId);
        const done = await accruals.accrualOf(client, c.cycleId);
        if (done) return feeSummary(JSON.parse(done.statementText) as Statement, c.currencyScale);

        const contract = await q.contractInForce(client, c.partnerId, c.periodStart);
        if (!contract) throw new NotFoundError(`no contract in force for ${c.partnerId} on ${c.periodStart}`);
        const month = accrualMonth(c.periodEnd);
        const closing = closesMonth(c.periodEnd, contract.terms.settlement.period);
        const decided = new Map(resolutions.map((r) => [r.exceptionId, r]));
        const exceptions = (await accruals.exceptionRecords(client, c.cycleId, c.currencyScale)).map((e) => {
          const r = decided.get(e.exceptionId);
          if (!r) throw new NotFoundError(`exception ${e.exceptionId} of ${c.cycleId} has no resolution`);
          let amount: string | undefined;
          if (r.amount !== undefined) {
            const parsed = parseAmount(r.amount, c.currencyScale, { allowNegative: true });
            if (!parsed.ok) throw new ValidationError(`amount of ${r.exceptionId}: ${parsed.message}`);
            amount = formatAmount(parsed.minor, c.currencyScale);
          }
          return {
            ...e,
            resolution: {
              resolution: r.resolution,
              ...(amount === undefined ? {} : { amount }),
              reason: (r.reason ?? '').trim(),
              operator: (r.operator ?? '').trim(),
            },
          };
        });
        for (const id of decided.keys())
          if (!exceptions.some((e) => e.exceptionId === id))
            throw new NotFoundError(`exception ${id} is not one of ${c.cycleId}'s`);
        const sources = await accruals.cycleSources(client, c.cycleId);
        const monthToDate = await accruals.monthToDate(client, { ...c, month });
        const carriedIn = await accruals.claimCarries(client, c);
        const inputs: StatementInputs = {
          cycleId: c.cycleId,
          partnerId: c.partnerId,
          periodStart: c.periodStart,
          periodEnd: c.periodEnd,
          currency: c.currency,
          currencyScale: c.currencyScale,
          contract: { version: contract.version, terms: contract.stored },
          currencyScales: accruals.currencyScales(currencies, sources, exceptions),
          sources,
          fxRates: await q.lockedRates(client, c.cycleId),
          exceptions,
          carriedIn,
          month,
          closesMonth: closing,
          monthToDate,
        };
        const settled = settlePeriod(inputs);
        const statementText = renderStatement(settled.statement);
        await accruals.insertAccrual(client, {
          cycle: c,
          month,
          closesMonth: closing,
          accrual: settled.fees.accrual,
          fixedFeeCharged: settled.fees.month.fixedFeeCharged && !monthToDate.fixedFeeCharged,
          carriedOutMinor: settled.fees.carriedOutMinor,
          inputs: {
            contractVersion: contract.version,
            currencyScale: c.currencyScale,
            month,
            closesMonth: closing,
            monthToDate: accruals.frozenMonth(monthToDate),
            carriedIn: carriedIn.map((x) => ({
              fromSettlementId: x.fromSettlementId,
              amountMinor: x.amountMinor.toString(),
            })),
            lateAccrued: Object.fromEntries(
              exceptions.flatMap((e) =>
                e.lateAccruedMinor === null ? [] : [[e.exceptionId, e.lateAccruedMinor]],
              ),
            ),
          },
          statementText,
        });
        const summary = feeSummary(settled.statement, c.currencyScale);
        await q.storeCycleOutputs(client, c.cycleId, { fees: summary });
        return summary;
      });
    },

    /**
     * Posts the period's money under keys derived from the cycle, in one transaction, exactly
     * the entries its statement lists: each resolution that moves GGR (game activity ↔ gaming
     * revenue, so that the ledger's GGR is the statement's), the carry claimed and the carry
     * left (memo accounts: their balance is what later periods still have to absorb), the
     * gaming tax (gaming revenue → the jurisdiction's payable), and the fee (expense →
     * payable, and tax withheld).
     */
    async postSettlement(c: CycleArgs, fees: FeeSummary): Promise<{ entryIds: string[] }> {
      const amount = (s: string) => {
        const p = parseAmount(s, c.currencyScale, { allowNegative: true });
        if (!p.ok) throw new ValidationError(`bad amount ${s}: ${p.message}`);
        return p.minor;
      };
      const p = fees.posting;
      const net = amount(fees.netPayable);
      const tax = amount(fees.taxWithheld);
      const gamingTaxMinor = p.gamingTax ? amount(p.gamingTax.amount) : 0n;
      const carriedIn = amount(p.carriedIn);
      const carriedOut = amount(p.carriedOut);
      const effects = p.resolutionEffects.map((e) => ({ ...e, minor: amount(e.effect) }));
      const keys = ledgerEntryKeys(c.cycleId, {
        resolutionEffects: effects,
        gamingTaxMinor,
        netPayableMinor: net,
        taxWithheldMinor: tax,
        carriedInMinor: carriedIn,
        carriedOutMinor: carriedOut,
      }).filter((k) => !k.endsWith(':payout'));
      if (keys.length === 0) return { entryIds: [] };
      return withTransaction(db, async (client) => {
        const acct = (name: PartnerAccountName) => partnerAccount(c.partnerId, name, c.currency);
        const taxPayable = p.gamingTax ? gamingTaxAccount(p.gamingTax.jurisdiction, c.currency) : null;
        const specs = [
          acct('provider_fees'),
          acct('fees_payable'),
          acct('tax_withheld'),
          acct('game_activity'),
          acct('gaming_revenue'),
          acct('carry_forward'),
          acct('carry_forward_offset'),
          acct('gaming_tax'),
          ...(taxPayable ? [taxPayable] : []),
        ];
        const ids = await ensureAccounts(client, specs);
        const move = (from: { code: string }, to: { code: string }, amountMinor: bigint) => ({
          debitAccountId: ids.get(from.code)!,
          creditAccountId: ids.get(to.code)!,
          currency: c.currency,
          amountMinor,
        });
        // A signed amount between two accounts: positive debits `up`, negative credits it.
        const signed = (up: { code: string }, down: { code: string }, m: bigint) =>
          m > 0n ? move(up, down, m) : move(down, up, -m);
        const entry = (
          key: string,
          sourceKind: EntryInput['sourceKind'],
          metadata: Record<string, unknown>,
          postings: EntryInput['postings'],
        ): EntryInput => ({
          idempotencyKey: key,
          effectiveDate: c.periodEnd,
          sourceKind,
          sourceRef: c.cycleId,
          metadata: { partnerId: c.partnerId, ...metadata },
          postings,
        });
        const entries: EntryInput[] = [];
        for (const e of effects)
          entries.push(
            entry(
              `${c.cycleId}:resolution:${e.exceptionId}`,
              'adjustment',
              { exceptionId: e.exceptionId, ggrEffectMinor: e.minor.toString() },
              // More GGR: game play owes the operator more; less: the reverse.
              [signed(acct('game_activity'), acct('gaming_revenue'), e.minor)],
            ),
          );
        // The carry account's balance is the base still to be absorbed by later periods.
        if (carriedIn !== 0n)
          entries.push(
            entry(`${c.cycleId}:carry-in`, 'settlement', { carriedInMinor: carriedIn.toString() }, [
              signed(acct('carry_forward_offset'), acct('carry_forward'), carriedIn),
            ]),
          );
        if (carriedOut !== 0n)
          entries.push(
            entry(`${c.cycleId}:carry-out`, 'settlement', { carriedOutMinor: carriedOut.toString() }, [
              signed(acct('carry_forward'), acct('carry_forward_offset'), carriedOut),
            ]),
          );
        // Negative when a later period of the month lowered the month's tax: a refund.
        if (gamingTaxMinor !== 0n && taxPayable)
          entries.push(
            entry(
              `${c.cycleId}:gaming-tax`,
              'settlement',
              { jurisdiction: p.gamingTax!.jurisdiction, gamingTax: p.gamingTax!.amount },
              [signed(acct('gaming_tax'), taxPayable, gamingTaxMinor)],
            ),
          );
        // A negative fee (a whole-volume tier step-down or a guarantee true-up) is a credit
        // note: it reduces what the partner is owed (fees payable may turn into a receivable).
        const feePostings = [
          ...(net !== 0n ? [signed(acct('provider_fees'), acct('fees_payable'), net)] : []),
          ...(tax !== 0n ? [signed(acct('provider_fees'), acct('tax_withheld'), tax)] : []),
        ];
        if (feePostings.length > 0)
          entries.push(
            entry(
              `${c.cycleId}:fees`,
              'settlement',
              {
                periodStart: c.periodStart,
                periodEnd: c.periodEnd,
                grossFee: fees.grossFee,
                taxWithheld: fees.taxWithheld,
                netPayable: fees.netPayable,
              },
              feePostings,
            ),
          );
        const posted = entries.map((e) => e.idempotencyKey);
        if (posted.join('|') !== keys.join('|'))
          throw new Error(
            `posting plan ${posted.join(', ')} differs from the statement's ${keys.join(', ')}`,
          );
        const results = await postEntries(client, entries);
        await auditWorkflowStep(client, {
          action: 'settlement.post',
          target: c.cycleId,
          details: {
            netPayable: fees.netPayable,
            currency: c.currency,
            entryIds: results.map((r) => r.entryId),
          },
        });
        return { entryIds: results.map((r) => r.entryId) };
      });
    },

    /**
     * Publishes the statement the fee step computed (its exact bytes are kept with the
     * accrual; this copy is what GET /v1/settlements/{id}/statement serves).
     */
    async buildStatement(
      c: CycleArgs,
      parts: { fees: unknown; entryIds: string[]; exceptions: SettlementException[] },
    ): Promise<{ lines: number }> {
      const done = await accruals.accrualOf(db, c.cycleId);
      if (!done) throw new NotFoundError(`no fees computed for ${c.cycleId}`);
      const statement = JSON.parse(done.statementText) as Statement;
      await q.storeCycleOutputs(db, c.cycleId, { statement });
      return { lines: statement.lines.length + parts.exceptions.length };
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
        await auditWorkflowStep(client, {
          action: 'settlement.payout',
          target: c.cycleId,
          details: {
            amountMinor: amount.toString(),
            currency: c.currency,
            approvers: p.approvers,
            entryId: r!.entryId,
          },
        });
        return { entryId: r!.entryId };
      });
    },

    /**
     * The plan of the cycle a Schedule firing starts, recorded as the Schedule's (a system
     * actor requested it). A plan already claimed by a run is left as it is: the child's start
     * is then refused as a duplicate, which is how catch-ups and backfills stay safe.
     */
    async planScheduledCycle(p: { partnerId: string; firedAt: string }): Promise<SettlementInput> {
      const input = await q.planCycle(db, currencies, {
        partnerId: p.partnerId,
        periodStart: null,
        firedAt: p.firedAt,
      });
      try {
        await q.recordCyclePlan(db, settlementWorkflowId(input.partnerId, input.periodStart), input, {
          actor: `schedule:${input.partnerId}`,
          name: `settlement Schedule of ${input.partnerId}`,
          plannedBy: 'schedule',
        });
      } catch (err) {
        if (!(err instanceof ConflictError && /already started/.test(err.message))) throw err;
      }
      return input;
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
      await deliverSignedWebhook(hook.url, secrets.open(hook.secretSealed), body);
      return 'sent';
    },

    /** Mirrors the status the workflow published (its publish() is the only caller). */
    async setCycleStatus(cycleId: string, status: SettlementStatus): Promise<void> {
      await q.setCycleStatus(db, cycleId, status);
    },
  };
}
