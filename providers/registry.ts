import { aggregatorTotalsAdapter } from './adapters/aggregator-totals';
import { csvDailyAdapter } from './adapters/csv-daily';
import { jsonCursorAdapter } from './adapters/json-cursor';
import type { ProviderAdapter } from './types';

/** Every report format Clearhouse reads. Adding a provider format: one adapter, one line here. */
export const adapters: Record<string, ProviderAdapter> = {
  [jsonCursorAdapter.format]: jsonCursorAdapter,
  [csvDailyAdapter.format]: csvDailyAdapter,
  [aggregatorTotalsAdapter.format]: aggregatorTotalsAdapter,
};
