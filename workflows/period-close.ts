import {
  ActivityFailure,
  ApplicationFailure,
  proxyActivities,
  setCurrentDetails,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { CloseBlocker } from '../domain/periods';

const steps = proxyActivities<Activities>({
  startToCloseTimeout: '5 minutes',
  retry: {
    initialInterval: '1 second',
    maximumInterval: '1 minute',
    maximumAttempts: 20,
    nonRetryableErrorTypes: ['ConflictError', 'ValidationError', 'NotFoundError'],
  },
});

export interface PeriodCloseInput {
  partnerId: string;
  /** YYYY-MM, the partner's month (business dates in its timezone). */
  month: string;
}

export type PeriodCloseResult =
  | {
      state: 'closed';
      closedAt: string;
      reportDigest: string;
      invoices: { compared: number; variances: number };
    }
  | { state: 'open'; blockers: CloseBlocker[] };

/**
 * Closes one partner's month (id `period-close:<partnerId>:<month>`), requested through the API
 * by an approver whose verified identity the API recorded with the period before the start (the
 * workflow reads it from Postgres, never from its input):
 * 1. every cycle of the month (its period ends in it) must be Completed and the earlier months
 *    with activity closed; otherwise the period stays open with its blockers listed, and the
 *    workflow ends;
 * 2. the month is locked (closing): Postgres refuses every posting dated in it from then on;
 * 3. the period report is computed at the close instant, stored with its digest, the period
 *    closed and the close audited, in one transaction;
 * 4. the partner's invoices of the month are compared with the statements.
 * A failure between 2 and 3 unlocks the month (back to open, the failure listed).
 */
export async function periodClose(input: PeriodCloseInput): Promise<PeriodCloseResult> {
  const period = `${input.partnerId} ${input.month}`;
  setCurrentDetails(`**Checking** ${period}: every cycle of the month Completed, earlier months closed`);
  const begun = await steps.beginPeriodClose.executeWithOptions(
    { summary: `check the cycles of ${period} and lock it (requested by the approver the API recorded)` },
    [input],
  );
  if (begun.outcome === 'blocked') {
    setCurrentDetails(
      `**Open — blocked** (${period}, requested by ${begun.requestedBy}):\n` +
        begun.blockers.map((b) => `- ${b.kind} ${b.ref}: ${b.detail}`).join('\n'),
    );
    return { state: 'open', blockers: begun.blockers };
  }
  setCurrentDetails(`**Closing** ${period}: postings dated in it are refused; computing the period report`);
  let closed: { closedAt: string; digest: string };
  try {
    closed = await steps.completePeriodClose.executeWithOptions(
      {
        summary: `period report of ${period} at the close instant, stored with its digest; closed and audited`,
      },
      [input],
    );
  } catch (err) {
    const reason = err instanceof ActivityFailure ? (err.cause?.message ?? err.message) : String(err);
    await steps.abandonPeriodClose.executeWithOptions({ summary: `unlock ${period}: the close failed` }, [
      { ...input, reason },
    ]);
    setCurrentDetails(`**Open — close failed** (${period}): ${reason}`);
    throw ApplicationFailure.nonRetryable(
      `close of ${period} failed and was undone: ${reason}`,
      'CloseFailed',
    );
  }
  setCurrentDetails(
    `**Closed** ${period} at ${closed.closedAt}; report sha256 ${closed.digest}. Comparing invoices`,
  );
  const invoices = await steps.compareInvoicesForPeriod.executeWithOptions(
    { summary: `compare the partner's invoices of ${input.month} with the statements` },
    [input],
  );
  setCurrentDetails(
    `**Closed** ${period} at ${closed.closedAt}; report sha256 ${closed.digest}; ` +
      `${invoices.compared} invoice(s) compared, ${invoices.variances} fee variance(s)`,
  );
  return { state: 'closed', closedAt: closed.closedAt, reportDigest: closed.digest, invoices };
}
