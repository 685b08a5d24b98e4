import * as bulk from '../db/bulk';
import type { BatchResult } from '../db/exception-book';
import type { Db } from '../db/pool';
import type { Decider } from '../domain/actors';
import type { BulkFilter, BulkOutcome, BulkPreview, BulkResolutionInput } from '../domain/bulk';
import { workflowAuditEvent, type WorkflowAuditInput } from './audit';
import type { CycleArgs } from './settlement';
import { bulkThresholdOf } from '../services/reconciliation-rules';

// Bulk resolutions as the workflow's Updates ask for them: the preview (a validator cannot read
// Postgres, so its handler asks here) and the apply, in one transaction with its audit event.
export function bulkActivities({ db }: { db: Db }) {
  return {
    async previewBulkResolution(c: CycleArgs, filter: BulkFilter): Promise<BulkPreview> {
      return bulk.previewBulk(db, c.cycleId, filter, {
        thresholdMinor: await bulkThresholdOf(db, c),
        settlementCurrency: c.currency,
      });
    },

    async applyBulkResolution(
      c: CycleArgs,
      m: BulkResolutionInput & {
        who: Decider;
        audit: Omit<WorkflowAuditInput, 'action' | 'target' | 'role'> & { updateId: string };
      },
    ): Promise<BulkOutcome & { result: BatchResult | null }> {
      const { who, audit, ...request } = m;
      const event = await workflowAuditEvent({
        ...audit,
        action: 'settlement.resolveInBulk',
        target: `${c.cycleId}/exceptions`,
        role: 'resolver',
        details: {
          filter: request.filter,
          resolution: request.resolution,
          reason: request.reason,
          digest: request.digest,
          ...(request.writeOffAccount ? { writeOffAccount: request.writeOffAccount } : {}),
        },
      });
      return bulk.applyBulk(db, c.cycleId, {
        ...request,
        who,
        updateId: audit.updateId,
        thresholdMinor: await bulkThresholdOf(db, c),
        settlementCurrency: c.currency,
        audit: event,
      });
    },
  };
}
