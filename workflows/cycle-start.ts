import type { SearchAttributePair } from '@temporalio/common';
import type { SettlementInput } from '../domain/settlement';
import { settlementWorkflowId } from './ids';
import { PartnerId, SettlementPeriod, SettlementStatus } from './search-attributes';

/**
 * The one way a settlement cycle is started, whoever starts it (the API with a client, a
 * partner's Schedule with startChild): its id from the business keys, a duplicate refused,
 * the search attributes the UI filters on from the first moment, and the summary it shows.
 * Deterministic, so the scheduled workflow can use it too.
 */
export function settlementCycleStart(input: SettlementInput): {
  workflowId: string;
  args: [SettlementInput];
  workflowIdReusePolicy: 'REJECT_DUPLICATE';
  typedSearchAttributes: SearchAttributePair[];
  staticSummary: string;
} {
  const period =
    input.periodEnd === input.periodStart ? input.periodStart : `${input.periodStart} to ${input.periodEnd}`;
  const who = input.partnerName ? `${input.partnerName} (${input.partnerId})` : input.partnerId;
  return {
    workflowId: settlementWorkflowId(input.partnerId, input.periodStart),
    args: [input],
    workflowIdReusePolicy: 'REJECT_DUPLICATE',
    typedSearchAttributes: [
      { key: PartnerId, value: input.partnerId },
      { key: SettlementPeriod, value: `${input.periodStart}/${input.periodEnd}` },
      { key: SettlementStatus, value: 'WaitingForCutoff' },
    ],
    staticSummary: `Settle ${who} for ${period} in ${input.currency}`,
  };
}
