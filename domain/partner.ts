import { z } from 'zod';
import { timezoneSchema } from './timezones';
import { nonBlankText } from './text';

// The one time-zone rule (domain/timezones.ts), re-exported where partners are described.
export { timezoneSchema };

/** Partner ids are business keys: they appear in workflow ids and ledger account names. */
export const partnerIdSchema = z
  .string()
  .regex(/^[a-z0-9][a-z0-9-]{1,62}$/, 'lowercase letters, digits and dashes, 2 to 63 characters');

export const currencyCodeSchema = z
  .string()
  .regex(/^[A-Z][A-Z0-9]{2,9}$/, 'must be an ISO 4217 code such as EUR (or a configured asset code)');

export const partnerKinds = ['provider', 'aggregator', 'affiliate'] as const;

export const newPartnerSchema = z
  .object({
    id: partnerIdSchema,
    name: nonBlankText(200),
    kind: z.enum(partnerKinds),
    timezone: timezoneSchema,
    settlementCurrency: currencyCodeSchema,
  })
  .strict();

export type NewPartner = z.infer<typeof newPartnerSchema>;

export const partnerStatuses = ['onboarding', 'active', 'suspended'] as const;
export type PartnerStatus = (typeof partnerStatuses)[number];

export interface Partner extends NewPartner {
  status: PartnerStatus;
  createdAt: string;
  activatedAt: string | null;
}

/** Two registrations describe the same partner (used to make onboarding idempotent). */
export function samePartner(a: NewPartner, b: NewPartner): boolean {
  return (
    a.id === b.id &&
    a.name === b.name &&
    a.kind === b.kind &&
    a.timezone === b.timezone &&
    a.settlementCurrency === b.settlementCurrency
  );
}
