// The settlement cycle: its process, its state and messages, its retry policies.
export { settlementCycleV2 } from './process';
export {
  approvePayout,
  importResolutions,
  resolveException,
  settlementStatus,
  type CycleView,
  type ResolveResult,
} from './messages';
