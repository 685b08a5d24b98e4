import { ApplicationFailure } from '@temporalio/workflow';

// Placeholder exported by workflows/index.ts; replaced by the work of issue 20.
export async function settlementRestatement(): Promise<void> {
  throw ApplicationFailure.nonRetryable('not built yet');
}
