import type { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError, type Client } from '@temporalio/client';
import { createHash } from 'node:crypto';
import type { Router } from 'express';
import { z } from 'zod';
import {
  listPeriods,
  partnersActiveIn,
  periodPack,
  periodReport,
  periodState,
  requestPeriodClose,
  storedPeriodReport,
  taxReturn,
  type PeriodRow,
} from '../../db/periods';
import { actorKey } from '../../domain/actors';
import { ConflictError, NotFoundError } from '../../domain/errors';
import { createCurrencyRegistry } from '../../domain/money';
import { partnerIdSchema } from '../../domain/partner';
import {
  JURISDICTION_PATTERN,
  MONTH_PATTERN,
  movementKinds,
  periodStates,
  taxReturnCsv,
  type PeriodReport,
} from '../../domain/periods';
import { operatorActor } from '../../platform/operators';
import { taskQueue } from '../../platform/temporal';
import { periodCloseWorkflowId } from '../../workflows/ids';
import type { periodClose } from '../../workflows/period-close';
import { PartnerId } from '../../workflows/search-attributes';
import { authDeps, type Principal } from '../auth';
import type { ApiDeps } from '../deps';
import { decodeCursor, nextCursorSchema, page, pageQuery } from '../paging';
import { mountRoute } from '../route';
import { errorResponses, instantSchema, jsonResponse } from '../schemas';
import { visiblePartnerInPath } from './insights-money';

const month = z
  .string()
  .regex(MONTH_PATTERN, 'a month YYYY-MM')
  .meta({ description: "A month of the partner's own timezone, YYYY-MM", example: '2026-11' });
const amount = z.string();
/** Whoever decided, as a partner reads it: the role, whatever the name was (api/partner-view.ts). */
const asRole = z.unknown().transform((v) => (v === null || v === undefined ? null : 'operations'));

const blocker = z.object({ kind: z.string(), ref: z.string(), detail: z.string() });
const axis = z.object({
  opening: amount,
  movements: z.object(
    Object.fromEntries(movementKinds.map((k) => [k, amount])) as Record<
      (typeof movementKinds)[number],
      typeof amount
    >,
  ),
  closing: amount,
});
const reportSchema = z
  .object({
    reportVersion: z.literal(1),
    partnerId: z.string(),
    month: z.string(),
    timezone: z.string(),
    from: z.string(),
    to: z.string(),
    monthStartedAt: z.string(),
    asRecordedAt: z.string(),
    movementKinds: z.array(z.string()),
    currencies: z.array(
      z.object({
        currency: z.string(),
        accounts: z.array(
          z.object({
            code: z.string(),
            name: z.string(),
            kind: z.string(),
            byEffectiveDate: axis,
            asRecorded: axis,
          }),
        ),
      }),
    ),
    cycles: z.array(
      z.object({ id: z.string(), periodStart: z.string(), periodEnd: z.string(), status: z.string() }),
    ),
    late: z.array(
      z.object({
        entryKey: z.string(),
        kind: z.enum(['redated', 'after_cycle']),
        forDay: z.string(),
        effectiveDate: z.string(),
        postedAt: z.string(),
        currency: z.string(),
        ggr: amount,
        cycleId: z.string().nullable(),
      }),
    ),
    lateCount: z.number().int(),
  })
  .meta({
    id: 'PeriodReport',
    description:
      "Per currency and account of the partner (debit-positive), opening balance, movements by kind and closing balance on two axes: byEffectiveDate (postings dated in the month, recorded by asRecordedAt) and asRecorded (postings recorded from the month's first instant to asRecordedAt, whatever their date).",
  });

const periodFields = {
  partnerId: z.string(),
  month: z.string(),
  state: z.enum(periodStates),
  blockers: z.array(blocker),
  blockedAt: z.string().nullable(),
  closingAt: z.string().nullable(),
  closedAt: z.string().nullable(),
  reportDigest: z.string().nullable(),
  recorded: z.boolean(),
};
const periodSchema = z
  .object({
    ...periodFields,
    closeRequestedBy: z.object({ actor: z.string(), name: z.string(), at: z.string() }).nullable(),
    // Operators only: a partner's view leaves it out.
    closeWorkflowId: z.string().nullable().optional(),
    closedBy: z.object({ actor: z.string(), name: z.string() }).nullable(),
  })
  .meta({ id: 'AccountingPeriod' });
const periodPartnerView = z.object({ ...periodFields, closeRequestedBy: asRole, closedBy: asRole });

const periodDetail = periodSchema.extend({ report: reportSchema }).meta({ id: 'AccountingPeriodDetail' });
const periodDetailPartnerView = periodPartnerView.extend({ report: reportSchema });

