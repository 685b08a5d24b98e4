import type { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError } from '@temporalio/client';
import type { Router } from 'express';
import { randomUUID } from 'node:crypto';
import { deleteUnclaimedApplication, insertApplication } from '../../db/applications';
import { z } from 'zod';
import { claimIssuedApiKey, getPartner, webhookOf } from '../../db/partners';
import { checkContractTerms, checkPayoutThresholdCeiling, contractTermsSchema } from '../../domain/contract';
import { ConflictError, NotFoundError } from '../../domain/errors';
import {
  applicantDetailsSchema,
  applicationDecisions,
  applicationStatuses,
  partnerProfileSchema,
  type PartnerApplication,
} from '../../domain/onboarding';
import { partnerIdSchema } from '../../domain/partner';
import { partnerSecret, SecretBox } from '../../platform/secrets';
import { taskQueue } from '../../platform/temporal';
import { onboardingWorkflowId } from '../../workflows/ids';
import {
  decideApplication,
  onboardingStatus,
  provideInformation,
  type partnerOnboarding,
} from '../../workflows/onboarding';
import { PartnerId } from '../../workflows/search-attributes';
import { authDeps } from '../auth';
import type { ApiDeps } from '../deps';
import { mountRoute } from '../route';
import { errorResponses, jsonResponse } from '../schemas';
import { describeWorkflow, sendDecision } from '../updates';
import { actorKey } from '../../domain/actors';
import { operatorActor } from '../../platform/operators';
import { providerConnectionBody } from './provider-connection';
import { nonBlankText } from '../../domain/text';

const applicationBody = partnerProfileSchema
  .extend(applicantDetailsSchema.shape)
  .extend({
    webhookUrl: z
      .url({ protocol: /^https?$/ })
      .max(2000)
      .optional(),
    providerConnection: providerConnectionBody.optional(),
    contract: z
      .object({ effectiveFrom: z.iso.date(), terms: contractTermsSchema })
      .strict()
      .optional()
      .meta({ description: 'Becomes contract version 1 on approval (validated by the fee engine now)' }),
  })
  .strict()
  .meta({ id: 'PartnerApplication' });

const applicationView = z
  .object({
    status: z.enum(applicationStatuses),
    partnerId: z.string(),
    submittedBy: z.string(),
    checks: z.unknown(),
    risk: z
      .object({ score: z.number(), level: z.enum(['low', 'medium', 'high']), reasons: z.array(z.string()) })
      .passthrough()
      .nullable(),
    approvalsNeeded: z.number(),
    approvals: z.array(z.string()),
    waitingFor: z.string().nullable().meta({ description: 'What the process waits for, in words' }),
    remindersSent: z.number(),
    connectivity: z.unknown(),
    failure: z.string().nullable(),
  })
  .passthrough()
  .meta({ id: 'PartnerApplicationStatus' });

const params = z.object({ partnerId: partnerIdSchema });

