import { appendAudit } from '../db/audit';
import * as accruals from '../db/accruals';
import { frozenMonth } from '../db/accruals';
import { journalOf, postJournal, storeJournal } from '../db/journals';
import { webhookOf } from '../db/partners';
import { recordPayableCarry } from '../db/payable-carries';
import { restatementOf, restateAccrual, setRestatement, type RestatementComputed } from '../db/restatements';
import { withTransaction } from '../db/retry';
import { statementVersion, storeStatementVersion } from '../db/statement-versions';
import type { Decider } from '../domain/actors';
import { ConflictError, NotFoundError } from '../domain/errors';
import { journalDigest } from '../domain/journal';
import { defaultCurrencies, formatAmount } from '../domain/money';
import { lineDelta, restatementJournal } from '../domain/restatement';
import { computeChain, type ComputedChain } from '../services/restatements';
import { periodClosedFailure } from '../db/periods';
import { heartbeat } from '@temporalio/activity';
import { deliverSignedWebhook } from './failures';
import { releaseDisputeHold } from '../db/disputes';
import type { ActivityDeps } from './index';

// The restatement workflow's steps. Each may run more than once (retries, a worker killed in
// the middle): computing stores the same delta journal under the same id; posting is one
// transaction under the partner's money lock that first checks nothing was restated since.

/** What the workflow holds and shows: counts and text, never amounts to be parsed again. */
export interface RestatementStep {
  state: 'awaiting_approval' | 'empty' | 'posted' | 'rejected';
  partnerId: string;
  settlementId: string;
  requestedBy: Decider;
  periods: number;
  newVersions: number;
  entries: number;
  summary: string;
}

const deltaJournalId = (id: string) => `${id}:delta`;

/** Runs `work` saying it is alive every 5 s (the workflow's heartbeat timeout is 20 s). */
async function alive<T>(work: () => Promise<T>): Promise<T> {
  heartbeat();
  const beat = setInterval(() => heartbeat(), 5_000);
  try {
    return await work();
  } finally {
    clearInterval(beat);
  }
}

function describe(c: ComputedChain): RestatementComputed {
  const fmt = (m: bigint) => formatAmount(m, c.currencyScale);
  const net = c.result.periods.reduce((s, p) => s + p.netPayableDeltaMinor, 0n);
  return {
    postingDate: c.postingDate,
    currency: c.currency,
    periods: c.result.periods.map((p, i) => ({
      settlementId: p.cycleId,
      periodStart: c.periods[i]!.inputs.periodStart,
      periodEnd: c.periods[i]!.inputs.periodEnd,
      fromVersion: p.fromVersion,
      toVersion: p.toVersion,
      fromDigest: p.after.statement.restatement?.previousDigest ?? '',
      lines: lineDelta(p.before.statement, p.after.statement),
      netPayableDelta: fmt(p.netPayableDeltaMinor),
    })),
    delta: c.result.delta.map((e) => ({
      key: e.key,
      postings: e.postings.map((x) => ({
        debit: x.debit.code,
        credit: x.credit.code,
        amount: fmt(x.amountMinor),
      })),
    })),
    netPayableDelta: fmt(net),
  };
}

