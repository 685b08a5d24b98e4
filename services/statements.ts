import { frozenStatementInputs } from '../db/accruals';
import type { Db } from '../db/pool';
import type { CurrencyRegistry } from '../domain/money';
import { renderStatement, settlePeriod, statementDigest, withPayout } from '../domain/statement';

// Statements as a service for the API and the command line (one code path for both).

/**
 * Dry run: recomputes a settled period's statement from its frozen inputs and compares the
 * bytes with the stored statement. Posts nothing, writes nothing. Null before fees exist.
 */
export async function recomputeStatement(
  db: Db,
  currencies: CurrencyRegistry,
  cycleId: string,
): Promise<{
  identical: boolean;
  storedSha256: string;
  recomputedSha256: string;
  recomputedText: string;
} | null> {
  const frozen = await frozenStatementInputs(db, currencies, cycleId);
  if (!frozen) return null;
  const settled = settlePeriod(frozen.inputs);
  const recomputedText = renderStatement(
    frozen.payout
      ? withPayout(
          settled.statement,
          settled.fees.netPayableMinor,
          frozen.payout,
          frozen.inputs.currencyScale,
        ).statement
      : settled.statement,
  );
  return {
    identical: recomputedText === frozen.storedText,
    storedSha256: statementDigest(frozen.storedText),
    recomputedSha256: statementDigest(recomputedText),
    recomputedText,
  };
}
