import { activityInfo, Context, heartbeat } from '@temporalio/activity';
import { WorkflowNotFoundError } from '@temporalio/client';
import { settlementWorkflowId } from '../workflows/ids';
import type { PoolClient } from 'pg';
import type { Db } from '../db/pool';
import * as book from '../db/exception-book';
import { bulkProposers } from '../db/bulk';
import { journalOf, linkEntryExceptions, storeJournal } from '../db/journals';
import { withTransaction } from '../db/retry';
import { webhookOf } from '../db/partners';
import * as q from '../db/settlement';
import { ConflictError, DataError, NotFoundError, ValidationError } from '../domain/errors';
import * as accruals from '../db/accruals';
import { accrualMonth, closesMonth, earlierPeriodStarts, readContractTerms } from '../domain/contract';
import { defaultCurrencies, parseAmount, parseDecimal, type CurrencyRegistry } from '../domain/money';
import {
  renderStatement,
  settle,
  withPayout,
  type ExceptionRecord,
  type Statement,
  type StatementInputs,
} from '../domain/statement';
import { claimPayableCarries, recordPayableCarry } from '../db/payable-carries';
import { storeStatementVersion } from '../db/statement-versions';
import { payoutJournal, settlementJournalId } from '../domain/journal';
import type { BookSummary, ResolutionInput } from '../domain/exception-book';
import type { Decider } from '../domain/actors';
import {
  type SettlementStatus,
  approvalProblem,
  cyclePlanDifferences,
  requesterMaker,
  type CyclePlan,
  type SettlementInput,
} from '../domain/settlement';
import type { SecretBox } from '../platform/secrets';
import { callUpstream } from '../platform/outbound-http';
import { workflowAuditEvent, type WorkflowAuditInput } from './audit';
import { reportActivities } from './report';
import type { AutoResolution } from './auto-resolution';
import type { Config } from '../platform/config';
import { deliverSignedWebhook, outboundFailure } from './failures';
import { recordWatchExceptions } from './watch-gate';
import { jsonBody } from '../providers/types';

// Activities of the settlement cycle. Each one may run more than once (Temporal retries,
// worker crashes): every write is keyed by the cycle id, so a repeat changes nothing.
// Values crossing into workflow history are strings, never bigint or float.

/** How often a reconciliation says it is alive (the policy's heartbeat timeout is 30 s). */
const RECONCILE_HEARTBEAT_MS = 5_000;

export interface CycleArgs extends q.CycleRef {
  currencyScale: number;
  /**
   * Ignored: sent by workflows started before tolerances became contract rules
   * (domain/rules.ts); kept so that their activity input still reads.
   */
  roundingToleranceMinor?: string;
}

/**
 * Settles the period's money once, inside the caller's transaction under the partner's lock:
 * the fee from the contract in force, on the frozen sources at the locked rates, with the
 * exceptions as `decide` says they were resolved, the carries claimed from earlier periods and
 * the month's position so far (domain/statement.ts decides every figure). The statement's
 * bytes are stored once, with the accrual. A repeat returns what was decided (`fresh` false).
 */
export async function settleOnce(
  client: PoolClient,
  currencies: CurrencyRegistry,
  c: CycleArgs,
  decide: (records: ExceptionRecord[]) => ExceptionRecord[],
  /** The journal the caller stores with the statement (version 1's); none for the legacy workflow. */
  journalId: string | null = null,
): Promise<{ statement: Statement; fresh: boolean; settled: ReturnType<typeof settle> | null }> {
  await accruals.lockPartnerMoney(client, c.partnerId);
  const done = await accruals.accrualOf(client, c.cycleId);
  if (done) return { statement: JSON.parse(done.statementText) as Statement, fresh: false, settled: null };

  const contract = await q.contractInForce(client, c.partnerId, c.periodStart);
  if (!contract) throw new NotFoundError(`no contract in force for ${c.partnerId} on ${c.periodStart}`);
  const month = accrualMonth(c.periodEnd);
  const closing = closesMonth(c.periodEnd, contract.terms.settlement.period);
  const exceptions = decide(await accruals.exceptionRecords(client, c.cycleId, c.currencyScale));
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
  const settled = settle(inputs);
  // What is paid: the net payable with what is brought forward, against the minimum payout. A
  // legacy (v1) cycle, still draining, pays its own net as it always did: it claims nothing.
  const legacy = journalId === null;
  const broughtForward = (legacy ? [] : await claimPayableCarries(client, c)).map((b) => ({
    id: b.id,
    kind: b.sourceKind,
    ref: b.sourceRef,
    amountMinor: b.amountMinor,
    note: b.note,
  }));
  const minimumPayoutMinor = legacy ? 0n : BigInt(contract.terms.settlement.minimumPayoutMinor);
  const { statement } = withPayout(
    settled.statement,
    settled.fees.netPayableMinor,
    { minimumPayoutMinor, broughtForward },
    c.currencyScale,
  );
  const statementText = renderStatement(statement);
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
        exceptions.flatMap((e) => (e.lateAccruedMinor === null ? [] : [[e.exceptionId, e.lateAccruedMinor]])),
      ),
      ...(statement.payout
        ? {
            payout: {
              minimumPayoutMinor: minimumPayoutMinor.toString(),
              broughtForward: broughtForward.map((b) => ({ ...b, amountMinor: b.amountMinor.toString() })),
            },
          }
        : {}),
    },
    statementText,
  });
  // Version 1 of the statement: restatements add the next ones (statement_versions).
  await storeStatementVersion(client, {
    cycleId: c.cycleId,
    version: 1,
    text: statementText,
    journalId,
    contractVersion: contract.version,
    adjustments: [],
    restatementId: null,
  });
  return { statement, fresh: true, settled };
}

