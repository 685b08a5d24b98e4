import { allHandlersFinished, condition, patched } from '@temporalio/workflow';
import { Cycle } from './cycle';
import type { CycleStart, CycleView } from './messages';
import { steps } from './policies';

/** Patches (replay-safe additions; histories recorded before them take the old path). */
export const STATEMENT_ISSUED = 'statement-issued-before-approval';
export const PAYOUT_RECORDED = 'payout-recorded';

/**
 * One partner's settlement day (or week, or month), as finance runs it: cut-off, freeze, fetch
 * the provider's report, reconcile, resolve the exceptions, wait for the month's earlier
 * periods, settle (FX, fees, statement and journal), post, approve, pay and notify. Postgres
 * owns the records (the exception book, the statement, the journals); this workflow owns the
 * process and holds counts, versions and who decided. State, messages, labels, reminders and
 * waits: ./cycle.ts; retry policies: ./policies.ts.
 */
export async function settlementCycleV2({ resume, ...given }: CycleStart): Promise<CycleView> {
  const cycle = new Cycle(given);
  // A run continued as new goes on waiting for operators, its handlers ready from its first task.
  const continued = cycle.continues(resume);
  cycle.listen();
  await cycle.confirmPlan(given);
  try {
    if (!continued) {
      await cycle.register();
      // 1. Cut-off plus grace, on a durable timer; then the period's sources freeze.
      await cycle.waitForCutoff();
      await cycle.freeze();
      // 2–3. The provider's report, page by page, against ours: every difference into the book.
      await cycle.fetchAndReconcile();
    }
    await cycle.readBook();

    // 4. Operators resolve what is open (Temporal UI or API, one or a list per Update); past its
    // history budget the run continues as new.
    await cycle.waitForResolutions();

    // 5. The month's earlier periods compute their fees first.
    await cycle.waitForEarlierPeriods();

    // 6. FX locked, then the fee from the contract in force: the statement and its journal,
    // from the exception book at the version this workflow decided on.
    const settled = await cycle.settle();

    // 7. Post the settlement's journal (idempotent keys from the cycle id); publish the statement.
    await cycle.publish('Posting', `net payable ${cycle.net}`);
    await steps.postJournal.executeWithOptions({ summary: `settlement journal, net payable ${cycle.net}` }, [
      settled.journalId,
    ]);
    await steps.publishStatement(cycle.args);

    // 7b. Issue it to the partner (digest, acknowledgement deadline; signed webhook delivered
    // meanwhile): before approval, so that a dispute raised now holds its amount from the payout.
    const issued = patched(STATEMENT_ISSUED) ? await cycle.issueStatement() : null;

    // 8. Above the contract's threshold, two different operators (neither a maker) approve.
    if (settled.needsApproval) await cycle.waitForApprovals();

    // 9. Pay: the payout's journal, its amount from Postgres; then the payout's record (approved,
    // due date), which the operator's API and the bank statements take on from there.
    await cycle.payOut();
    if (patched(PAYOUT_RECORDED)) await cycle.recordPayout();

    // 10. Tell the partner (after the statement's own webhook).
    await issued?.delivered;
    await cycle.notify(settled.notification);
    await cycle.publish('Completed', `paid ${cycle.net}`);
  } catch (err) {
    await cycle.stopOnDataError(err);
  }
  // No Update handler may be cut off by the workflow completing.
  await condition(allHandlersFinished);
  return cycle.view;
}