const periodList = z.object({ periods: z.array(periodSchema), nextCursor: nextCursorSchema });
const periodListPartnerView = z.object({
  periods: z.array(periodPartnerView),
  nextCursor: z.string().nullable(),
});

const closeStarted = z
  .object({ partnerId: z.string(), month: z.string(), workflowId: z.string() })
  .meta({ id: 'PeriodCloseStarted' });
const monthCloseStarted = z
  .object({
    month: z.string(),
    partners: z.array(
      z.object({
        partnerId: z.string(),
        outcome: z.enum(['started', 'running', 'closed_already']),
        workflowId: z.string(),
      }),
    ),
  })
  .meta({ id: 'MonthCloseStarted' });

const taxReturnSchema = z
  .object({
    jurisdiction: z.string(),
    month: z.string(),
    from: z.string(),
    to: z.string(),
    dueDate: z.string(),
    authority: z.string().nullable(),
    currencies: z.array(
      z.object({
        currency: z.string(),
        account: z.string(),
        openingPayable: amount,
        assessed: amount,
        paid: amount,
        closingPayable: amount,
        partners: z.array(
          z.object({
            partnerId: z.string(),
            gamingTax: amount,
            entries: z.number(),
            periodState: z.enum(periodStates),
          }),
        ),
      }),
    ),
    provisional: z.array(z.string()),
  })
  .meta({ id: 'GamingTaxReturn' });

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes);

