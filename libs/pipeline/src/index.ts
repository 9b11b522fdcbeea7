export {
  StagePipeline,
  type ScannerRoute,
  type PipelineSettings,
  type PipelineDeps,
  type PipelineLogger,
  type IncomingStage,
  type StageOutcome,
} from './pipeline.js';
export { ResultWaiter } from './waiter.js';
