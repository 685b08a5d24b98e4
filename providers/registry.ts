import { z } from 'zod';
import { timezoneSchema } from '../domain/partner';
import { aggregatorTotalsAdapter } from './adapters/aggregator-totals';
import { csvDailyAdapter } from './adapters/csv-daily';
import { jsonCursorAdapter } from './adapters/json-cursor';
import type { ProviderAdapter } from './types';

/** Formats that speak in the provider's local time read one option: that timezone (UTC if unset). */
const localTimeOptions = z
  .object({ timezone: timezoneSchema.optional() })
  .strict()
  // On the object, not the field: a field's own meta would copy the whole Timezone enum into
  // each format's schema instead of referring to the one component.
  .meta({ description: "`timezone`: the IANA time zone of the report's days and times; UTC when unset" });

/**
 * Every report format Clearhouse reads, with exactly the options its adapter reads: the one
 * list of formats (the API validates connections against it; the database does not repeat it).
 * Adding a provider format: one adapter, one entry here.
 */
export const providerFormats: Record<string, { adapter: ProviderAdapter; options: z.ZodObject }> = {
  [jsonCursorAdapter.format]: { adapter: jsonCursorAdapter, options: z.object({}).strict() },
  [csvDailyAdapter.format]: { adapter: csvDailyAdapter, options: localTimeOptions },
  [aggregatorTotalsAdapter.format]: { adapter: aggregatorTotalsAdapter, options: localTimeOptions },
};

export const adapters: Record<string, ProviderAdapter> = Object.fromEntries(
  Object.entries(providerFormats).map(([format, { adapter }]) => [format, adapter]),
);