export function restatementActivities({ db, currencies = defaultCurrencies, secrets }: ActivityDeps) {
  const load = async (id: string) => {
    const r = await restatementOf(db, id);
    if (!r) throw new NotFoundError(`restatement ${id} is not recorded: restatements start through the API`);
    return r;
  };
  const step = (
    r: Awaited<ReturnType<typeof load>>,
    state: RestatementStep['state'],
    c: RestatementComputed | null,
  ): RestatementStep => {
    const periods = c?.periods ?? [];
    const changed = periods.filter((p) => p.toVersion !== null);
    return {
      state,
      partnerId: r.partnerId,
      settlementId: r.settlementId,
      requestedBy: r.requestedBy,
      periods: periods.length,
      newVersions: changed.length,
      entries: c?.delta.length ?? 0,
      summary:
        c === null
          ? state
          : changed.length === 0
            ? 'no figure changes: nothing to post'
            : `${changed.map((p) => `${p.settlementId} v${p.fromVersion}→v${p.toVersion}`).join(', ')}; net payable ${c.netPayableDelta} ${c.currency}, ${c.delta.length} adjusting entries dated ${c.postingDate}`,
    };
  };

  /**
   * Recomputes the chain with the change and stores the delta journal (not posted): the
   * approvers see it line by line (GET /v1/restatements/{id}). An empty delta ends here.
   */
  const compute = async (id: string): Promise<RestatementStep> => {
    const r = await load(id);
    if (r.state !== 'requested' && r.state !== 'awaiting_approval')
      return step(r, r.state === 'posted' || r.state === 'empty' ? r.state : 'rejected', r.computed);
    const computed = await computeChain(db, currencies, r);
    const described = describe(computed);
    if (computed.result.delta.length === 0) {
      await withTransaction(db, async (client) => {
        await setRestatement(client, id, { state: 'empty', computed: described });
        if (r.reason.kind === 'dispute') await releaseDisputeHold(client, r.settlementId);
      });
      return step(r, 'empty', described);
    }
    await withTransaction(db, async (client) => {
      await storeJournal(client, restatementJournal(id, computed.result.delta));
      // Awaiting approval once its workflow waits for it (awaitingApproval): not before, so that an
      // approval sent on reading the row is never refused as too early.
      await setRestatement(client, id, { state: 'requested', computed: described });
    });
    return step(r, 'awaiting_approval', described);
  };

  /**
   * Posts the approved delta, once: under the partner's money lock, the chain is computed
   * again and must give the journal that was approved (else something was restated or
   * settled since: ConflictError, nothing written). Then, in one transaction: each changed
   * period's new statement version and its whole journal (stored, never posted), the month's
   * figures for later periods, the delta journal posted, what the partner is owed on top as a
   * payable carry for its next statement, and the audit event.
   */
  const post = async (id: string, approvers: Decider[]): Promise<RestatementStep> => {
    return withTransaction(db, async (client) => {
      const r = await load(id);
      await accruals.lockPartnerMoney(client, r.partnerId);
      const again = await restatementOf(client, id);
      if (again?.state === 'posted') return step(r, 'posted', again.computed);
      const approved = await journalOf(client, deltaJournalId(id));
      if (!approved) throw new ConflictError(`restatement ${id} has no approved delta`);
      // Dated as approved: the day the delta was computed for (refused if it has closed since).
      const computed = await computeChain(client, currencies, r, {
        postingDate: again?.computed?.postingDate ?? r.computed?.postingDate,
      });
      const journal = restatementJournal(id, computed.result.delta);
      if (journalDigest(journal) !== approved.digest)
        throw new ConflictError(
          `restatement ${id}: the periods changed since its delta was approved (another restatement, a settled period, or a close); request it again`,
        );
      for (const p of computed.result.periods) {
        if (p.toVersion === null) continue;
        const versionJournal = { ...p.after.journal, id: `${p.cycleId}:settlement:v${p.toVersion}` };
        await storeJournal(client, versionJournal);
        await storeStatementVersion(client, {
          cycleId: p.cycleId,
          version: p.toVersion,
          text: p.after.text,
          journalId: versionJournal.id,
          contractVersion: p.overrides.contract.version,
          adjustments: p.overrides.adjustments,
          overrides: {
            monthToDate: frozenMonth(p.overrides.monthToDate),
            carriedIn: p.overrides.carriedIn.map((c) => ({
              fromSettlementId: c.fromSettlementId,
              amountMinor: c.amountMinor.toString(),
            })),
          },
          restatementId: id,
        });
        await restateAccrual(client, p.cycleId, {
          ...p.after.settled.fees.accrual,
          carriedOutMinor: p.after.settled.fees.carriedOutMinor,
        });
      }
      try {
        await postJournal(client, journal.id);
      } catch (err) {
        throw periodClosedFailure(err);
      }
      const net = computed.result.periods.reduce((s, p) => s + p.netPayableDeltaMinor, 0n);
      await recordPayableCarry(client, {
        id,
        partnerId: r.partnerId,
        currency: computed.currency,
        amountMinor: net,
        sourceKind: 'restatement',
        sourceRef: r.settlementId,
        note: `restatement ${id} of ${r.settlementId}: ${r.reason.note}`,
      });
      const described = describe(computed);
      await setRestatement(client, id, {
        state: 'posted',
        computed: described,
        deltaJournalId: journal.id,
        approvals: approvers.map((a) => ({
          actor: a.actor ?? a.name,
          name: a.name,
          at: new Date().toISOString(),
        })),
      });
      // An accepted dispute's hold is released with its delta (the same next statement).
      if (r.reason.kind === 'dispute') await releaseDisputeHold(client, r.settlementId);
      await appendAudit(client, {
        idempotencyKey: `restatement:${id}:posted`,
        actor: `workflow:restatement:${id}`,
        role: 'workflow',
        action: 'restatement.post',
        target: r.settlementId,
        source: 'workflow',
        workflowId: `restatement:${id}`,
        details: {
          restatementId: id,
          approvers: approvers.map((a) => a.name),
          entries: journal.entries.length,
          netPayableDelta: described.netPayableDelta,
          versions: described.periods
            .filter((p) => p.toVersion !== null)
            .map((p) => `${p.settlementId} v${p.toVersion}`),
        },
      });
      return step(r, 'posted', described);
    });
  };

  return {
    /** Recomputes the chain and stores its delta (see compute), saying it is alive while it works. */
    async computeRestatement(id: string): Promise<RestatementStep> {
      return alive(() => compute(id));
    },

    /** Posts the approved delta once (see post), saying it is alive while it waits for the lock and works. */
    async postRestatement(id: string, approvers: Decider[]): Promise<RestatementStep> {
      return alive(() => post(id, approvers));
    },

    /** The restatement awaits its approvals: its workflow waits for them from now. */
    async awaitingApproval(id: string): Promise<void> {
      const r = await load(id);
      if (r.state === 'requested') await setRestatement(db, id, { state: 'awaiting_approval' });
    },

    /** A rejection, recorded with who rejected it and why; nothing is posted. */
    async rejectRestatement(id: string, by: Decider, reason: string): Promise<RestatementStep> {
      const r = await load(id);
      if (r.state === 'posted') throw new ConflictError(`restatement ${id} is posted already`);
      await withTransaction(db, async (client) => {
        await setRestatement(client, id, {
          state: 'rejected',
          rejectedBy: { actor: by.actor ?? by.name, name: by.name, reason, at: new Date().toISOString() },
        });
        if (r.reason.kind === 'dispute') await releaseDisputeHold(client, r.settlementId);
      });
      return step(r, 'rejected', r.computed);
    },

    /** A restatement stopped by what no retry can fix: recorded with why (nothing was posted). */
    async failRestatement(id: string, detail: string): Promise<void> {
      const r = await load(id);
      if (r.state === 'posted') return;
      await withTransaction(db, async (client) => {
        await setRestatement(client, id, { state: 'failed', detail: detail.slice(0, 2000) });
        if (r.reason.kind === 'dispute') await releaseDisputeHold(client, r.settlementId);
      });
    },

    /** Tells the partner: a signed webhook with the new versions and their digests. */
    async notifyRestatement(id: string): Promise<'sent' | 'no-webhook'> {
      const r = await load(id);
      const hook = await webhookOf(db, r.partnerId);
      if (!hook) return 'no-webhook';
      if (!secrets) throw new Error('no SecretBox configured for webhook signing');
      const versions = [];
      for (const p of r.computed?.periods ?? []) {
        if (p.toVersion === null) continue;
        const v = await statementVersion(db, p.settlementId, p.toVersion);
        versions.push({
          settlementId: p.settlementId,
          version: p.toVersion,
          previousVersion: p.fromVersion,
          digest: v?.digest ?? null,
          netPayableDelta: p.netPayableDelta,
        });
      }
      const body = JSON.stringify({
        type: 'statement.restated',
        id: `${id}:restated`,
        restatementId: id,
        partnerId: r.partnerId,
        settlementId: r.settlementId,
        reason: r.reason.kind,
        note: r.reason.note,
        currency: r.computed?.currency ?? null,
        netPayableDelta: r.computed?.netPayableDelta ?? null,
        versions,
      });
      await deliverSignedWebhook(hook.url, secrets.open(hook.secretSealed), body);
      return 'sent';
    },
  };
}