export function applicationRoutes(router: Router, registry: OpenAPIRegistry, deps: ApiDeps): void {
  const auth = authDeps(deps.db, deps.config.api);
  const secrets = new SecretBox(deps.config.secretKeys);
  const workflowId = onboardingWorkflowId;

  mountRoute(router, registry, auth, {
    method: 'post',
    path: '/v1/partner-applications',
    summary: 'Submit a partner application (admin): checks, then a human decision',
    description:
      'Starts `partnerOnboarding` (workflow id `onboarding:<partnerId>`): company registry, licence and sanctions ' +
      'checks with a risk score and its reasons, then operators decide (`POST …/decisions` or the Update ' +
      '`decideApplication` in the Temporal UI). High risk needs two different approvers; the submitter is never ' +
      'one. On approval: partner, contract version 1, ledger accounts, API key (collected once with ' +
      '`POST …/credentials`), a connectivity test of the provider report and the webhook, the settlement Schedule. ' +
      'A contract whose `payoutApprovalThresholdMinor` is above the deployment ceiling (CONTRACT_MAX_PAYOUT_APPROVAL_THRESHOLD_MINOR) is a 422 naming the field.',
    tags: ['partners'],
    auth: 'admin',
    body: applicationBody,
    bodyExample: {
      partnerId: 'pragmatic-eu',
      name: 'Pragmatic EU',
      kind: 'provider',
      timezone: 'Europe/Malta',
      settlementCurrency: 'EUR',
      company: { legalName: 'Pragmatic EU Ltd', registrationNumber: 'C 81234', country: 'MT' },
      licences: [{ jurisdiction: 'MT', number: 'MGA/B2B/123/2020' }],
      contacts: [{ name: 'Ines Borg', email: 'finance@pragmatic.example', role: 'finance' }],
      webhookUrl: 'https://pragmatic.example/clearhouse/notifications',
    },
    responses: {
      202: jsonResponse(
        z.object({ id: z.string(), workflowId: z.string(), status: z.enum(applicationStatuses) }),
        'Submitted; follow it with GET /v1/partner-applications/{partnerId}',
      ),
      ...errorResponses(400, 401, 403, 409, 422),
    },
    handler: async ({ body, principal }) => {
      const { company, licences, contacts, webhookUrl, providerConnection, contract, ...profile } = body;
      // Contract version 1 comes into force with the approval: the same ceiling as any version.
      if (contract)
        checkPayoutThresholdCeiling(
          checkContractTerms(contract.terms, 'contract.terms'),
          deps.config.contracts.maxPayoutApprovalThresholdMinor,
          'contract.terms',
        );
      // A partner still onboarding (an earlier application rejected, expired or failed after it
      // was registered) may apply again; an onboarded one may not.
      const existing = await getPartner(deps.db, profile.partnerId);
      if (existing && existing.status !== 'onboarding')
        throw new ConflictError(`partner ${profile.partnerId} already exists`, [
          { path: 'partnerId', message: 'already a partner' },
        ]);
      const application = {
        partner: {
          id: profile.partnerId,
          name: profile.name,
          kind: profile.kind,
          timezone: profile.timezone,
          settlementCurrency: profile.settlementCurrency,
        },
        details: { company, licences, contacts },
        webhookUrl: webhookUrl ?? null,
        // The provider's credential is sealed (bound to this partner as its provider credential)
        // and stored with the application: it never enters a workflow's input or history.
        providerConnection: providerConnection
          ? {
              format: providerConnection.format,
              baseUrl: providerConnection.baseUrl,
              options: providerConnection.options,
              credentials: providerConnection.credentials
                ? {
                    header: providerConnection.credentials.header,
                    sealed: secrets.seal(
                      providerConnection.credentials.value,
                      partnerSecret(profile.partnerId, 'provider-credential'),
                    ),
                  }
                : null,
            }
          : null,
        contract: (contract ?? null) as PartnerApplication['contract'],
      };
      const id = workflowId(profile.partnerId);
      // The submitter as an actor key (maker-checker compares actors, never names).
      if (principal.kind !== 'operator') throw new Error('operator route reached without an operator');
      const submittedBy = actorKey(operatorActor(principal));
      // The workflow carries only the application's id; its activities read the rest from here.
      const applicationId = `app_${randomUUID()}`;
      await insertApplication(deps.db, { id: applicationId, workflowId: id, submittedBy, application });
      try {
        await deps.temporal.workflow.start<typeof partnerOnboarding>('partnerOnboarding', {
          taskQueue: taskQueue(deps.config, 'onboarding'),
          workflowId: id,
          args: [
            {
              applicationId,
              partnerId: profile.partnerId,
              submittedBy,
              reminderIntervalMs: deps.config.onboarding.reminderIntervalMs,
              expiresAfterMs: deps.config.onboarding.expiresAfterMs,
            },
          ],
          // A rejected, expired or failed application may be submitted again.
          workflowIdReusePolicy: 'ALLOW_DUPLICATE',
          workflowIdConflictPolicy: 'FAIL',
          typedSearchAttributes: [{ key: PartnerId, value: profile.partnerId }],
          staticSummary: `Onboard ${profile.name} (${profile.partnerId}, ${profile.kind}, ${profile.settlementCurrency})`,
        });
      } catch (err) {
        await deleteUnclaimedApplication(deps.db, applicationId);
        if (err instanceof WorkflowExecutionAlreadyStartedError)
          throw new ConflictError(`an application for ${profile.partnerId} is already in review`, [
            { path: 'partnerId', message: 'already in review' },
          ]);
        throw err;
      }
      return {
        status: 202,
        body: { id: profile.partnerId, workflowId: id, status: 'Checking' },
        headers: { Location: `/v1/partner-applications/${profile.partnerId}` },
      };
    },
  });

  mountRoute(router, registry, auth, {
    method: 'get',
    path: '/v1/partner-applications/{partnerId}',
    summary: 'Where an application stands: checks, risk and its reasons, decisions, what it waits for',
    tags: ['partners'],
    auth: 'viewer',
    params,
    responses: {
      200: jsonResponse(applicationView, 'The application'),
      ...errorResponses(400, 401, 403, 404),
    },
    handler: async ({ params }) => {
      try {
        const view = await deps.temporal.workflow
          .getHandle(workflowId(params.partnerId))
          .query(onboardingStatus);
        return { status: 200, body: view };
      } catch (err) {
        if (err instanceof WorkflowNotFoundError)
          throw new NotFoundError(`no application for ${params.partnerId}`, [
            { path: 'params.partnerId', message: 'no application' },
          ]);
        throw err;
      }
    },
  });

  mountRoute(router, registry, auth, {
    method: 'post',
    path: '/v1/partner-applications/{partnerId}/decisions',
    summary: 'Decide an application (approver): the same decideApplication Update the Temporal UI sends',
    description:
      "The operator is the token's: approve, reject or request_info, with a reason. Refusals name why (422): the " +
      'submitter cannot approve, one approver counts once, a confirmed sanctions match cannot be approved.',
    tags: ['partners'],
    auth: 'approver',
    params,
    body: z
      .object({ decision: z.enum(applicationDecisions), reason: nonBlankText(500) })
      .strict()
      .meta({ id: 'ApplicationDecision' }),
    bodyExample: { decision: 'approve', reason: 'registry, licence and screening clear' },
    responses: {
      200: jsonResponse(
        z.object({ status: z.enum(applicationStatuses), approvals: z.number(), needed: z.number() }),
        'Decision recorded',
      ),
      ...errorResponses(400, 401, 403, 404, 409, 422),
    },
    handler: async ({ params, body, principal, req }) => {
      const result = await sendDecision<{
        status: (typeof applicationStatuses)[number];
        approvals: number;
        needed: number;
      }>(deps, {
        workflowId: workflowId(params.partnerId),
        what: `application ${params.partnerId}`,
        decision: decideApplication.name,
        fields: body,
        principal,
        req,
      });
      return { status: 200, body: result };
    },
  });

  mountRoute(router, registry, auth, {
    method: 'post',
    path: '/v1/partner-applications/{partnerId}/information',
    summary: "The applicant's answer to request_info (admin): changed details; the checks run again",
    tags: ['partners'],
    auth: 'admin',
    params,
    body: z
      .object({
        details: applicantDetailsSchema.partial().optional(),
        note: nonBlankText(500),
      })
      .strict()
      .meta({ id: 'ApplicationInformation' }),
    bodyExample: {
      details: { licences: [{ jurisdiction: 'MT', number: 'MGA/B2B/123/2024' }] },
      note: 'renewed licence',
    },
    responses: {
      200: jsonResponse(z.object({ status: z.enum(applicationStatuses) }), 'Recorded'),
      ...errorResponses(400, 401, 403, 404, 409, 422),
    },
    handler: async ({ params, body, principal, req }) => {
      const result = await sendDecision<{ status: (typeof applicationStatuses)[number] }>(deps, {
        workflowId: workflowId(params.partnerId),
        what: `application ${params.partnerId}`,
        decision: provideInformation.name,
        fields: body,
        principal,
        req,
      });
      return { status: 200, body: result };
    },
  });

  mountRoute(router, registry, auth, {
    method: 'post',
    path: '/v1/partner-applications/{partnerId}/credentials',
    summary: "Collect an approved partner's API key and webhook secret (admin), once",
    description:
      'The key was minted inside the onboarding once the partner existed; it is handed out here exactly once ' +
      '(within an hour of activation). Afterwards, or to replace it, rotate with POST /v1/partners/{partnerId}/api-keys.',
    tags: ['partners'],
    auth: 'admin',
    params,
    responses: {
      201: jsonResponse(
        z.object({
          apiKey: z.string().meta({ description: 'Shown only now' }),
          webhookSecret: z
            .string()
            .nullable()
            .meta({ description: 'Signs notifications; null without a webhook' }),
        }),
        'Credentials',
      ),
      ...errorResponses(401, 403, 404, 409),
    },
    handler: async ({ params }) => {
      const partner = await getPartner(deps.db, params.partnerId);
      if (!partner || partner.status !== 'active') {
        // An application on its way is there, just not ready: 409 until it is active.
        const applied = await describeWorkflow(deps.temporal, workflowId(params.partnerId));
        if (!applied && !partner)
          throw new NotFoundError(`no partner or application ${params.partnerId}`, [
            { path: 'params.partnerId', message: 'not found' },
          ]);
        throw new ConflictError(
          `${params.partnerId} is not active (yet): its credentials are handed out once it is`,
          [{ path: 'params.partnerId', message: 'not active (yet)' }],
        );
      }
      const issued = await claimIssuedApiKey(deps.db, params.partnerId);
      if (!issued)
        throw new ConflictError(`the key of ${params.partnerId} was already collected (or expired)`, [
          { path: 'params.partnerId', message: 'rotate with POST /v1/partners/{partnerId}/api-keys' },
        ]);
      const hook = await webhookOf(deps.db, params.partnerId);
      return {
        status: 201,
        body: {
          apiKey: secrets.open(issued.secretSealed),
          webhookSecret: hook ? secrets.open(hook.secretSealed) : null,
        },
      };
    },
  });
}
