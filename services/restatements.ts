import type { Client } from '@temporalio/client';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import { createHash } from 'node:crypto';
import type pg from 'pg';
import { appendAudit } from '../db/audit';
import { contractVersion, frozenStatementInputs } from '../db/accruals';
import type { Db } from '../db/pool';
import { openPostingDate } from '../db/periods';
import { businessDayNow } from '../db/payouts';
import { chainFrom, insertRestatement, setRestatement, type Restatement } from '../db/restatements';
import { withTransaction } from '../db/retry';
import { contractInForce } from '../db/settlement';
import { latestStatement } from '../db/statement-versions';
import { ConflictError, DataError, NotFoundError } from '../domain/errors';
import type { MonthToDate } from '../domain/fees';
import type { CurrencyRegistry } from '../domain/money';
import {
  restateChain,
  type ChainPeriod,
  type ChainResult,
  type RestatementReason,
} from '../domain/restatement';
import { StatementInputError } from '../domain/statement';
import type { Config } from '../platform/config';
import { taskQueue } from '../platform/temporal';
import { restatementWorkflowId } from '../workflows/ids';

// Restatements as a service: requested by the API, a dispute or an invoice variance (one code
// path), and the chain a restatement recomputes, loaded from Postgres for its workflow's steps.

type Queryable = Pick<pg.Pool | pg.PoolClient, 'query'>;

/**
 * A period of the chain still running (its fee computed, its payout not yet made): the
 * restatement waits for it (retried by its workflow's policy), it is not refused.
 */
export class ChainNotSettled extends Error {}

/** A restatement recomputes at most this many periods (the restated one and those after it). */
export const MAX_CHAIN = 400;

/** One id per partner and change: the same change requested twice is the same restatement. */
export const restatementIdOf = (partnerId: string, changeKey: string): string =>
  `rst-${createHash('sha256').update(`${partnerId}\u001f${changeKey}`).digest('hex').slice(0, 20)}`;

export interface RestatementRequest {
  partnerId: string;
  /** The restated period's settlement (cycle) id. */
  cycleId: string;
  reason: RestatementReason;
  requestedBy: { actor: string; name: string };
  /** What makes two requests the same change (e.g. `dispute:<id>`, a contract version, a reference). */
  changeKey: string;
}

/**
 * Records the restatement (once per partner and change) and starts its workflow
 * (`restatement:<id>`); a second request of the same change starts nothing and answers the
 * same restatement (`created` false). Refused while the period has no statement, or for a
 * settlement of another partner.
 */
export async function requestRestatement(
  deps: { db: Db; temporal: Client; config: Config },
  req: RestatementRequest,
): Promise<{ restatementId: string; workflowId: string; created: boolean }> {
  const latest = await latestStatement(deps.db, req.cycleId);
  if (!latest || latest.statement.partnerId !== req.partnerId)
    throw new NotFoundError(`settlement ${req.cycleId} of ${req.partnerId} has no statement to restate`);
  const id = restatementIdOf(req.partnerId, req.changeKey);
  // Recorded with its audit event, or not at all; a change whose restatement failed (a period
  // that closed under it, statements that moved) is requested again by asking again.
  const { restatement, created } = await withTransaction(deps.db, async (client) => {
    const r = await insertRestatement(client, {
      id,
      partnerId: req.partnerId,
      settlementId: req.cycleId,
      changeKey: req.changeKey,
      reason: req.reason,
      requestedBy: req.requestedBy,
    });
    const again = !r.created && r.restatement.state === 'failed';
    if (again) await setRestatement(client, id, { state: 'requested' });
    if (r.created || again)
      await appendAudit(client, {
        idempotencyKey: `restatement:${id}:request:${r.created ? 0 : r.restatement.updatedAt}`,
        actor: req.requestedBy.actor,
        role: 'restatement',
        action: 'restatement.request',
        target: req.cycleId,
        source: 'api',
        details: { restatementId: id, reason: req.reason, changeKey: req.changeKey, again },
      });
    return { restatement: r.restatement, created: r.created || again };
  });
  const workflowId = restatementWorkflowId(restatement.id);
  try {
    await deps.temporal.workflow.start('settlementRestatement', {
      workflowId,
      taskQueue: taskQueue(deps.config, 'settlement'),
      args: [{ restatementId: restatement.id }],
    });
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
  }
  return { restatementId: restatement.id, workflowId, created };
}