/**
 * Resolutions as sent (amounts as decimal text in the settlement currency) as the book takes
 * them. The workflow's validator, or the API for an import, checked them: a bad amount here is
 * a ValidationError (non-retryable).
 */
export function bookItems(
  items: {
    exceptionId: string;
    resolution: ResolutionInput['resolution'];
    amount?: string;
    reason: string;
  }[],
  currencyScale: number,
): book.ResolutionItem[] {
  return items.map((i) => {
    const amount =
      i.amount === undefined ? null : parseAmount(i.amount, currencyScale, { allowNegative: true });
    if (amount && !amount.ok) throw new ValidationError(`amount of ${i.exceptionId}: ${amount.message}`);
    return {
      exceptionId: i.exceptionId,
      resolution: i.resolution,
      amountMinor: amount ? amount.minor : null,
      reason: i.reason.trim(),
    };
  });
}

/** The net payable the stored statement states, in minor units (its one figure read back). */
function netPayableMinor(statement: Statement, scale: number): bigint {
  const net = parseAmount(statement.netPayable, scale, { allowNegative: true });
  if (!net.ok) throw new Error(`statement of ${statement.settlementId}: net payable ${statement.netPayable}`);
  return net.minor;
}

/**
 * Whether the payout needs two approvers: above the threshold of the contract version the
 * statement was computed under (the one rule; a version approved later changes nothing here).
 */
async function payoutNeedsApproval(
  client: Pick<PoolClient, 'query'>,
  c: CycleArgs,
  statement: Statement,
): Promise<boolean> {
  const terms = readContractTerms(
    await accruals.contractVersion(client, c.partnerId, statement.contractVersion),
  );
  return toPayMinor(statement, c.currencyScale) > BigInt(terms.settlement.payoutApprovalThresholdMinor);
}

/**
 * What the payout pays: the payout section's amount when the statement has one (a minimum
 * payout, amounts brought forward), else the net payable when positive (withPayout's rule).
 */
function toPayMinor(statement: Statement, scale: number): bigint {
  if (statement.payout) {
    const pay = parseAmount(statement.payout.toPay, scale);
    if (!pay.ok) throw new Error(`statement of ${statement.settlementId}: to pay ${statement.payout.toPay}`);
    return pay.minor;
  }
  const net = netPayableMinor(statement, scale);
  return net > 0n ? net : 0n;
}

/** What the statement rolls to the next one (its payout section's), 0 without one. */
function rolledMinor(statement: Statement, scale: number): bigint {
  if (!statement.payout) return 0n;
  const r = parseAmount(statement.payout.rolledToNextStatement, scale, { allowNegative: true });
  if (!r.ok)
    throw new Error(
      `statement of ${statement.settlementId}: rolled ${statement.payout.rolledToNextStatement}`,
    );
  return r.minor;
}

