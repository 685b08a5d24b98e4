import type { Db } from '../db/pool';
import type { CurrencyRegistry } from '../domain/money';
import { resolveInBook, type BatchResult } from '../db/exception-book';
import { importOf, importUpdateId } from '../db/exception-imports';
import type { Decider } from '../domain/actors';
import { NotFoundError } from '../domain/errors';
import { workflowAuditEvent, type WorkflowAuditInput } from './audit';
import { bookItems, type CycleArgs } from './settlement';

/** A stored CSV import of resolutions, applied to the book in one transaction, all or nothing. */
export function exceptionImportActivities({ db }: { db: Db; currencies?: CurrencyRegistry }) {
  return {
    /**
     * Applies an import the API stored (db/exception-imports.ts) to the cycle's book: every item
     * or none (`atomic`). The book records each decision under the Update id
     * `import:<importId>`, whichever Update carried it, so a retry of this activity, or the same
     * file sent again by the same operator, finds its items resolved by itself and reports them
     * applied; the same file sent by another operator meets them as conflicts (they are the
     * first operator's decisions). The audit event names the import and its items.
     */
    async applyResolutionImport(
      c: CycleArgs,
      m: {
        importId: string;
        who: Decider;
        audit: Omit<WorkflowAuditInput, 'action' | 'target' | 'role'> & { updateId: string };
      },
    ): Promise<BatchResult> {
      // Scoped to the cycle: an import of another cycle is not found here.
      const stored = await importOf(db, c.cycleId, m.importId);
      if (!stored) throw new NotFoundError(`no import ${m.importId} for ${c.cycleId}`);
      // Checked in the settlement currency when the API stored it.
      const items = bookItems(stored.items, c.currencyScale);
      const audit = await workflowAuditEvent({
        ...m.audit,
        action: 'settlement.importResolutions',
        target: `${c.cycleId}/exceptions`,
        role: 'resolver',
        details: { importId: m.importId, items: items.length },
      });
      return resolveInBook(db, c.cycleId, {
        items,
        actor: m.who.actor,
        name: m.who.name,
        updateId: importUpdateId(m.importId),
        audit,
        atomic: true,
      });
    },
  };
}
