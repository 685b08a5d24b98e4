import { ValidationError } from '../domain/errors';
import { compareInvoice, invoicesEndingIn } from '../db/invoices';
import { createCurrencyRegistry } from '../domain/money';
import type { ActivityDeps } from './index';

const MONTH = /^\d{4}-(0[1-9]|1[0-2])$/;

/**
 * Partner invoices at a month's close: the close workflow (workflows/period-close.ts) calls
 * compareInvoicesForPeriod once the month is closed, and every invoice of the partner whose
 * period ends in it is compared with the statements of its period (db/invoices.ts
 * compareInvoice). Idempotent: comparing again records no exception twice (their ids are
 * deterministic, the book keeps each once) and replaces the stored comparison.
 */
export function invoiceActivities(deps: ActivityDeps) {
  const currencies = deps.currencies ?? createCurrencyRegistry(deps.config?.currencies.extraAssets);
  return {
    /**
     * `compared`: invoices compared (those of the month with at least one statement in their
     * period); `variances`: fee_variance lines they have (each an exception in the book of the
     * period's last cycle, whether this run or an earlier one recorded it).
     */
    async compareInvoicesForPeriod(input: {
      partnerId: string;
      month: string;
    }): Promise<{ compared: number; variances: number }> {
      if (!MONTH.test(input.month))
        throw new ValidationError(`month ${input.month}: expected YYYY-MM`, [
          { path: 'month', message: 'YYYY-MM' },
        ]);
      let compared = 0;
      let variances = 0;
      for (const id of await invoicesEndingIn(deps.db, input.partnerId, input.month)) {
        const outcome = await compareInvoice(deps.db, currencies, id, 'period_close');
        if (!outcome) continue;
        compared++;
        variances += outcome.found.length;
      }
      return { compared, variances };
    },
  };
}
