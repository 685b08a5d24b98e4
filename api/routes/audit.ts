import type { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import type { Router } from 'express';
import { z } from 'zod';
import { auditSources, listAudit } from '../../db/audit';
import { authDeps } from '../auth';
import type { ApiDeps } from '../deps';
import { decodeCursor, nextCursorSchema, page, pageQuery } from '../paging';
import { mountRoute } from '../route';
import { errorResponses, instantSchema, jsonResponse } from '../schemas';

const auditEventSchema = z
  .object({
    id: z.string(),
    at: z.string(),
    actor: z
      .string()
      .meta({ description: 'Operator name, `partner:<id>`, `schedule:<id>` or `workflow:<id>`' }),
    role: z.string(),
    action: z.string().meta({ example: 'settlement.approvePayout' }),
    target: z.string(),
    source: z.enum(auditSources),
    requestId: z.string().nullable(),
    workflowId: z.string().nullable(),
    beforeDigest: z.string().nullable(),
    afterDigest: z
      .string()
      .nullable()
      .meta({ description: 'sha256 of the request body, or of the new state' }),
    details: z.record(z.string(), z.unknown()),
    chainId: z.number(),
    seq: z.string(),
    hash: z.string().meta({ description: "sha256 of the previous event's hash and this event's content" }),
  })
  .meta({ id: 'AuditEvent' });

const text = z.string().min(1).max(500);

export function auditRoutes(router: Router, registry: OpenAPIRegistry, deps: ApiDeps): void {
  mountRoute(router, registry, authDeps(deps.db, deps.config.api), {
    method: 'get',
    path: '/v1/audit',
    summary: 'The audit trail (admin): every state-changing action, newest first',
    description:
      'Append-only and hash-chained (`npm run audit:verify` checks it). Decisions sent from the Temporal UI appear ' +
      'with source `temporal-ui`, the name from their payload and the client identity from the workflow history.',
    tags: ['audit'],
    auth: 'admin',
    query: z.object({
      actor: text.optional(),
      action: text.optional(),
      target: text.optional(),
      source: z.enum(auditSources).optional(),
      from: instantSchema.optional().meta({ description: 'Inclusive instant' }),
      to: instantSchema.optional().meta({ description: 'Exclusive instant' }),
      ...pageQuery,
    }),
    responses: {
      200: jsonResponse(
        z.object({ events: z.array(auditEventSchema), nextCursor: nextCursorSchema }),
        'A page',
      ),
      ...errorResponses(400, 401, 403),
    },
    handler: async ({ query }) => {
      const after = decodeCursor(query.cursor, z.object({ id: z.string().regex(/^\d{1,19}$/) }));
      const { limit, cursor: _cursor, ...filter } = query;
      const rows = await listAudit(deps.db, filter, after?.id ?? null, limit + 1);
      const { items, nextCursor } = page(rows, limit, (e) => ({ id: e.id }));
      return { status: 200, body: { events: items, nextCursor } };
    },
  });
}
