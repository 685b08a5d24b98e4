import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

// Registered on the server by `npm run dev` and the test harness from
// platform/search-attributes.json; test/temporal-contract.test.ts keeps the two in step.
export const PartnerId = defineSearchAttributeKey('PartnerId', SearchAttributeType.KEYWORD);
export const SettlementPeriod = defineSearchAttributeKey('SettlementPeriod', SearchAttributeType.KEYWORD);
export const SettlementStatus = defineSearchAttributeKey('SettlementStatus', SearchAttributeType.KEYWORD);
export const OpenExceptions = defineSearchAttributeKey('OpenExceptions', SearchAttributeType.INT);

export const allSearchAttributes = [PartnerId, SettlementPeriod, SettlementStatus, OpenExceptions];

/** Set by Temporal on runs a Schedule starts: the nominal time of the firing (also for backfills). */
export const TemporalScheduledStartTime = defineSearchAttributeKey(
  'TemporalScheduledStartTime',
  SearchAttributeType.DATETIME,
);