export function periodRoutes(router: Router, registry: OpenAPIRegistry, deps: ApiDeps): void {
  const auth = authDeps(deps.db, deps.config.api);
  const currencies = createCurrencyRegistry(deps.config.currencies.extraAssets);
  const scaleOf = (c: string) => currencies.requireScale(c);

  /** The report a period shows: the stored one of a closed period, else the ledger now. */
  async function reportOf(p: PeriodRow): Promise<PeriodReport> {
    if (p.state === 'closed') {
      const stored = await storedPeriodReport(deps.db, p.partnerId, p.month);
      if (stored) return stored.report;
    }
    return periodReport(deps.db, p.partnerId, p.month, new Date().toISOString(), scaleOf);
  }

  /** Records the verified approver with the period, then starts its close (one workflow per partner and month). */
  async function startClose(
    principal: Principal,
    partnerId: string,
    m: string,
  ): Promise<'started' | 'running' | 'closed_already'> {
    if (principal.kind !== 'operator') throw new Error('operator route reached without an operator');
    const workflowId = periodCloseWorkflowId(partnerId, m);
    const current = await periodState(deps.db, partnerId, m);
    if (current.state === 'closed') return 'closed_already';
    if (current.state === 'closing' || (await running(deps.temporal, workflowId))) return 'running';
    const actor = operatorActor(principal);
    await requestPeriodClose(deps.db, {
      partnerId,
      month: m,
      actor: actorKey(actor),
      name: actor.name,
      workflowId,
    });
    try {
      await deps.temporal.workflow.start<typeof periodClose>('periodClose', {
        taskQueue: taskQueue(deps.config, 'settlement'),
        workflowId,
        args: [{ partnerId, month: m }],
        // A close that found blockers ended with the period open: it may be asked for again.
        workflowIdReusePolicy: 'ALLOW_DUPLICATE',
        workflowIdConflictPolicy: 'FAIL',
        typedSearchAttributes: [{ key: PartnerId, value: partnerId }],
        staticSummary: `Close ${m} of ${partnerId} (requested by ${actor.name})`,
      });
    } catch (err) {
      if (err instanceof WorkflowExecutionAlreadyStartedError) return 'running';
      throw err;
    }
    return 'started';
  }

  mountRoute(router, registry, auth, {
    method: 'get',
    path: '/v1/periods',
    summary: 'Accounting periods (operators: all or one partner; a partner: its own)',
    description:
      'A period row exists once a close was asked for; a month without one is open. Ordered by partner then month.',
    tags: ['periods'],
    auth: 'any',
    partnerView: periodListPartnerView,
    query: z.object({
      partnerId: partnerIdSchema.optional(),
      state: z.enum(periodStates).optional(),
      ...pageQuery,
    }),
    responses: { 200: jsonResponse(periodList, 'The periods'), ...errorResponses(400, 401, 404) },
    handler: async ({ query, principal }) => {
      let partnerId = query.partnerId;
      if (principal.kind === 'partner') {
        if (partnerId !== undefined && partnerId !== principal.partnerId)
          throw new NotFoundError(`partner ${partnerId} not found`, [
            { path: 'query.partnerId', message: 'not found' },
          ]);
        partnerId = principal.partnerId;
      }
      const after = decodeCursor(query.cursor, z.object({ partnerId: z.string(), month: z.string() }));
      const rows = await listPeriods(
        deps.db,
        { ...(partnerId ? { partnerId } : {}), ...(query.state ? { state: query.state } : {}) },
        { limit: query.limit + 1, after },
      );
      const { items, nextCursor } = page(rows, query.limit, (r) => ({
        partnerId: r.partnerId,
        month: r.month,
      }));
      return { status: 200, body: { periods: items, nextCursor } };
    },
  });

  mountRoute(router, registry, auth, {
    method: 'get',
    path: '/v1/periods/{partnerId}/{month}',
    summary: "A partner's month: its state, what blocks its close, and its period report",
    description:
      "The report of a closed period is the one stored at its close instant (its sha256 is `reportDigest`); an open period's is the ledger now. Another partner's period is a 404.",
    tags: ['periods'],
    auth: 'any',
    partnerView: periodDetailPartnerView,
    params: z.object({ partnerId: partnerIdSchema, month }),
    responses: { 200: jsonResponse(periodDetail, 'The period'), ...errorResponses(400, 401, 404) },
    handler: async ({ params, principal }) => {
      await visiblePartnerInPath(deps.db, principal, params.partnerId);
      const p = await periodState(deps.db, params.partnerId, params.month);
      return { status: 200, body: { ...p, report: await reportOf(p) } };
    },
  });

  mountRoute(router, registry, auth, {
    method: 'get',
    path: '/v1/periods/{partnerId}/{month}/report',
    summary: 'The period report as the ledger recorded it by an instant',
    description:
      'Without `asRecordedAt`: the stored report of a closed period, else the ledger now. With it: what the books said at that instant about the month (postings recorded by then), on both axes.',
    tags: ['periods'],
    auth: 'any',
    partnerView: reportSchema,
    params: z.object({ partnerId: partnerIdSchema, month }),
    query: z.object({
      asRecordedAt: instantSchema
        .optional()
        .meta({ description: 'An instant with its offset (RFC 3339), e.g. 2026-12-01T00:00:00Z' }),
    }),
    responses: { 200: jsonResponse(reportSchema, 'The period report'), ...errorResponses(400, 401, 404) },
    handler: async ({ params, query, principal }) => {
      await visiblePartnerInPath(deps.db, principal, params.partnerId);
      if (query.asRecordedAt)
        return {
          status: 200,
          body: await periodReport(deps.db, params.partnerId, params.month, query.asRecordedAt, scaleOf),
        };
      return {
        status: 200,
        body: await reportOf(await periodState(deps.db, params.partnerId, params.month)),
      };
    },
  });

  mountRoute(router, registry, auth, {
    method: 'post',
    path: '/v1/periods/{partnerId}/{month}/close',
    summary: "Close a partner's month (approver): starts the periodClose workflow",
    description:
      'The approver is the caller (from the token), recorded with the period before the workflow `period-close:<partnerId>:<month>` starts. It checks that every cycle whose period ends in the month is Completed and the earlier months are closed; if not, the period stays open with its blockers (GET the period). Otherwise it locks the month (closing: Postgres refuses postings dated in it), stores the period report at the close instant with its digest, and closes it. 409 when the month is closed or its close is running.',
    tags: ['periods'],
    auth: 'approver',
    params: z.object({ partnerId: partnerIdSchema, month }),
    responses: {
      202: jsonResponse(closeStarted, 'The close started'),
      ...errorResponses(400, 401, 403, 404, 409),
    },
    handler: async ({ params, principal }) => {
      await visiblePartnerInPath(deps.db, principal, params.partnerId);
      const outcome = await startClose(principal, params.partnerId, params.month);
      const workflowId = periodCloseWorkflowId(params.partnerId, params.month);
      if (outcome !== 'started')
        throw new ConflictError(
          outcome === 'closed_already'
            ? `${params.month} of ${params.partnerId} is closed`
            : `the close of ${params.month} of ${params.partnerId} is running (${workflowId})`,
          [{ path: 'params.month', message: outcome === 'closed_already' ? 'closed' : 'closing' }],
        );
      return {
        status: 202,
        body: { partnerId: params.partnerId, month: params.month, workflowId },
        headers: { Location: `/v1/periods/${params.partnerId}/${params.month}` },
      };
    },
  });

  mountRoute(router, registry, auth, {
    method: 'post',
    path: '/v1/month-closes/{month}',
    summary: 'Close a month for every partner with activity in it (approver)',
    description:
      'One periodClose workflow per partner with cycles ending in the month or positions on its days; each closes at its own instant. Partners already closed or closing are listed, not started again.',
    tags: ['periods'],
    auth: 'approver',
    params: z.object({ month }),
    responses: {
      202: jsonResponse(monthCloseStarted, 'The closes started'),
      ...errorResponses(400, 401, 403),
    },
    handler: async ({ params, principal }) => {
      const partners: {
        partnerId: string;
        outcome: 'started' | 'running' | 'closed_already';
        workflowId: string;
      }[] = [];
      for (const p of await partnersActiveIn(deps.db, params.month))
        partners.push({
          partnerId: p.partnerId,
          outcome: await startClose(principal, p.partnerId, params.month),
          workflowId: periodCloseWorkflowId(p.partnerId, params.month),
        });
      return { status: 202, body: { month: params.month, partners } };
    },
  });

  mountRoute(router, registry, auth, {
    method: 'get',
    path: '/v1/periods/{partnerId}/{month}/pack',
    summary: "The auditor's period pack (operator): one JSON document with its sha256",
    description:
      "The period report (the stored one of a closed period, checked against its digest), every version of the month's cycles' statements, their journals, the audit events of the partner's month and the ledger's and audit trail's verification. `X-Content-SHA256` (hex) and `Digest` (sha-256, base64) are over the exact bytes of the body.",
    tags: ['periods'],
    auth: 'viewer',
    params: z.object({ partnerId: partnerIdSchema, month }),
    responses: {
      200: {
        description: 'The pack',
        headers: z.object({
          'X-Content-SHA256': z.string().meta({ description: 'sha256 of the body, hex' }),
          Digest: z.string().meta({ description: 'sha-256=<base64 of the sha256 of the body>' }),
        }),
        content: { 'application/json': { schema: z.unknown() } },
      },
      ...errorResponses(400, 401, 403, 404),
    },
    handler: async ({ params, principal, res }) => {
      await visiblePartnerInPath(deps.db, principal, params.partnerId);
      const pack = await periodPack(deps.db, params.partnerId, params.month, scaleOf);
      const body = `${JSON.stringify(pack)}\n`;
      const bytes = Buffer.from(body, 'utf8');
      // The body is sent as these bytes: no weak ETag rewriting, no compression by us.
      res.set('cache-control', 'no-store');
      return {
        status: 200,
        headers: {
          'x-content-sha256': sha256(bytes).digest('hex'),
          digest: `sha-256=${sha256(bytes).digest('base64')}`,
          'content-disposition': `attachment; filename="period-pack_${params.partnerId}_${params.month}.json"`,
        },
        text: { contentType: 'application/json; charset=utf-8', body },
      };
    },
  });

  mountRoute(router, registry, auth, {
    method: 'get',
    path: '/v1/tax-returns/{jurisdiction}/{month}',
    summary:
      "A jurisdiction's monthly gaming-tax return from the ledger (operator), JSON or CSV (Accept: text/csv)",
    description:
      "From the jurisdiction's payable accounts (house:gaming_tax_payable:<jurisdiction>:<currency>) by effective date: the opening payable, what each partner's settlements assessed in the month, what was paid, the closing payable, and the filing due date (Malta: the 20th of the next month; others: the 20th by default). Partners whose month is not closed are listed as provisional.",
    tags: ['periods'],
    auth: 'viewer',
    params: z.object({
      jurisdiction: z
        .string()
        .regex(JURISDICTION_PATTERN, 'an ISO 3166 code such as MT or GB')
        .meta({ example: 'MT' }),
      month,
    }),
    responses: {
      200: {
        description: 'The return',
        content: { 'application/json': { schema: taxReturnSchema }, 'text/csv': { schema: z.string() } },
      },
      ...errorResponses(400, 401, 403),
    },
    handler: async ({ params, req }) => {
      const r = await taxReturn(deps.db, params.jurisdiction, params.month, scaleOf);
      if (req.accepts(['application/json', 'text/csv']) === 'text/csv')
        return {
          status: 200,
          headers: {
            'content-disposition': `attachment; filename="gaming-tax_${r.jurisdiction}_${r.month}.csv"`,
          },
          text: { contentType: 'text/csv', body: taxReturnCsv(r) },
        };
      return { status: 200, body: r };
    },
  });
}

async function running(temporal: Client, workflowId: string): Promise<boolean> {
  try {
    const d = await temporal.workflow.getHandle(workflowId).describe();
    return d.status.name === 'RUNNING';
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return false;
    throw err;
  }
}
