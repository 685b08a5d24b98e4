import type { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import { WorkflowExecutionAlreadyStartedError, WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { Router } from 'express';
import { z } from 'zod';
import { claimIssuedApiKey, getPartner, rotateApiKey, upsertWebhook } from '../../db/partners';
import { withTransaction } from '../../db/retry';
import { ConflictError, NotFoundError } from '../../domain/errors';
import { partnerIdSchema, samePartner, type Partner } from '../../domain/partner';
import { issueApiKey } from '../../platform/credentials';
import { SecretBox } from '../../platform/secrets';
import { newWebhookSecret } from '../../platform/webhooks';
import { taskQueue } from '../../platform/temporal';
import { onboardingWorkflowId } from '../../workflows/ids';
import type { partnerOnboarding } from '../../workflows/onboarding';
import { PartnerId } from '../../workflows/search-attributes';
import type { ApiDeps } from '../deps';
import { mountRoute } from '../route';
import {
  errorResponses,
  jsonResponse,
  newPartnerBody,
  onboardingResultSchema,
  partnerSchema,
} from '../schemas';
import { providerConnectionRoutes } from './provider-connection';
import { authDeps } from '../auth';

/** How long POST /v1/partners waits for onboarding before answering 202. */
const ONBOARDING_WAIT_MS = 15_000;

export function partnerRoutes(router: Router, registry: OpenAPIRegistry, deps: ApiDeps): void {
  const auth = authDeps(deps.db, deps.config.api);
  const secrets = new SecretBox(deps.config.secretsKey);

  mountRoute(router, registry, auth, {
    method: 'post',
    path: '/v1/partners',
    summary: 'Onboard a partner (operator)',
    description:
      'Starts the `partnerOnboarding` workflow (id `onboarding:<partnerId>`) and waits for it. The response that ' +
      'creates the partner carries its API key, once. Repeating the same request returns the partner without a key; ' +
      'the same id with different details is a 409.',
    tags: ['partners'],
    auth: 'admin',
    body: newPartnerBody,
    bodyExample: {
      id: 'pragmatic-eu',
      name: 'Pragmatic EU',
      kind: 'provider',
      timezone: 'Europe/Malta',
      settlementCurrency: 'EUR',
    },
    responses: {
      201: jsonResponse(onboardingResultSchema, 'Partner onboarded; `apiKey` is shown only now'),
      200: jsonResponse(
        onboardingResultSchema,
        'Same partner already onboarded (idempotent repeat); no new key',
      ),
      202: jsonResponse(onboardingResultSchema, 'Onboarding still running; poll GET /v1/partners/{id}'),
      ...errorResponses(400, 401, 403, 409, 422),
    },
    handler: async ({ body }) => {
      const workflowId = onboardingWorkflowId(body.id);
      const existing = await getPartner(deps.db, body.id);
      if (existing) {
        if (!samePartner(existing, body)) throw conflict(body.id);
        return { status: 200, body: { partner: existing, workflowId, apiKey: null } };
      }
      let handle;
      try {
        handle = await deps.temporal.workflow.start<typeof partnerOnboarding>('partnerOnboarding', {
          taskQueue: taskQueue(deps.config, 'onboarding'),
          workflowId,
          args: [{ partner: body }],
          workflowIdReusePolicy: 'ALLOW_DUPLICATE_FAILED_ONLY',
          workflowIdConflictPolicy: 'FAIL',
          typedSearchAttributes: [{ key: PartnerId, value: body.id }],
          staticSummary: `Onboard partner ${body.id} (${body.kind}, ${body.settlementCurrency})`,
        });
      } catch (err) {
        // A concurrent identical request won the race: it owns the key.
        if (err instanceof WorkflowExecutionAlreadyStartedError) {
          return { status: 202, body: { partner: null, workflowId, apiKey: null } };
        }
        throw err;
      }
      const outcome = await waitFor(handle.result(), ONBOARDING_WAIT_MS).catch((err: unknown) => {
        if (
          err instanceof WorkflowFailedError &&
          err.cause instanceof ApplicationFailure &&
          err.cause.type === 'ConflictError'
        ) {
          throw conflict(body.id);
        }
        throw err;
      });
      // No key is shown for a partner that does not exist yet: the onboarding mints it once the
      // partner is registered, and it is shown here, once, when the partner is active.
      if (outcome === 'timeout') return { status: 202, body: { partner: null, workflowId, apiKey: null } };
      const issued = await claimIssuedApiKey(deps.db, body.id);
      return {
        status: 201,
        body: { partner: outcome, workflowId, apiKey: issued ? secrets.open(issued.secretSealed) : null },
        headers: { Location: `/v1/partners/${body.id}` },
      };
    },
  });

  mountRoute(router, registry, auth, {
    method: 'post',
    path: '/v1/partners/{partnerId}/api-keys',
    summary: "Rotate the partner's API key (admin); the new key is shown once",
    description:
      'The new key works at once; every earlier key keeps working for `overlapHours` (default 24, 0 ends them now), ' +
      'so the partner can deploy the new one without an outage. Also the way to a key when onboarding answered 202.',
    tags: ['partners'],
    auth: 'admin',
    params: z.object({ partnerId: partnerIdSchema }),
    body: z
      .object({ overlapHours: z.number().int().min(0).max(168).default(24) })
      .strict()
      .meta({ id: 'ApiKeyRotation' }),
    bodyExample: { overlapHours: 24 },
    responses: {
      201: jsonResponse(
        z.object({
          apiKey: z.string().meta({ description: 'Shown only now' }),
          keyId: z.string(),
          previousKeysExpireAt: z.string().nullable(),
        }),
        'New key issued',
      ),
      ...errorResponses(401, 403, 404, 422),
    },
    handler: async ({ params, body }) => {
      const partner = await getPartner(deps.db, params.partnerId);
      if (!partner || partner.status === 'onboarding')
        throw new NotFoundError(`partner ${params.partnerId} not found (or not onboarded yet)`, [
          { path: 'params.partnerId', message: 'not found' },
        ]);
      const key = issueApiKey();
      const { previousExpireAt } = await withTransaction(deps.db, (client) =>
        rotateApiKey(client, params.partnerId, key, body.overlapHours * 3600),
      );
      return {
        status: 201,
        body: { apiKey: key.plaintext, keyId: key.keyId, previousKeysExpireAt: previousExpireAt },
      };
    },
  });

  mountRoute(router, registry, auth, {
    method: 'put',
    path: '/v1/partners/{partnerId}/webhook',
    summary: "Set the partner's notification webhook (operator); returns a new signing secret, once",
    description:
      'Notifications are POSTed as JSON with `Clearhouse-Timestamp` (unix seconds) and `Clearhouse-Signature: v1=<hex HMAC-SHA256 of "<timestamp>.<body>">`. ' +
      'Every call rotates the secret. It is stored encrypted, never in clear.',
    tags: ['partners'],
    auth: 'admin',
    params: z.object({ partnerId: partnerIdSchema }),
    body: z
      .object({ url: z.url({ protocol: /^https?$/ }).max(2000) })
      .strict()
      .meta({ id: 'WebhookConfig' }),
    bodyExample: { url: 'https://partner.example/clearhouse/notifications' },
    responses: {
      200: jsonResponse(
        z.object({ url: z.string(), secret: z.string().meta({ description: 'Shown only now' }) }),
        'Webhook set',
      ),
      ...errorResponses(401, 403, 404, 422),
    },
    handler: async ({ params, body }) => {
      if (!(await getPartner(deps.db, params.partnerId)))
        throw new NotFoundError(`partner ${params.partnerId} not found`);
      const secret = newWebhookSecret();
      await upsertWebhook(deps.db, params.partnerId, body.url, secrets.seal(secret));
      return { status: 200, body: { url: body.url, secret } };
    },
  });

  mountRoute(router, registry, auth, {
    method: 'get',
    path: '/v1/partners/{partnerId}',
    summary: 'Read a partner (operator, or the partner itself)',
    tags: ['partners'],
    auth: 'any',
    params: z.object({ partnerId: partnerIdSchema }),
    responses: { 200: jsonResponse(partnerSchema, 'The partner'), ...errorResponses(400, 401, 404) },
    handler: async ({ params, principal }) => {
      // A partner sees only itself; another partner's id is indistinguishable from an unknown one.
      const visible =
        principal.kind === 'operator' ||
        (principal.kind === 'partner' && principal.partnerId === params.partnerId);
      const partner: Partner | null = visible ? await getPartner(deps.db, params.partnerId) : null;
      if (!partner)
        throw new NotFoundError(`partner ${params.partnerId} not found`, [
          { path: 'params.partnerId', message: 'not found' },
        ]);
      return { status: 200, body: partner };
    },
  });

  providerConnectionRoutes(router, registry, deps);
}

function conflict(id: string): ConflictError {
  return new ConflictError(`partner ${id} already exists with different details`, [
    { path: 'id', message: 'already registered with different details' },
  ]);
}

async function waitFor<T>(promise: Promise<T>, ms: number): Promise<T | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), ms))),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
