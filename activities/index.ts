import type { Db } from '../db/pool';
import type { Config } from '../platform/config';
import type { CurrencyRegistry } from '../domain/money';
import type { SecretBox } from '../platform/secrets';
import { auditActivities } from './audit';
import { bulkActivities } from './bulk';
import { exceptionImportActivities } from './exception-import';
import { exceptionQueueActivities } from './exception-queue';
import { withFailureMapping } from './failures';
import { journalActivities } from './journal';
import { legacySettlementActivities } from './legacy-settlement';
import { onboardingActivities } from './onboarding';
import { partnerActivities } from './partners';
import { reportActivities } from './report';
import { settlementActivities } from './settlement';
import { temporalSweepActivities } from './temporal-sweep';
import { watchActivities } from './watch';
import { periodActivities } from './periods';
import { invoiceActivities } from './invoices';
import { disputeActivities } from './disputes';
import { payoutActivities } from './payouts';
import { restatementActivities } from './restatements';

export interface ActivityDeps {
  db: Db;
  /** ISO 4217 plus the configured extra assets (CURRENCY_EXTRA_ASSETS). */
  currencies?: CurrencyRegistry;
  /** Opens stored secrets (webhook signing keys). */
  secrets?: SecretBox;
  /** FX reference-rates service (FX_RATES_URL). */
  fxRatesUrl?: string;
  /** Service URLs, task queues and onboarding timers. */
  config?: Config;
}

/** Builds every activity from the resources it needs; workers wire this once, tests pass real ones. */
export function createActivities(deps: ActivityDeps) {
  return withFailureMapping({
    ...auditActivities(deps),
    ...onboardingActivities(deps),
    ...partnerActivities(deps),
    ...reportActivities(deps),
    ...settlementActivities(deps),
    ...journalActivities(deps),
    ...legacySettlementActivities(deps),
    ...temporalSweepActivities(deps),
    ...exceptionQueueActivities(deps),
    ...exceptionImportActivities(deps),
    ...bulkActivities(deps),
    ...watchActivities(deps),
    ...periodActivities(deps),
    ...invoiceActivities(deps),
    ...disputeActivities(deps),
    ...payoutActivities(deps),
    ...restatementActivities(deps),
  });
}

export type Activities = ReturnType<typeof createActivities>;
