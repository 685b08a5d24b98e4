import type { SearchAttributePair } from '@temporalio/common';
import type { SettlementInput } from '../domain/settlement';
import { settlementWorkflowId } from './ids';
import { PartnerId, SettlementPeriod, SettlementStatus } from './search-attributes';

/**
 * The one way a settlement cycle is started, whoever starts it (the API with a client, a
 * partner's Schedule with startChild): its id from the business keys, a duplicate refused
 * (unless the earlier run failed: a cycle stopped by a data error is started again),
 * the search attributes the UI filters on from the first moment, and the summary it shows.
 * Deterministic, so the scheduled workflow can use it too.
 */
export function settlementCycleStart(input: SettlementInput): {
  workflowId: string;
  args: [SettlementInput];
  workflowIdReusePolicy: 'ALLOW_DUPLICATE_FAILED_ONLY';
  typedSearchAttributes: SearchAttributePair[];
  staticSummary: string;
} {
  const period =
    input.periodEnd === input.periodStart ? input.periodStart : `${input.periodStart} to ${input.periodEnd}`;
  const who = input.partnerName ? `${input.partnerName} (${input.partnerId})` : input.partnerId;
  return {
    workflowId: settlementWorkflowId(input.partnerId, input.periodStart),
    args: [input],
    workflowIdReusePolicy: 'ALLOW_DUPLICATE_FAILED_ONLY',
    typedSearchAttributes: [
      { key: PartnerId, value: input.partnerId },
      { key: SettlementPeriod, value: `${input.periodStart}/${input.periodEnd}` },
      { key: SettlementStatus, value: 'WaitingForCutoff' },
    ],
    staticSummary: `Settle ${who} for ${period} in ${input.currency}`,
  };
}