const mtdOf = (m: Record<string, string | boolean>): MonthToDate => ({
  taxBaseMinor: BigInt((m.taxBaseMinor as string | undefined) ?? '0'),
  gamingTaxMinor: BigInt((m.gamingTaxMinor as string | undefined) ?? '0'),
  volumeMinor: BigInt(m.volumeMinor as string),
  tierFeeMinor: BigInt(m.tierFeeMinor as string),
  variableFeeMinor: BigInt(m.variableFeeMinor as string),
  topUpMinor: BigInt(m.topUpMinor as string),
  fixedFeeCharged: m.fixedFeeCharged as boolean,
  closed: m.closed as boolean,
});

/** The chain a restatement recomputes, with what it posts, computed from Postgres now. */
export interface ComputedChain {
  result: ChainResult;
  periods: ChainPeriod[];
  currency: string;
  currencyScale: number;
  postingDate: string;
}

/**
 * Loads the chain (the restated period and every later settled one of the partner and
 * currency, each with its frozen inputs and its latest version's overrides) and recomputes it
 * with the restatement's change. Every period of the chain must be completed (paid): a later
 * one still running is waited for (ConflictError naming it). The delta is dated on the
 * partner's business day today, or the first open day after a closed period.
 */
export async function computeChain(
  q: Queryable,
  currencies: CurrencyRegistry,
  r: Restatement,
  opts: { postingDate?: string } = {},
): Promise<ComputedChain> {
  const cycles = await chainFrom(q, r.settlementId, MAX_CHAIN + 1);
  if (cycles.length === 0) throw new NotFoundError(`settlement ${r.settlementId} has no statement`);
  if (cycles.length > MAX_CHAIN)
    throw new ConflictError(
      `a restatement recomputes at most ${MAX_CHAIN} periods; this one would recompute more`,
    );
  const running = cycles.filter((c) => c.status !== 'Completed');
  if (running.length > 0)
    throw new ChainNotSettled(
      `every period a restatement recomputes must be settled and paid first: ${running
        .slice(0, 5)
        .map((c) => `${c.cycleId} (${c.status})`)
        .join(', ')}${running.length > 5 ? ` and ${running.length - 5} more` : ''}`,
    );
  const periods: ChainPeriod[] = [];
  let currency = '';
  let currencyScale = 0;
  for (const c of cycles) {
    const frozen = await frozenStatementInputs(q, currencies, c.cycleId);
    const latest = await latestStatement(q, c.cycleId);
    if (!frozen || !latest) throw new DataError(`${c.cycleId} has no frozen inputs or statement`);
    const now = await contractInForce(q, r.partnerId, c.periodStart);
    if (!now) throw new DataError(`no contract in force for ${r.partnerId} on ${c.periodStart}`);
    const inputs =
      latest.version === 1
        ? frozen.inputs
        : {
            ...frozen.inputs,
            contract: {
              version: latest.contractVersion,
              terms: await contractVersion(q, r.partnerId, latest.contractVersion),
            },
            monthToDate: mtdOf(latest.overrides!.monthToDate),
            carriedIn: latest.overrides!.carriedIn.map((x) => ({
              fromSettlementId: x.fromSettlementId,
              amountMinor: BigInt(x.amountMinor),
            })),
          };
    currency = inputs.currency;
    currencyScale = inputs.currencyScale;
    periods.push({
      inputs,
      adjustments: latest.adjustments,
      latest: { version: latest.version, text: latest.text },
      contractNow: { version: now.version, terms: now.stored },
    });
  }
  // Dated today in the partner's timezone (or the first open day after a closed month) — or,
  // when posting, on the day the approved delta was computed for, while that day is still open.
  let postingDate: string;
  if (opts.postingDate) {
    postingDate = opts.postingDate;
    if ((await openPostingDate(q, r.partnerId, postingDate)) !== postingDate)
      throw new ConflictError(
        `restatement ${r.id}: ${postingDate}, the day its approved delta is dated on, has closed since; request it again`,
      );
  } else postingDate = await businessDayNow(q, r.partnerId);
  try {
    return {
      result: restateChain(periods, r.reason, r.id, postingDate),
      periods,
      currency,
      currencyScale,
      postingDate,
    };
  } catch (err) {
    if (err instanceof StatementInputError) throw new DataError(`restatement ${r.id}: ${err.message}`);
    throw err;
  }
}
