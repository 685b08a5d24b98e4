import * as accruals from '../db/accruals';
import { disputeHoldMinor } from '../db/disputes';
import { journalOf, postJournal, storeJournal } from '../db/journals';
import { webhookOf } from '../db/partners';
import {
  businessDayNow,
  insertPayout,
  payoutOfCycle,
  recordStatementIssue,
  setIssueWebhook,
} from '../db/payouts';
import { withTransaction } from '../db/retry';
import { latestStatement } from '../db/statement-versions';
import { readContractTerms } from '../domain/contract';
import { DataError, NotFoundError } from '../domain/errors';
import { payoutJournalId } from '../domain/journal';
import { formatAmount, parseAmount } from '../domain/money';
import { disputeHold, payoutHeldJournal } from '../domain/payouts';
import type { Statement } from '../domain/statement';
import { auditWorkflowStep } from './audit';
import { deliverSignedWebhook } from './failures';
import type { ActivityDeps } from './index';
import type { CycleArgs } from './settlement';

// The settlement cycle's steps after its statement is published: the statement issued to the
// partner (recorded with its acknowledgement deadline, then a signed webhook), and the payout
// recorded once its journal is posted. Amounts come from Postgres (the stored statement, the
// payout journal), never from the workflow. Each write is keyed by the cycle: a repeat changes
// nothing. Values into history are strings.

/** What the workflow learns of an issue (history-safe: strings and numbers). */
export interface IssuedStatement {
  version: number;
  digest: string;
  issuedAt: string;
  acknowledgeBy: string;
}

/**
 * The latest statement version of a cycle and its digest: version 1 is stored with the fee step
 * (and was backfilled for earlier cycles by 1764000032000_restatements.sql).
 */
async function latestOf(
  db: Parameters<typeof latestStatement>[0],
  cycleId: string,
): Promise<{ version: number; statement: Statement; digest: string } | null> {
  const v = await latestStatement(db, cycleId);
  return v ? { version: v.version, statement: v.statement, digest: v.digest } : null;
}

