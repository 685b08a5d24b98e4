import { randomUUID } from 'node:crypto';
import { insertApplication } from '../../db/applications';
import type { PartnerApplication } from '../../domain/onboarding';
import { taskQueue } from '../../platform/temporal';
import { onboardingWorkflowId } from '../../workflows/ids';
import { partnerOnboarding } from '../../workflows/onboarding';
import type { Stack } from './stack';

/**
 * An application stored as the API stores it, but past the API's validation (a zone or an id
 * the API would refuse), and its onboarding started straight on Temporal with its id: how the
 * tests reach what only the activities can judge. `extra` adds fields to the workflow's input.
 */
export async function startStoredApplication(
  stack: Stack,
  application: Omit<PartnerApplication, 'providerConnection'> & { providerConnection?: null },
  opts: { workflowId?: string; submittedBy?: string; extra?: Record<string, unknown> } = {},
) {
  const applicationId = `app_${randomUUID()}`;
  const workflowId = opts.workflowId ?? onboardingWorkflowId(application.partner.id);
  const submittedBy = opts.submittedBy ?? 'bootstrap-admin';
  await insertApplication(stack.db.pool, {
    id: applicationId,
    workflowId,
    submittedBy,
    application: { ...application, providerConnection: null },
  });
  return stack.temporal.workflow.start(partnerOnboarding, {
    taskQueue: taskQueue(stack.config, 'onboarding'),
    workflowId,
    args: [
      {
        applicationId,
        partnerId: application.partner.id,
        submittedBy,
        reminderIntervalMs: 60_000,
        expiresAfterMs: 600_000,
        ...opts.extra,
      },
    ],
  });
}
