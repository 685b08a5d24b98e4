// Every workflow the workers register. Deterministic code only: see eslint.config.mjs.
export { partnerConnectivityTest, partnerOnboarding } from './onboarding';
export { settlementCycle } from './settlement';
export { scheduledSettlement } from './scheduled-settlement';
export { temporalSweep } from './temporal-sweep';