export function payoutActivities({ db, secrets }: ActivityDeps) {
  return {
    /**
     * Issues the cycle's published statement (its latest version): recorded once with its
     * sha256 digest, issued now, to be acknowledged within the contract's acknowledgementDays
     * (the contract version the statement was computed under). Before payout approval, so that
     * a dispute raised now holds its amount from this payout.
     */
    async issueStatement(c: CycleArgs): Promise<IssuedStatement> {
      return withTransaction(db, async (client) => {
        const latest = await latestOf(client, c.cycleId);
        if (!latest) throw new NotFoundError(`no statement for ${c.cycleId}: fees are computed first`);
        const terms = readContractTerms(
          await accruals.contractVersion(client, c.partnerId, latest.statement.contractVersion),
        );
        const issue = await recordStatementIssue(client, {
          cycleId: c.cycleId,
          version: latest.version,
          partnerId: c.partnerId,
          digest: latest.digest,
          acknowledgementDays: terms.settlement.acknowledgementDays,
        });
        await auditWorkflowStep(client, {
          action: 'statement.issued',
          target: c.cycleId,
          details: {
            version: issue.version,
            digest: issue.digest,
            acknowledgeBy: issue.acknowledgeBy.toISOString(),
          },
        });
        return {
          version: issue.version,
          digest: issue.digest,
          issuedAt: issue.issuedAt.toISOString(),
          acknowledgeBy: issue.acknowledgeBy.toISOString(),
        };
      });
    },

    /**
     * The signed webhook `statement.issued` (HMAC-SHA256 over timestamp and body, as every
     * webhook): the statement's version, digest and deadline. A refused delivery throws and is
     * retried with backoff; the issue stands whatever the partner's endpoint does.
     */
    async deliverStatementIssued(c: CycleArgs, issued: IssuedStatement): Promise<'sent' | 'no-webhook'> {
      const hook = await webhookOf(db, c.partnerId);
      if (!hook) {
        await setIssueWebhook(db, c.cycleId, issued.version, 'no-webhook');
        return 'no-webhook';
      }
      if (!secrets) throw new Error('no SecretBox configured for webhook signing');
      const body = JSON.stringify({
        type: 'statement.issued',
        id: `${c.cycleId}:statement-issued:v${issued.version}`,
        settlementId: c.cycleId,
        partnerId: c.partnerId,
        periodStart: c.periodStart,
        periodEnd: c.periodEnd,
        currency: c.currency,
        version: issued.version,
        digest: issued.digest,
        digestAlgorithm: 'sha256 of the statement JSON as GET /v1/settlements/{id}/statement serves it',
        issuedAt: issued.issuedAt,
        acknowledgeBy: issued.acknowledgeBy,
        acknowledge: `POST /v1/settlements/${c.cycleId}/acknowledgement {"version","digest"}`,
        dispute: `POST /v1/settlements/${c.cycleId}/disputes`,
        silence: 'no answer by acknowledgeBy counts as accepted',
      });
      await deliverSignedWebhook(hook.url, secrets.open(hook.secretSealed), body);
      await setIssueWebhook(db, c.cycleId, issued.version, 'sent');
      return 'sent';
    },

    /** The webhook gave up after its retries: recorded (the issue and its deadline stand). */
    async statementIssueUndelivered(c: CycleArgs, version: number): Promise<void> {
      await setIssueWebhook(db, c.cycleId, version, 'failed');
    },

    /**
     * The cycle's payout, recorded as approved once its journal is posted: the amount the payout
     * journal moved (fees payable → payouts clearing), what open disputes held back (what the
     * statement says is to pay minus that amount), who approved it, and its due date (the partner's
     * business day of approval + the contract's paymentTermsDays). Nothing when nothing was paid.
     */
    async recordCyclePayout(c: CycleArgs): Promise<{ amount: string; held: string; dueDate: string } | null> {
      return withTransaction(db, async (client) => {
        const scale = c.currencyScale;
        const view = (p: { amountMinor: bigint; heldMinor: bigint; dueDate: string }) => ({
          amount: formatAmount(p.amountMinor, scale),
          held: formatAmount(p.heldMinor, scale),
          dueDate: p.dueDate,
        });
        // Recorded once: a retry answers what was recorded (a dispute opened since holds nothing).
        const recorded = await payoutOfCycle(client, c.cycleId, { forUpdate: true });
        if (recorded) return view(recorded);
        const journal = await journalOf(client, payoutJournalId(c.cycleId));
        const approved = (journal?.entries ?? [])
          .flatMap((e) => e.postings)
          .reduce((s, p) => s + p.amountMinor, 0n);
        if (!journal || approved <= 0n) return null;
        const done = await accruals.accrualOf(client, c.cycleId);
        if (!done) throw new NotFoundError(`no statement for ${c.cycleId}`);
        // The statement the payout was prepared from (version 1, the fee step's: restatements
        // are settled through carries, never through this payout).
        const statement = JSON.parse(done.statementText) as Statement;
        // What the statement says is to pay: its payout section's (net payable with what is
        // brought forward, against the minimum payout), else the net payable.
        const toPay = statement.payout?.toPay ?? statement.netPayable;
        const parsed = parseAmount(toPay, scale, { allowNegative: true });
        if (!parsed.ok) throw new DataError(`statement of ${c.cycleId}: to pay ${toPay}`);
        const toPayMinor = parsed.minor > approved ? parsed.minor : approved;
        // Open disputes hold back what they contest: back to fees payable (still owed), the
        // payout pays the rest.
        const { heldMinor, holdNowMinor } = disputeHold({
          toPayMinor,
          approvedMinor: approved,
          disputeHoldMinor: await disputeHoldMinor(client, c.cycleId),
        });
        if (holdNowMinor > 0n) {
          const held = payoutHeldJournal(c, holdNowMinor, await businessDayNow(client, c.partnerId), {
            line: 'netPayable',
            reason: 'open disputes of the statement',
          });
          await storeJournal(client, held);
          await postJournal(client, held.id);
        }
        const amount = toPayMinor - heldMinor;
        if (amount <= 0n)
          return { amount: formatAmount(0n, scale), held: formatAmount(heldMinor, scale), dueDate: '' };
        const terms = readContractTerms(
          await accruals.contractVersion(client, c.partnerId, statement.contractVersion),
        );
        const approvers = journal.summary?.approvers;
        await insertPayout(client, {
          cycleId: c.cycleId,
          partnerId: c.partnerId,
          currency: c.currency,
          currencyScale: scale,
          netMinor: toPayMinor,
          amountMinor: amount,
          heldMinor,
          approvedBy: Array.isArray(approvers) ? approvers.map(String) : [],
          paymentTermsDays: terms.settlement.paymentTermsDays,
        });
        const stored = (await payoutOfCycle(client, c.cycleId))!;
        await auditWorkflowStep(client, {
          action: 'payout.approved',
          target: c.cycleId,
          details: {
            amountMinor: amount.toString(),
            heldMinor: heldMinor.toString(),
            currency: c.currency,
            dueDate: stored.dueDate,
          },
        });
        return view(stored);
      });
    },
  };
}