export function settlementActivities({
  db,
  currencies = defaultCurrencies,
  secrets,
  fxRatesUrl,
  config,
}: {
  db: Db;
  currencies?: CurrencyRegistry;
  secrets?: SecretBox;
  fxRatesUrl?: string;
  config?: Pick<Config, 'reportCaps'>;
}) {
  const report = reportActivities({
    db,
    currencies,
    ...(secrets ? { secrets } : {}),
    ...(config ? { config } : {}),
  });
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

    /** The provider's report, page by page (activities/report.ts); only its counts enter history. */
    async fetchReport(c: CycleArgs): Promise<{ rows: number; control: 'ok' | 'absent' | 'mismatch' }> {
      // This run's exception book (a new generation when the cycle is run again after it Failed).
      await book.openBook(db, c.cycleId, activityInfo().workflowExecution?.runId ?? c.cycleId);
      const r = await report.fetchProviderReport(c);
      return { rows: r.rows, control: r.control };
    },

    /** Ours against theirs (activities/report.ts); what differs goes into the exception book. */
    async reconcileReport(
      c: CycleArgs & { frozenAt: string },
    ): Promise<{ keysCompared: number; keysDiffering: number; auto?: AutoResolution }> {
      // Alive while Postgres works (the heartbeat timeout notices a worker that died).
      heartbeat();
      const alive = setInterval(() => heartbeat(), RECONCILE_HEARTBEAT_MS);
      try {
        const r = await report.reconcile(c);
        return { keysCompared: r.keysCompared, keysDiffering: r.keysDiffering, auto: r.auto };
      } finally {
        clearInterval(alive);
      }
    },

    /** A report that could not be fetched at all: an exception in the book operators resolve. */
    async reportUnavailable(c: CycleArgs, reason: string): Promise<void> {
      await book.openBook(db, c.cycleId, activityInfo().workflowExecution?.runId ?? c.cycleId);
      await report.recordReportUnavailable(c, reason);
      // The watch's holds gate the payout with or without a report.
      await recordWatchExceptions(db, c, currencies);
    },

    /** The exception book's version and counts, with the first open exceptions. */
    async exceptionBook(c: CycleArgs): Promise<BookSummary> {
      return book.bookSummary(db, c.cycleId);
    },

    /**
     * A resolution message (one exception or a list) applied to the book in one transaction
     * with its audit event: each item applied, or refused with why. The workflow's validator
     * checked its shape and seal; the book checks the rest.
     */
    async resolveExceptions(
      c: CycleArgs,
      m: {
        items: ResolutionInput[];
        who: Decider;
        audit: Omit<WorkflowAuditInput, 'action' | 'target' | 'role'> & { updateId: string; single: boolean };
      },
    ): Promise<book.BatchResult> {
      const items = bookItems(m.items, c.currencyScale);
      const { single, ...auditInput } = m.audit;
      const audit = await workflowAuditEvent({
        ...auditInput,
        action: 'settlement.resolveException',
        // One exception keeps its own target; a list names the book.
        target: single ? `${c.cycleId}/exceptions/${items[0]!.exceptionId}` : `${c.cycleId}/exceptions`,
        role: 'resolver',
        details: single
          ? {
              resolution: items[0]!.resolution,
              ...(m.items[0]!.amount === undefined ? {} : { amount: m.items[0]!.amount }),
              reason: items[0]!.reason,
            }
          : { items: items.length },
      });
      return book.resolveInBook(db, c.cycleId, {
        items,
        actor: m.who.actor,
        name: m.who.name,
        updateId: m.audit.updateId,
        audit,
      });
    },

    /**
     * Settles the period from the exception book at the version the workflow decided on
     * (refused otherwise), and stores the statement and its journal together, once. Only the
     * figures an operator reads enter history; whether the payout needs approval is decided
     * here, against the contract in force.
     */
    async settleCycle(
      c: CycleArgs,
      decided: { bookVersion: number },
    ): Promise<{
      figures: { contractVersion: number; grossFee: string; taxWithheld: string; netPayable: string };
      journalId: string;
      needsApproval: boolean;
      notification: Record<string, string>;
    }> {
      return withTransaction(db, async (client) => {
        await book.requireBookVersion(client, c.cycleId, decided.bookVersion);
        const journalId = settlementJournalId(c.cycleId);
        const { statement, fresh, settled } = await settleOnce(
          client,
          currencies,
          c,
          (records) => records,
          journalId,
        );
        if (settled) {
          await storeJournal(client, settled.journal);
          await linkEntryExceptions(client, journalId, c.cycleId, [
            ...settled.resolutionEffects.flatMap((e) =>
              (e.covers ?? []).map((x) => ({
                entryKey: `${c.cycleId}:resolution:${e.exceptionId}`,
                exceptionId: x.exceptionId,
                amountMinor: x.ledgerMinor,
              })),
            ),
            ...settled.writeOffs.flatMap((w) =>
              w.covers.map((x) => ({
                entryKey: `${c.cycleId}:write-off:${w.account}`,
                exceptionId: x.exceptionId,
                amountMinor: x.ledgerMinor,
              })),
            ),
          ]);
        } else if (!(await journalOf(client, journalId)))
          // Fees computed by the legacy workflow before it failed: it posted without a journal.
          throw new DataError(
            `${c.cycleId} was settled by the legacy workflow (no journal stored): finish it there, or void its accrual first`,
          );
        const figures = {
          contractVersion: statement.contractVersion,
          grossFee: statement.grossFee,
          taxWithheld: statement.taxWithheld,
          netPayable: statement.netPayable,
        };
        if (fresh)
          await q.storeCycleOutputs(client, c.cycleId, {
            fees: {
              ...figures,
              ggr: statement.revenue.ggr,
              feeBase: statement.base.feeBase,
              lines: statement.lines,
            },
          });
        return {
          figures,
          journalId,
          needsApproval: await payoutNeedsApproval(client, c, statement),
          notification: {
            settlementId: c.cycleId,
            partnerId: c.partnerId,
            periodStart: c.periodStart,
            periodEnd: c.periodEnd,
            currency: c.currency,
            netPayable: statement.netPayable,
          },
        };
      });
    },

    /** The statement is published (GET /v1/settlements/{id}/statement) once its journal is posted. */
    async publishStatement(c: CycleArgs): Promise<void> {
      await q.publishStatement(db, c.cycleId);
    },

    /**
     * The payout's journal: what the stored statement says is owed (fees payable → payouts
     * clearing), with who approved it. Refused when the contract needs approvals the workflow
     * does not bring. Null when nothing is owed.
     */
    async preparePayout(c: CycleArgs, p: { approvers: Decider[] }): Promise<{ journalId: string | null }> {
      return withTransaction(db, async (client) => {
        const done = await accruals.accrualOf(client, c.cycleId);
        if (!done) throw new NotFoundError(`no statement for ${c.cycleId}: fees are computed first`);
        const statement = JSON.parse(done.statementText) as Statement;
        // A payable below the minimum (or owed by the partner) rolls to the next statement.
        const rolled = rolledMinor(statement, c.currencyScale);
        if (rolled !== 0n)
          await recordPayableCarry(client, {
            id: `${c.cycleId}:rolled`,
            partnerId: c.partnerId,
            currency: c.currency,
            amountMinor: rolled,
            sourceKind: 'below_minimum',
            sourceRef: c.cycleId,
            note: statement.payout?.note ?? '',
          });
        const net = toPayMinor(statement, c.currencyScale);
        if (net <= 0n) return { journalId: null };
        if (await payoutNeedsApproval(client, c, statement)) {
          // Maker-checker again, from Postgres: the plan's requester and the book's makers, by
          // the validator's own rule (approvalProblem), whatever the workflow held.
          const requester = await q.cycleRequester(client, c.cycleId);
          const makers = [
            ...(requester ? [requesterMaker({ actor: requester.actor, name: requester.name })] : []),
            ...(await book.bookMakers(client, c.cycleId)),
            ...(await bulkProposers(client, c.cycleId)),
          ];
          if (p.approvers.length < 2)
            throw new DataError(
              `the payout of ${c.cycleId} needs two approvers, it has ${p.approvers.length}`,
            );
          for (const [i, who] of p.approvers.entries()) {
            const problem = approvalProblem(p.approvers.slice(0, i), who, {}, true, makers);
            if (problem) throw new DataError(`the payout of ${c.cycleId} cannot be paid: ${problem.message}`);
          }
        }
        const journal = payoutJournal(
          c,
          net,
          p.approvers.map((a) => a.name),
        );
        await storeJournal(client, journal);
        return { journalId: journal.id };
      });
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
    async confirmCyclePlan(
      cycleId: string,
      given: SettlementInput,
      /** The run this one continues as new (Temporal sets it; a start cannot): it takes over its claim. */
      continuedFrom: string | null = null,
    ): Promise<CyclePlan> {
      const runId = Context.current().info.workflowExecution?.runId ?? cycleId;
      return withTransaction(db, async (client) => {
        const claimed = await q.claimCyclePlan(client, cycleId, runId, continuedFrom);
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
            ...(given.continueAsNewAtEvents === undefined
              ? {}
              : { continueAsNewAtEvents: given.continueAsNewAtEvents }),
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
