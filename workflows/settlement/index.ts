// The settlement cycle: its process, its state and messages, its retry policies.
export { settlementCycleV2 } from './process';
export {
  approvePayout,
  importResolutions,
  previewBulkResolution,
  resolveInBulk,
  resolveException,
  settlementStatus,
  type CycleView,
  type ResolveResult,
} from './messages';
