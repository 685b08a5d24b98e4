import { postJournal } from '../db/journals';
import type { Db } from '../db/pool';
import { withTransaction } from '../db/retry';
import { auditWorkflowStep } from './audit';

// Posting a stored journal (domain/journal.ts, db/journals.ts) as a step of a workflow: the
// entries and the step's audit event commit together or not at all. A retry (Temporal, a
// worker crash) posts nothing twice and returns the same entry ids.

/** The audit action of a journal's posting, as the settlement cycle has always recorded it. */
const AUDIT_ACTIONS: Record<string, string> = {
  settlement: 'settlement.post',
  payout: 'settlement.payout',
};

export function journalActivities({ db }: { db: Db }) {
  return {
    /**
     * Posts the journal stored under `journalId` (e.g. `<cycleId>:settlement`, stored by the
     * fee step) and records the step in the audit trail: `settlement.post` with the net payable,
     * currency and entry ids, `settlement.payout` with the amount, currency, approvers and entry
     * id. A journal with nothing to post (nothing owed) posts and records nothing.
     */
    async postJournal(journalId: string): Promise<{ entries: number }> {
      return withTransaction(db, async (client) => {
        const { entryIds, journal } = await postJournal(client, journalId);
        // A count into history: the ids are in the ledger and the audit event.
        if (entryIds.length === 0) return { entries: 0 };
        const summary = journal.summary ?? {};
        await auditWorkflowStep(client, {
          action: AUDIT_ACTIONS[journal.kind] ?? `journal.${journal.kind}`,
          target: journal.sourceRef,
          details:
            journal.kind === 'payout'
              ? { ...summary, entryId: entryIds[0]! }
              : { ...summary, journalId, entryIds },
        });
        return { entries: entryIds.length };
      });
    },
  };
}
