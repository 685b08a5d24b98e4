import type { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import type { Router } from 'express';
import { z } from 'zod';
import { getPartner, listPartners, rotateApiKey, setPartnerStatus, upsertWebhook } from '../../db/partners';
import { pauseSchedule } from '../../services/schedules';
import { decodeCursor, nextCursorSchema, page, pageQuery } from '../paging';
import { withTransaction } from '../../db/retry';
import { ConflictError, NotFoundError } from '../../domain/errors';
import { partnerIdSchema, partnerKinds, partnerStatuses, type Partner } from '../../domain/partner';
import { issueApiKey } from '../../platform/credentials';
import { partnerSecret, SecretBox } from '../../platform/secrets';
import { newWebhookSecret } from '../../platform/webhooks';
import type { ApiDeps } from '../deps';
import { mountRoute } from '../route';
import { errorResponses, jsonResponse, partnerSchema } from '../schemas';
import { providerConnectionRoutes } from './provider-connection';
import { authDeps } from '../auth';
import { nonBlankText } from '../../domain/text';

export function partnerRoutes(router: Router, registry: OpenAPIRegistry, deps: ApiDeps): void {
  const auth = authDeps(deps.db, deps.config.api);
  const secrets = new SecretBox(deps.config.secretKeys);

  mountRoute(router, registry, auth, {
    method: 'get',
    path: '/v1/partners',
    summary: 'List and search partners (operator)',
    description:
      'Partners join through `POST /v1/partner-applications` (checks and a human decision). `q` matches the id or ' +
      'name (case-insensitive, anywhere); filters by status and kind; cursor paging by id.',
    tags: ['partners'],
    auth: 'viewer',
    query: z.object({
      q: nonBlankText(100).optional(),
      status: z.enum(partnerStatuses).optional(),
      kind: z.enum(partnerKinds).optional(),
      ...pageQuery,
    }),
    responses: {
      200: jsonResponse(
        z.object({ partners: z.array(partnerSchema), nextCursor: nextCursorSchema }),
        'A page',
      ),
      ...errorResponses(400, 401, 403),
    },
    handler: async ({ query }) => {
      const after = decodeCursor(query.cursor, z.object({ id: partnerIdSchema }));
      const rows = await listPartners(
        deps.db,
        { q: query.q, status: query.status, kind: query.kind },
        after?.id ?? null,
        query.limit + 1,
      );
      const { items, nextCursor } = page(rows, query.limit, (p) => ({ id: p.id }));
      return { status: 200, body: { partners: items, nextCursor } };
    },
  });

  for (const [action, from, to, summary] of [
    [
      'suspend',
      'active',
      'suspended',
      'Suspend a partner (admin): its writes answer 403 and its Schedule pauses',
    ],
    [
      'reactivate',
      'suspended',
      'active',
      'Reactivate a suspended partner (admin): writes accepted, Schedule resumed',
    ],
  ] as const) {
    mountRoute(router, registry, auth, {
      method: 'post',
      path: `/v1/partners/{partnerId}/${action}`,
      summary,
      description:
        'While suspended the partner can still read its own data (statements, positions) but cannot push ' +
        'transactions; cycles already running continue. Repeating the call is a no-op.',
      tags: ['partners'],
      auth: 'admin',
      params: z.object({ partnerId: partnerIdSchema }),
      body: z.object({ reason: nonBlankText(500) }).strict(),
      bodyExample: { reason: action === 'suspend' ? 'unpaid invoices under review' : 'review closed' },
      responses: {
        200: jsonResponse(partnerSchema, 'The partner'),
        ...errorResponses(401, 403, 404, 409, 422),
      },
      handler: async ({ params, body }) => {
        const partner = await getPartner(deps.db, params.partnerId);
        if (!partner)
          throw new NotFoundError(`partner ${params.partnerId} not found`, [
            { path: 'params.partnerId', message: 'not found' },
          ]);
        if (partner.status !== from && partner.status !== to)
          throw new ConflictError(`partner ${params.partnerId} is ${partner.status}: it cannot ${action}`, [
            { path: 'params.partnerId', message: partner.status },
          ]);
        const updated = await setPartnerStatus(deps.db, params.partnerId, from, to);
        await pauseSchedule(deps.temporal, params.partnerId, to === 'suspended', body.reason);
        return { status: 200, body: updated };
      },
    });
  }

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
      await upsertWebhook(
        deps.db,
        params.partnerId,
        body.url,
        secrets.seal(secret, partnerSecret(params.partnerId, 'webhook-signing')),
      );
      return { status: 200, body: { url: body.url, secret } };
    },
  });

  mountRoute(router, registry, auth, {
    method: 'get',
    path: '/v1/partners/{partnerId}',
    summary: 'Read a partner (operator, or the partner itself)',
    tags: ['partners'],
    auth: 'any',
    partnerView: partnerSchema,
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
