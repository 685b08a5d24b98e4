// Every workflow the workers register. Deterministic code only: see eslint.config.mjs.
export { partnerConnectivityTest, partnerOnboarding } from './onboarding';
export { settlementCycleV2 } from './settlement';
// Until every cycle started before the cut-over has finished (README, "Cut-over to settlementCycleV2").
export { settlementCycle } from './legacy/settlement-cycle-v1';
export { scheduledSettlement } from './scheduled-settlement';
export { temporalSweep } from './temporal-sweep';
export { exceptionSlaSweep } from './exception-sla-sweep';
export { watchScan } from './watch-scan';
export { periodClose } from './period-close';
export { settlementDispute } from './dispute';
export { settlementRestatement } from './restatement';
