export {
  StagePipeline,
  type ScannerRoute,
  type InlineCheck,
  type PipelineSettings,
  type PipelineDeps,
  type PipelineLogger,
  type IncomingStage,
  type StageOutcome,
} from './pipeline.js';
export { ResultWaiter } from './waiter.js';
export { ByteBudget, type ByteBudgetLimits, type BudgetRefusal } from './budget.js';
export { PoolWatcher, type PoolWatcherOptions } from './pools.js';
export { LoopLag } from './lag.js';
export { keepQuarantined, type QuarantineKeeper } from './quarantine.js';
