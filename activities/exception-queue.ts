import { randomUUID } from 'node:crypto';
import { log } from '@temporalio/activity';
import { escalateOverdue, SLA_SWEEP_ACTOR, type EscalationRun } from '../db/exception-queue';
import type { Db } from '../db/pool';
import { DEFAULT_SLA_TIERS } from '../domain/sla';
import type { Config } from '../platform/config';

/**
 * The most exceptions one sweep escalates: one transaction of bounded size (its row locks and
 * its event rows), whatever the backlog after an outage; the rest are taken by the next runs,
 * the most overdue first.
 */
export const ESCALATIONS_PER_SWEEP = 5_000;

/** The SLA sweep of the exception work queue: escalation of overdue exceptions, set-based. */
export function exceptionQueueActivities({ db, config }: { db: Db; config?: Config }) {
  return {
    /**
     * Run by the `exception-sla-sweep` Schedule (workflows/exception-sla-sweep.ts): escalates
     * open exceptions past their due time to their current tier (db/exception-queue.ts
     * escalateOverdue), at most `limit` per run, with one audit event for the run. Idempotent: a
     * retried or repeated run escalates nothing already escalated at its tier.
     */
    async sweepExceptionSla(opts: { limit?: number } = {}): Promise<EscalationRun> {
      const limit = opts.limit ?? ESCALATIONS_PER_SWEEP;
      const run = await escalateOverdue(
        db,
        config?.exceptionQueue.slaTiers ?? DEFAULT_SLA_TIERS,
        limit,
        (r) => ({
          // Every run that escalates is its own event (a retry after a commit escalates nothing).
          idempotencyKey: `exception-sla-sweep:${randomUUID()}`,
          actor: SLA_SWEEP_ACTOR,
          role: 'schedule',
          action: 'exceptions.escalated',
          target: 'exception-queue',
          source: 'schedule',
          details: { escalated: r.escalated, byTier: r.byTier, limit, limited: r.limited },
        }),
      );
      if (run.escalated > 0)
        warn(
          `SLA sweep escalated ${run.escalated} overdue exception(s): ` +
            `${Object.entries(run.byTier)
              .filter(([, n]) => n > 0)
              .map(([t, n]) => `${t} ${n}`)
              .join(', ')}${run.limited ? ` (limit ${limit} reached: more may be due)` : ''}`,
          { ...run, limit },
        );
      return run;
    },
  };
}

/** Temporal's activity logger; outside an activity (a test calling the function) stderr. */
function warn(message: string, attrs: Record<string, unknown>): void {
  try {
    log.warn(message, attrs);
  } catch {
    process.stderr.write(`${message}\n`);
  }
}
