import {
  ActivityFailure,
  allHandlersFinished,
  ApplicationFailure,
  condition,
  log,
  workflowInfo,
} from '@temporalio/workflow';
import { Cycle } from './cycle';
import type { CycleStart, CycleView } from './messages';
import { DEFAULT_REPORT_FETCH_ATTEMPTS, fetching, notifying, reconciling, steps } from './policies';

/**
 * One partner's settlement day (or week, or month), as finance runs it: cut-off, freeze, fetch
 * the provider's report, reconcile, resolve the exceptions, wait for the month's earlier
 * periods, settle (FX, fees, statement and journal), post, approve, pay and notify. Postgres
 * owns the records (the exception book, the statement, the journals); this workflow owns the
 * process and holds counts, versions and who decided.
 */
export async function settlementCycleV2({ resume, ...given }: CycleStart): Promise<CycleView> {
  const cycle = new Cycle(given);
  // A run continued as new (Temporal says so; a start cannot pose as one) goes on waiting for
  // operators, with its handlers ready from its first workflow task.
  const continuedFrom = workflowInfo().continuedFromExecutionRunId ?? null;
  const continued = resume !== undefined && continuedFrom !== null;
  if (continued) cycle.resume(resume);
  cycle.listen();
  // Nothing money-shaped is taken from the input: the plan recorded in Postgres (partner,
  // period, currency, the contract in force, the requester) is read back, and a start with no
  // plan, or input that differs from it, fails here having posted nothing. A continued run
  // takes over its predecessor's claim.
  cycle.adoptPlan(
    await steps.confirmCyclePlan.executeWithOptions(
      { summary: 'the plan recorded in Postgres (partner, period, contract, requester)' },
      [cycle.args.cycleId, given, continuedFrom],
    ),
  );
  if (!continued) {
    await steps.registerCycle.executeWithOptions({ summary: `list the cycle for ${cycle.period}` }, [
      cycle.args,
    ]);
    // The API audits the cycles it starts; one started by a partner's Schedule audits itself.
    if (workflowInfo().parent)
      await steps.recordAudit({
        action: 'settlement.start',
        target: cycle.args.cycleId,
        role: 'schedule',
        scheduled: true,
      });
  }
  try {
    // 1–3. Cut-off, freeze, the provider's report, reconciliation: once, in the first run.
    if (!continued) {
      // 1. Cut-off plus grace, then the period's sources freeze.
      await cycle.waitForCutoff();
      cycle.view.frozenAt = (
        await steps.freezePeriod.executeWithOptions({ summary: `period ${cycle.period}` }, [cycle.args])
      ).frozenAt;
      cycle.learnTime(cycle.view.frozenAt);

      // 2. The provider's report, page by page; a provider that stays down is an exception, never a guess.
      await cycle.publish('Reconciling', `fetching the provider report for ${cycle.period}`);
      try {
        const report = await fetching(
          cycle.input.reportFetchAttempts ?? DEFAULT_REPORT_FETCH_ATTEMPTS,
        ).fetchReport.executeWithOptions(
          { summary: `${cycle.period}, page by page (progress stored with each page: a new worker resumes)` },
          [cycle.args],
        );
        cycle.view.reportRows = report.rows;
        // 3. Ours against theirs, set-based in Postgres; every difference goes into the exception book.
        await reconciling.reconcileReport.executeWithOptions(
          { summary: 'every transaction of the period, ours against theirs' },
          [{ ...cycle.args, frozenAt: cycle.view.frozenAt }],
        );
      } catch (err) {
        if (!(err instanceof ActivityFailure)) throw err;
        await steps.reportUnavailable(cycle.args, err.cause?.message ?? err.message);
      }
    }
    cycle.adoptBook(await steps.exceptionBook(cycle.args));

    // 4. Operators resolve what is open (Temporal UI or API, one or a list per Update).
    await cycle.waitForResolutions();

    // 5. The month's earlier periods compute their fees first.
    await cycle.waitForEarlierPeriods();

    // 6. FX locked per currency, then the fee from the contract in force, the statement and
    // its journal, from the exception book at the version this workflow decided on.
    await cycle.publish('ComputingFees', 'locking FX rates and applying the contract');
    cycle.view.fxRates = await steps.lockFxRates.executeWithOptions(
      { summary: 'one rate per currency pair, source and time recorded' },
      [cycle.args],
    );
    const settled = await steps.settleCycle.executeWithOptions(
      { summary: 'the contract in force, in the settlement currency: statement and journal' },
      [cycle.args, { bookVersion: cycle.view.bookVersion }],
    );
    cycle.view.fees = settled.figures;
    const net = `${settled.figures.netPayable} ${cycle.input.currency}`;

    // 7. Post the settlement's journal (idempotent keys from the cycle id), then publish the statement.
    await cycle.publish('Posting', `net payable ${net}`);
    await steps.postJournal.executeWithOptions({ summary: `settlement journal, net payable ${net}` }, [
      settled.journalId,
    ]);
    await steps.publishStatement(cycle.args);

    // 8. Above the contract's threshold, two different operators approve the payout.
    if (settled.needsApproval) await cycle.waitForApprovals(settled.figures.netPayable);

    // 9. Pay: the payout journal (amount from Postgres), posted like any other.
    await cycle.publish('PayingOut', net);
    const payout = await steps.preparePayout.executeWithOptions(
      {
        summary: `${net} (approved by ${cycle.view.approvals.map((a) => a.name).join(', ') || 'no one: below threshold'})`,
      },
      [cycle.args, { approvers: cycle.view.approvals }],
    );
    if (payout.journalId)
      await steps.postJournal.executeWithOptions({ summary: `payout journal, ${net}` }, [payout.journalId]);

    // 10. Tell the partner (signed webhook, retried with backoff).
    try {
      cycle.view.notification = await notifying.notifyPartner.executeWithOptions(
        { summary: 'signed webhook to the partner' },
        [cycle.args, settled.notification],
      );
    } catch (err) {
      if (!(err instanceof ActivityFailure)) throw err;
      cycle.view.notification = 'failed';
      log.warn('partner notification failed after retries', { error: err.message });
    }
    await cycle.publish('Completed', `paid ${net}`);
  } catch (err) {
    // A data or constraint error cannot succeed on a retry: the cycle stops in a state an
    // operator sees (UI and API), and its id can be started again once the data is fixed.
    const cause = err instanceof ActivityFailure ? err.cause : undefined;
    if (!(cause instanceof ApplicationFailure) || cause.type !== 'DataError') throw err;
    await cycle.publish(
      'Failed',
      `stopped by a data error: ${cause.message}; fix it, then start the cycle again`,
    );
    await condition(allHandlersFinished);
    throw ApplicationFailure.create({ type: 'CycleFailed', message: cause.message, nonRetryable: true });
  }
  // No Update handler may be cut off by the workflow completing.
  await condition(allHandlersFinished);
  return cycle.view;
}
