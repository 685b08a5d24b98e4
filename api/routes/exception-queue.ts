import type { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import type { Router } from 'express';
import { z } from 'zod';
import {
  ageingView,
  assignException,
  listQueue,
  QUEUE_SORTS,
  type QueueItem,
} from '../../db/exception-queue';
import { actorKey, subjectForName } from '../../domain/actors';
import { BadRequestError } from '../../domain/errors';
import { partnerIdSchema } from '../../domain/partner';
import { AGEING_BUCKETS, slaTierSchema, SLA_TIERS } from '../../domain/sla';
import { nonBlankText } from '../../domain/text';
import { operatorActor, operatorNameSchema } from '../../platform/operators';
import { authDeps } from '../auth';
import type { ApiDeps } from '../deps';
import { decodeCursor, nextCursorSchema, page, pageQuery } from '../paging';
import { mountRoute } from '../route';
import { errorResponses, jsonResponse } from '../schemas';

// The exception work queue (operators only): open exceptions across every cycle with their SLA
// tier and due time (domain/sla.ts), filters, sorts and keyset paging; an ageing view; and
// assignment. Escalation is the scheduled sweep's (activities/exception-queue.ts), not an API's.

const cycleId = z
  .string()
  .regex(
    /^settlement:[a-z0-9][a-z0-9-]{1,62}:\d{4}-\d{2}-\d{2}$/,
    'a settlement id: settlement:<partnerId>:<periodStart>',
  );
const minorUnits = z
  .string()
  .regex(/^\d{1,18}$/, 'minor units as digits')
  .transform((v) => BigInt(v));
/** A person's actor key (domain/actors.ts): `issuer#subject`. */
// No control characters (NUL among them) on either side: the published pattern says what the
// text rule refuses, so a string the pattern admits is one the API stores.
// eslint-disable-next-line no-control-regex -- the control characters are what it refuses
const ACTOR_KEY = /^[^\s#\x00-\x1f\x7f]{1,300}#[^\s\x00-\x1f\x7f]{1,300}$/;

const tiersDoc = SLA_TIERS.join(', ');

const queueItem = z
  .object({
    settlementId: z.string(),
    exceptionId: z.string(),
    kind: z.string(),
    partnerId: z.string(),
    currency: z.string().nullable(),
    differenceMinor: z.string().meta({ description: 'Signed, minor units of `currency`' }),
    foundAt: z.string(),
    ageHours: z.number(),
    tier: slaTierSchema,
    dueAt: z.string(),
    overdue: z.boolean(),
    assignee: z.object({ actor: z.string(), name: z.string() }).nullable(),
    escalatedTier: slaTierSchema
      .nullable()
      .meta({ description: 'The tier the SLA sweep last escalated it at' }),
  })
  .meta({ id: 'ExceptionQueueItem' });

const ageingGroup = {
  count: z.number().int(),
  overdue: z.number().int(),
  amounts: z.array(z.object({ currency: z.string().nullable(), absMinor: z.string() })).meta({
    description: 'Σ|difference| per currency, in its minor units (never added across currencies)',
  }),
};
const ageingBody = z.object({
  asOf: z.string(),
  open: z.number().int(),
  buckets: z.array(z.object({ bucket: z.enum(AGEING_BUCKETS.map((b) => b.bucket)), ...ageingGroup })),
  tiers: z.array(z.object({ tier: slaTierSchema, ...ageingGroup })),
});

const assignmentBody = z
  .object({
    assignee: z
      .union([z.string().regex(ACTOR_KEY, 'an actor key (issuer#subject)'), operatorNameSchema])
      .nullable()
      .meta({
        description:
          "An actor key (`issuer#subject`, as the audit trail records people) or a name of Clearhouse's own " +
          "operator tokens (its subject is the name's lower-case form); null unassigns. With an external OIDC issuer, give the actor key.",
      }),
    reason: nonBlankText(500).optional(),
  })
  .strict()
  .meta({
    id: 'ExceptionAssignment',
    description: 'Who assigns is the caller: from the token, never from the body.',
  });

export function exceptionQueueRoutes(router: Router, registry: OpenAPIRegistry, deps: ApiDeps): void {
  const auth = authDeps(deps.db, deps.config.api);
  const tiers = deps.config.exceptionQueue.slaTiers;
  const sortSchema = z.enum(QUEUE_SORTS);
  const orderSchema = z.enum(['asc', 'desc']);
  const cursorSchema = z.object({
    sort: sortSchema,
    order: orderSchema,
    k: z.string(),
    settlementId: z.string(),
    exceptionId: z.string(),
  });

  mountRoute(router, registry, auth, {
    method: 'get',
    path: '/v1/exception-queue',
    summary: 'Open exceptions across settlements (operator): filters, sorts, SLA tiers and due times',
    description:
      "Each cycle's current run only. Tiers (" +
      tiersDoc +
      ') from |difference| and age as EXCEPTION_SLA_TIERS sets them (amounts in minor units of the ' +
      "exception's own currency). `sort=age&order=desc` (the default) lists the oldest first; ties break by " +
      'settlement and exception id, so paging with `cursor` neither repeats nor loses an item. A cursor ' +
      'is only valid with the sort and order it was given with.',
    tags: ['exceptions'],
    auth: 'viewer',
    query: z.object({
      partnerId: partnerIdSchema.optional(),
      kind: z.string().min(1).max(100).optional(),
      assignee: z
        .union([z.literal('none'), z.string().regex(ACTOR_KEY, 'an actor key (issuer#subject) or none')])
        .optional()
        .meta({ description: 'An actor key, or `none` for the unassigned' }),
      tier: slaTierSchema.optional(),
      minAmount: minorUnits.optional().meta({ description: '|difference| at least, minor units' }),
      maxAmount: minorUnits.optional().meta({ description: '|difference| at most, minor units' }),
      currency: z
        .string()
        .regex(/^[A-Z][A-Z0-9]{2,9}$/, 'a currency code')
        .optional(),
      olderThanHours: z.coerce
        .number()
        .min(0)
        .max(24 * 3660)
        .optional(),
      sort: sortSchema.default('age'),
      order: orderSchema.default('desc'),
      ...pageQuery,
    }),
    responses: {
      200: jsonResponse(
        z.object({ items: z.array(queueItem), nextCursor: nextCursorSchema }),
        'Open exceptions in the order asked',
      ),
      ...errorResponses(400, 401, 403),
    },
    handler: async ({ query }) => {
      const after = decodeCursor(query.cursor, cursorSchema);
      // A key of one order means nothing in another: the cursor says which it was given for.
      if (after && (after.sort !== query.sort || after.order !== query.order))
        throw new BadRequestError('cursor is not one this list gave out', [
          {
            path: 'query.cursor',
            message: `it was given for sort=${after.sort}&order=${after.order}: pass the same sort and order`,
          },
        ]);
      const rows = await listQueue(
        deps.db,
        tiers,
        {
          partnerId: query.partnerId ?? null,
          kind: query.kind ?? null,
          assignee: query.assignee ?? null,
          tier: query.tier ?? null,
          minAmountMinor: query.minAmount ?? null,
          maxAmountMinor: query.maxAmount ?? null,
          currency: query.currency ?? null,
          olderThanHours: query.olderThanHours ?? null,
        },
        { by: query.sort, order: query.order },
        { limit: query.limit + 1, after },
      );
      const { items, nextCursor } = page(rows, query.limit, (r: QueueItem) => ({
        sort: query.sort,
        order: query.order,
        ...r.key,
      }));
      return { status: 200, body: { items: items.map(({ key: _key, ...item }) => item), nextCursor } };
    },
  });

  mountRoute(router, registry, auth, {
    method: 'get',
    path: '/v1/exception-queue/ageing',
    summary:
      'Open exceptions by ageing bucket and by SLA tier (operator): counts, overdue, Σ|difference| per currency',
    description: `Buckets ${AGEING_BUCKETS.map((b) => b.bucket).join(', ')} (age since found; each age in one bucket); tiers ${tiersDoc}. \`perPartner=true\` adds the same per partner.`,
    tags: ['exceptions'],
    auth: 'viewer',
    query: z.object({
      partnerId: partnerIdSchema.optional(),
      perPartner: z.enum(['true', 'false']).default('false'),
    }),
    responses: {
      200: jsonResponse(
        ageingBody.extend({
          partners: z.array(ageingBody.extend({ partnerId: z.string() })).nullable(),
        }),
        'Every bucket and tier, zero when empty',
      ),
      ...errorResponses(400, 401, 403),
    },
    handler: async ({ query }) => {
      const view = await ageingView(deps.db, tiers, {
        partnerId: query.partnerId ?? null,
        perPartner: query.perPartner === 'true',
      });
      return { status: 200, body: { ...view.all, partners: view.partners } };
    },
  });

  mountRoute(router, registry, auth, {
    method: 'post',
    path: '/v1/settlements/{id}/exceptions/{exceptionId}/assignment',
    summary: 'Assign an open exception to an operator, or unassign it (resolver)',
    description:
      'Recorded on the exception and as an `assigned` event of its history (who assigned, to whom, why), ' +
      "in one transaction. Not a money decision: the exception book's version does not change. " +
      'Assigning to the current assignee again changes nothing (`changed: false`).',
    tags: ['exceptions'],
    auth: 'resolver',
    params: z.object({ id: cycleId, exceptionId: z.string().min(1).max(300) }),
    body: assignmentBody,
    bodyExample: { assignee: 'clearhouse#ana', reason: 'partner nova is hers this week' },
    responses: {
      200: jsonResponse(
        z.object({
          settlementId: z.string(),
          exceptionId: z.string(),
          assignee: z.object({ actor: z.string(), name: z.string() }).nullable(),
          assignedAt: z.string().nullable(),
          changed: z.boolean(),
          bookVersion: z.number().int(),
        }),
        'The exception as assigned',
      ),
      ...errorResponses(404, 409),
    },
    handler: async ({ params, body, principal }) => {
      if (principal.kind !== 'operator') throw new Error('operator route reached without an operator');
      const by = operatorActor(principal);
      const result = await assignException(deps.db, {
        cycleId: params.id,
        exceptionId: params.exceptionId,
        assignee:
          body.assignee === null ? null : assigneeOf(body.assignee, deps.config.api.operatorTokens.issuer),
        by: { actor: actorKey(by), name: by.name },
        reason: body.reason ?? null,
      });
      return { status: 200, body: result };
    },
  });
}

/**
 * The actor an assignee names: an actor key as given (shown by its subject), or a name of
 * Clearhouse's own tokens, whose subject is the name's lower-case form (platform/operators.ts
 * mints them so): `ana` and `Ana` are one person.
 */
function assigneeOf(assignee: string, issuer: string): { actor: string; name: string } {
  const hash = assignee.indexOf('#');
  if (hash >= 0) return { actor: assignee, name: assignee.slice(hash + 1) };
  return { actor: `${issuer}#${subjectForName(assignee)}`, name: assignee };
}
