import type { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import {
  ScheduleNotFoundError,
  WorkflowExecutionAlreadyStartedError,
  WorkflowNotFoundError,
} from '@temporalio/client';
import type { Router } from 'express';
import { z } from 'zod';
import { getPartner } from '../../db/partners';
import { publishedStatement } from '../../db/accruals';
import { statementCsv, type Statement } from '../../domain/statement';
import { recomputeStatement } from '../../services/statements';
import { backfillWindow, contractCadence, listCycles } from '../../db/settlement';
import { exceptionHistory, exceptionMatches, listExceptions } from '../../db/exception-book';
import { MAX_RESOLUTIONS_PER_UPDATE, resolutionMessageProblem } from '../../domain/exception-book';
import { DomainError, TooManyRequestsError } from '../../domain/errors';
import { actorKey } from '../../domain/actors';
import { operatorActor } from '../../platform/operators';
import { ConflictError, NotFoundError, ValidationError } from '../../domain/errors';
import { MAX_AMOUNT_CHARS, type CurrencyRegistry } from '../../domain/money';
import { partnerIdSchema } from '../../domain/partner';
import { resolutions } from '../../domain/settlement';
import { taskQueue } from '../../platform/temporal';
import { startPlannedCycle } from '../../services/cycles';
import { settlementWorkflowId } from '../../workflows/ids';
import {
  approvePayout,
  resolveException,
  settlementStatus,
  type ResolveResult,
} from '../../workflows/settlement';
import { authDeps, type Principal } from '../auth';
import { settlementScheduleId, upsertSettlementSchedule } from '../../services/schedules';
import type { ApiDeps } from '../deps';
import { cycleList, cycleView, exceptionList, statementView } from '../partner-view';
import { SettlementStatus } from '../../workflows/search-attributes';
import { decodeCursor, nextCursorSchema, page, pageQuery } from '../paging';
import { mountRoute } from '../route';
import { describeWorkflow, sendDecision, UPDATE_RETRY_AFTER_S } from '../updates';
import { errorResponses, jsonResponse, settlementIdSchema } from '../schemas';
import { matchGroupsOf } from '../../db/matching';
import { nonBlankText } from '../../domain/text';

const day = z.iso.date();
/** The most business days one backfill settles (a quarter): a typo cannot start thousands of cycles. */
export const BACKFILL_MAX_DAYS = 92;
const cycleId = settlementIdSchema;

const cycleSchema = z
  .object({
    id: z.string(),
    partnerId: z.string(),
    periodStart: z.string(),
    periodEnd: z.string(),
    status: z.string(),
    frozenAt: z.string().nullable(),
    fees: z.unknown().nullable(),
  })
  .meta({ id: 'SettlementCycle' });

const reason = nonBlankText(500);
/** An `adjust` carries its amount (a signed decimal in the cycle's currency); no other resolution does. */
const adjustAmount = z
  .string()
  .max(MAX_AMOUNT_CHARS)
  // Not zero: an adjustment of nothing is no decision.
  .regex(
    /^-?(?:[1-9][0-9]*(?:\.[0-9]+)?|0\.[0-9]*[1-9][0-9]*)$/,
    'a non-zero decimal string such as "-12.50"',
  )
  .meta({
    description: "Signed decimal string in the cycle's currency, at most its decimals (422 otherwise)",
  });
/** One resolution, with whatever else names it (nothing in a path, its exceptionId in a list). */
const resolutionOf = <T extends z.ZodRawShape>(extra: T) =>
  z.discriminatedUnion('resolution', [
    z.object({ ...extra, resolution: z.literal('adjust'), amount: adjustAmount, reason }).strict(),
    z.object({ ...extra, resolution: z.enum(resolutions.filter((r) => r !== 'adjust')), reason }).strict(),
  ]);
const resolutionBody = resolutionOf({}).meta({
  id: 'ExceptionResolution',
  description: 'The operator is the caller: its name comes from the token, never from the body.',
});

/** The most resolutions one request carries: the API sends them as Updates of MAX_RESOLUTIONS_PER_UPDATE. */
export const MAX_RESOLUTIONS_PER_REQUEST = 5_000;
/** How long a list waits for Temporal's Updates in flight to drain before answering 429. */
const IN_FLIGHT_PATIENCE_MS = 30_000;

const resolutionItem = resolutionOf({ exceptionId: z.string().min(1).max(300) }).meta({
  id: 'ExceptionResolutionItem',
});

const resolveResult = z
  .object({
    open: z.number().int(),
    applied: z.number().int(),
    refused: z.array(z.object({ exceptionId: z.string(), reason: z.string() })),
  })
  .meta({ id: 'ResolutionResult' });

const approvalBody = z
  .object({ comment: z.string().max(500).optional() })
  .strict()
  .meta({
    id: 'PayoutApproval',
    description: 'The approver is the caller: its name comes from the token, never from the body.',
  });

/** A partner sees only its own cycles; another partner's is indistinguishable from none. */
function visible(principal: Principal, id: string): boolean {
  return (
    principal.kind === 'operator' ||
    (principal.kind === 'partner' && id.startsWith(`settlement:${principal.partnerId}:`))
  );
}

export function settlementRoutes(
  router: Router,
  registry: OpenAPIRegistry,
  deps: ApiDeps,
  currencies: CurrencyRegistry,
): void {
  const auth = authDeps(deps.db, deps.config.api);

  mountRoute(router, registry, auth, {
    method: 'post',
    path: '/v1/settlements',
    summary: 'Run a settlement cycle now for a partner and period (operator)',
    description:
      "Starts `settlementCycle` with id `settlement:<partnerId>:<periodStart>`; a second start for the same partner and period is a 409. The period is the contract cadence's period starting at `periodStart` (a day, an ISO week from a Monday, a calendar month from the 1st; another start, or a day no contract covers, is a 409 naming the right one); `periodEnd` overrides its end (on or after `periodStart`, in its month: 422 otherwise).",
    tags: ['settlements'],
    auth: 'admin',
    body: z
      .object({ partnerId: partnerIdSchema, periodStart: day, periodEnd: day.optional() })
      .strict()
      .meta({ id: 'NewSettlement' }),
    bodyExample: { partnerId: 'nova-slots', periodStart: '2026-11-23' },
    responses: {
      202: jsonResponse(z.object({ id: z.string(), status: z.string() }), 'Started'),
      ...errorResponses(401, 403, 404, 409, 422),
    },
    handler: async ({ body, principal }) => {
      const partner = await getPartner(deps.db, body.partnerId);
      if (!partner)
        throw new NotFoundError(`partner ${body.partnerId} not found`, [
          { path: 'partnerId', message: 'not found' },
        ]);
      // The plan, in Postgres, before the workflow: the cycle reads it back (nothing money-shaped
      // from its input), and the operator who starts it requested its payout: never one of its
      // approvers. No two cycles of a partner overlap (409).
      if (principal.kind !== 'operator') throw new Error('operator route reached without an operator');
      const actor = operatorActor(principal);
      const id = settlementWorkflowId(partner.id, body.periodStart);
      try {
        await startPlannedCycle(
          {
            db: deps.db,
            temporal: deps.temporal,
            currencies,
            taskQueue: taskQueue(deps.config, 'settlement'),
          },
          {
            partnerId: partner.id,
            periodStart: body.periodStart,
            ...(body.periodEnd ? { periodEnd: body.periodEnd } : {}),
            requester: { actor: actorKey(actor), name: actor.name, plannedBy: 'api' },
          },
        );
      } catch (err) {
        if (err instanceof WorkflowExecutionAlreadyStartedError)
          throw new ConflictError(`${id} was already started`, [
            { path: 'periodStart', message: 'already settled or settling' },
          ]);
        throw err;
      }
      return {
        status: 202,
        body: { id, status: 'WaitingForCutoff' },
        headers: { Location: `/v1/settlements/${encodeURIComponent(id)}` },
      };
    },
  });

  mountRoute(router, registry, auth, {
    method: 'put',
    path: '/v1/partners/{partnerId}/settlement-schedule',
    summary: "Create or update the partner's settlement Schedule from its contract (operator)",
    description:
      "The contract's cadence (settlement.period: daily, weekly or monthly) decides when it fires, at `hourLocal` in the partner's timezone; " +
      'each firing settles the period that just ended; missed firings within 7 days are caught up. Call again after a contract change.',
    tags: ['settlements'],
    auth: 'admin',
    params: z.object({ partnerId: partnerIdSchema }),
    body: z
      .object({ hourLocal: z.number().int().min(0).max(23).default(1), paused: z.boolean().default(false) })
      .strict()
      .meta({ id: 'SettlementSchedule' }),
    bodyExample: { hourLocal: 2, paused: false },
    responses: {
      200: jsonResponse(
        z.object({
          scheduleId: z.string(),
          timezone: z.string(),
          cadence: z.enum(['daily', 'weekly', 'monthly']),
          hourLocal: z.number(),
          paused: z.boolean(),
        }),
        'The schedule',
      ),
      ...errorResponses(401, 403, 404, 422),
    },
    handler: async ({ params, body }) => {
      const partner = await getPartner(deps.db, params.partnerId);
      if (!partner) throw new NotFoundError(`partner ${params.partnerId} not found`);
      const cadence = await contractCadence(deps.db, partner.id);
      await upsertSettlementSchedule(deps.temporal, deps.config, {
        partnerId: partner.id,
        timezone: partner.timezone,
        hourLocal: body.hourLocal,
        paused: body.paused,
        cadence,
      });
      return {
        status: 200,
        body: {
          scheduleId: settlementScheduleId(partner.id),
          timezone: partner.timezone,
          cadence,
          hourLocal: body.hourLocal,
          paused: body.paused,
        },
      };
    },
  });

  mountRoute(router, registry, auth, {
    method: 'post',
    path: '/v1/partners/{partnerId}/settlement-schedule/backfill',
    summary: 'Settle missed business days through the Schedule (operator)',
    description:
      `From \`from\` to \`to\` (business days in the partner's timezone, both included): \`to\` on or after \`from\`, ` +
      `at most ${BACKFILL_MAX_DAYS} days (422 otherwise); never before the partner's first contract nor a day that ` +
      'has not ended yet in its timezone (409: what its contracts and calendar allow).',
    tags: ['settlements'],
    auth: 'admin',
    params: z.object({ partnerId: partnerIdSchema }),
    body: z.object({ from: day, to: day }).strict().meta({ id: 'SettlementBackfill' }),
    bodyExample: { from: '2026-11-01', to: '2026-11-07' },
    responses: {
      202: jsonResponse(
        z.object({ scheduleId: z.string(), from: z.string(), to: z.string() }),
        'Backfill requested',
      ),
      ...errorResponses(401, 403, 404, 409, 422),
    },
    handler: async ({ params, body }) => {
      if (body.to < body.from)
        throw new ValidationError('to is before from', [{ path: 'to', message: 'before from' }]);
      const days = (Date.parse(body.to) - Date.parse(body.from)) / 86_400_000 + 1;
      if (days > BACKFILL_MAX_DAYS)
        throw new ValidationError(`a backfill covers at most ${BACKFILL_MAX_DAYS} days (${days} asked)`, [
          { path: 'to', message: `at most ${BACKFILL_MAX_DAYS} days after from, counting both` },
        ]);
      // Firings on the days after `from`..`to` (local) settle exactly those business days.
      const window = await backfillWindow(deps.db, params.partnerId, body.from, body.to);
      if (!window) throw new NotFoundError(`partner ${params.partnerId} not found`);
      // What the partner's contracts and calendar allow: a conflict with its state, not a bad request.
      if (window.firstContractDay === null)
        throw new ConflictError(`${params.partnerId} has no contract: nothing to settle`, [
          { path: 'from', message: 'no contract yet' },
        ]);
      if (body.from < window.firstContractDay)
        throw new ConflictError(`from ${body.from} is before ${params.partnerId}'s first contract`, [
          { path: 'from', message: `on or after ${window.firstContractDay}` },
        ]);
      if (body.to > window.lastEndedDay)
        throw new ConflictError(`to ${body.to} has not ended yet in ${window.timezone}`, [
          { path: 'to', message: `on or before ${window.lastEndedDay}` },
        ]);
      try {
        await deps.temporal.schedule
          .getHandle(settlementScheduleId(params.partnerId))
          .backfill([{ start: window.start, end: window.end, overlap: 'ALLOW_ALL' }]);
      } catch (err) {
        if (err instanceof ScheduleNotFoundError)
          throw new NotFoundError(`no settlement schedule for ${params.partnerId}: PUT one first`);
        throw err;
      }
      return {
        status: 202,
        body: { scheduleId: settlementScheduleId(params.partnerId), from: body.from, to: body.to },
      };
    },
  });

  mountRoute(router, registry, auth, {
    method: 'get',
    path: '/v1/settlements',
    summary: 'List settlement cycles (a partner sees its own)',
    tags: ['settlements'],
    auth: 'any',
    partnerView: cycleList,
    query: z.object({
      partnerId: partnerIdSchema.optional(),
      status: z.string().max(40).optional(),
      ...pageQuery,
    }),
    responses: {
      200: jsonResponse(
        z.object({ settlements: z.array(cycleSchema), nextCursor: nextCursorSchema }),
        'Cycles, newest period first',
      ),
      ...errorResponses(400, 401),
    },
    handler: async ({ query, principal }) => {
      const partnerId = principal.kind === 'partner' ? principal.partnerId : (query.partnerId ?? null);
      const after = decodeCursor(query.cursor, z.object({ periodStart: day, id: z.string() }));
      const rows = await listCycles(
        deps.db,
        { partnerId, status: query.status ?? null },
        { limit: query.limit + 1, after },
      );
      const { items, nextCursor } = page(rows, query.limit, (r) => ({
        periodStart: r.periodStart,
        id: r.id,
      }));
      return { status: 200, body: { settlements: items, nextCursor } };
    },
  });

  mountRoute(router, registry, auth, {
    method: 'get',
    path: '/v1/settlements/{id}',
    summary: "Live state of a cycle (the workflow's status query)",
    tags: ['settlements'],
    auth: 'any',
    partnerView: cycleView,
    params: z.object({ id: cycleId }),
    responses: {
      200: jsonResponse(z.unknown().meta({ id: 'SettlementView' }), 'Step, exceptions, fees, approvals'),
      ...errorResponses(400, 401, 404),
    },
    handler: async ({ params, principal }) => {
      if (!visible(principal, params.id)) throw new NotFoundError(`settlement ${params.id} not found`);
      try {
        return {
          status: 200,
          body: await deps.temporal.workflow.getHandle(params.id).query(settlementStatus),
        };
      } catch (err) {
        if (err instanceof WorkflowNotFoundError)
          throw new NotFoundError(`settlement ${params.id} not found`);
        throw err;
      }
    },
  });

  mountRoute(router, registry, auth, {
    method: 'get',
    path: '/v1/settlements/{id}/statement',
    summary: "The cycle's statement, JSON or CSV (Accept: text/csv)",
    tags: ['settlements'],
    auth: 'any',
    partnerView: statementView,
    params: z.object({ id: cycleId }),
    responses: {
      200: {
        description: 'The statement',
        content: { 'application/json': { schema: z.unknown() }, 'text/csv': { schema: z.string() } },
      },
      ...errorResponses(400, 401, 404, 409),
    },
    handler: async ({ params, principal, req }) => {
      if (!visible(principal, params.id)) throw new NotFoundError(`settlement ${params.id} not found`);
      const text = await publishedStatement(deps.db, params.id);
      if (!text) {
        // A cycle on its way has no statement yet (409); an unknown one is a 404.
        const cycle = await describeWorkflow(deps.temporal, params.id);
        if (!cycle) throw new NotFoundError(`settlement ${params.id} not found`);
        const status = cycle.typedSearchAttributes.get(SettlementStatus) ?? 'starting';
        throw new ConflictError(`${params.id} has no statement yet (${status})`, [
          { path: 'params.id', message: 'the statement is published once the fees are computed' },
        ]);
      }
      const statement = JSON.parse(text) as Statement | { statementVersion?: undefined };
      const csv = req.accepts(['application/json', 'text/csv']) === 'text/csv';
      if (statement.statementVersion !== 1) {
        // Settled before statements had a version: operators read the stored bytes as they are.
        if (csv || principal.kind === 'partner')
          throw new NotFoundError(
            `${params.id} was settled before statements had a CSV form or a partner view`,
          );
        return { status: 200, text: { contentType: 'application/json', body: text } };
      }
      if (csv)
        return {
          status: 200,
          headers: {
            'content-disposition': `attachment; filename="${params.id.replace(/:/g, '_')}.csv"`,
          },
          body: statement,
          render: (s: Statement) => ({ contentType: 'text/csv', body: statementCsv(s) }),
        };
      // Operators read the exact bytes the fee step stored (what a dry run compares against); a
      // partner reads the same statement through its partner view.
      if (principal.kind === 'partner')
        return {
          status: 200,
          body: statement,
          render: (s: Statement) => ({
            contentType: 'application/json',
            body: `${JSON.stringify(s, null, 2)}\n`,
          }),
        };
      return { status: 200, text: { contentType: 'application/json', body: text } };
    },
  });

  mountRoute(router, registry, auth, {
    method: 'post',
    path: '/v1/settlements/{id}/statement/recompute',
    summary: 'Dry run (operator): recompute a settled period from its frozen inputs; posts nothing',
    description:
      'Loads what the period was settled from — its frozen sources (our positions at the fee step, with game categories), the FX rates locked, the exceptions and their resolutions, the contract version, the carries it claimed and its month-to-date position — and recomputes the statement. `identical` says whether the bytes equal the stored statement.',
    tags: ['settlements'],
    auth: 'admin',
    audit: false,
    params: z.object({ id: cycleId }),
    responses: {
      200: jsonResponse(
        z
          .object({
            settlementId: z.string(),
            identical: z.boolean(),
            storedSha256: z.string(),
            recomputedSha256: z.string(),
            statement: z.unknown(),
          })
          .meta({ id: 'StatementRecompute' }),
        'Recomputed',
      ),
      ...errorResponses(400, 401, 403, 404),
    },
    handler: async ({ params }) => {
      const result = await recomputeStatement(deps.db, currencies, params.id);
      if (!result) throw new NotFoundError(`settlement ${params.id} has no computed fees yet`);
      return {
        status: 200,
        body: {
          settlementId: params.id,
          identical: result.identical,
          storedSha256: result.storedSha256,
          recomputedSha256: result.recomputedSha256,
          statement: JSON.parse(result.recomputedText) as unknown,
        },
      };
    },
  });

  mountRoute(router, registry, auth, {
    method: 'get',
    path: '/v1/exceptions',
    summary: 'Reconciliation exceptions (a partner sees its own)',
    tags: ['settlements'],
    auth: 'any',
    partnerView: exceptionList,
    query: z.object({
      status: z.enum(['open', 'resolved']).optional(),
      partnerId: partnerIdSchema.optional(),
      settlementId: cycleId.optional(),
      ...pageQuery,
    }),
    responses: {
      200: jsonResponse(
        z.object({ exceptions: z.array(z.unknown()), nextCursor: nextCursorSchema }),
        'Exceptions, by settlement and exception id',
      ),
      ...errorResponses(400, 401),
    },
    handler: async ({ query, principal }) => {
      const partnerId = principal.kind === 'partner' ? principal.partnerId : (query.partnerId ?? null);
      const after = decodeCursor(
        query.cursor,
        z.object({ settlementId: z.string(), exceptionId: z.string() }),
      );
      if (query.settlementId && !visible(principal, query.settlementId))
        return { status: 200, body: { exceptions: [], nextCursor: null } };
      const rows = await listExceptions(
        deps.db,
        { partnerId, status: query.status ?? null, settlementId: query.settlementId ?? null },
        { limit: query.limit + 1, after },
      );
      const { items, nextCursor } = page(rows, query.limit, (r) => ({
        settlementId: String(r.settlementId),
        exceptionId: String(r.exceptionId),
      }));
      return {
        status: 200,
        body: { exceptions: items, nextCursor },
      };
    },
  });

  mountRoute(router, registry, auth, {
    method: 'post',
    path: '/v1/settlements/{id}/exceptions/{exceptionId}/resolution',
    summary: 'Resolve an exception (operator): the same resolveException Update the Temporal UI sends',
    description:
      '404 for an exception the cycle does not have, 409 for one already resolved (naming by whom) or a cycle not waiting for resolutions.',
    tags: ['settlements'],
    auth: 'resolver',
    params: z.object({ id: cycleId, exceptionId: z.string().min(1).max(300) }),
    body: resolutionBody,
    bodyExample: { resolution: 'accept_theirs', reason: 'provider log confirms the amount' },
    responses: {
      200: jsonResponse(resolveResult, 'Recorded; how many stay open'),
      ...errorResponses(400, 401, 403, 404, 409, 422, 429),
    },
    handler: async ({ params, body, principal, req }) => {
      const result = await sendDecision<ResolveResult>(deps, {
        workflowId: params.id,
        what: `settlement ${params.id}`,
        decision: resolveException.name,
        fields: { exceptionId: params.exceptionId, ...body },
        principal,
        req,
      });
      return { status: 200, body: result };
    },
  });

  mountRoute(router, registry, auth, {
    method: 'post',
    path: '/v1/settlements/{id}/exceptions/resolutions',
    summary: 'Resolve a list of exceptions (operator): resolveException Updates of up to 1,000 each',
    description:
      `Up to ${MAX_RESOLUTIONS_PER_REQUEST} resolutions; the API sends them in order as resolveException Updates of up to ` +
      `${MAX_RESOLUTIONS_PER_UPDATE} (each sealed with the caller's identity). Each item is applied or refused with the reason ` +
      '(unknown exception, already resolved): the answer lists the refused ones. When the cycle has as many Updates in flight ' +
      `as Temporal allows, the rest of the list waits up to ${IN_FLIGHT_PATIENCE_MS / 1000} s; if even the first part cannot be sent, 429 with Retry-After ` +
      '(nothing applied); if a later part cannot, the answer says which items were not sent (`notSent`): send those again.',
    tags: ['settlements'],
    auth: 'resolver',
    params: z.object({ id: cycleId }),
    body: z
      .object({
        // An exceptionId twice in one list is a 422 naming it (a rule JSON Schema cannot state).
        items: z.array(resolutionItem).min(1).max(MAX_RESOLUTIONS_PER_REQUEST),
      })
      .strict()
      .meta({ id: 'ExceptionResolutions' }),
    bodyExample: {
      items: [
        {
          exceptionId: 'missing_theirs:tx-1',
          resolution: 'accept_ours',
          reason: 'provider report lags by a day',
        },
        {
          exceptionId: 'amount_mismatch:tx-2',
          resolution: 'adjust',
          amount: '-0.01',
          reason: 'rounding per contract',
        },
      ],
    },
    responses: {
      200: jsonResponse(
        resolveResult.extend({
          updates: z.number().int(),
          notSent: z.array(z.string()),
          notSentReason: z.string().nullable(),
        }),
        'Applied and refused, per item; how many stay open',
      ),
      ...errorResponses(400, 401, 403, 404, 409, 422, 429),
    },
    handler: async ({ params, body, principal, req }) => {
      if (!(await describeWorkflow(deps.temporal, params.id)))
        throw new NotFoundError(`settlement ${params.id} not found`);
      // Refused whole before anything is sent, by the rules the workflow's validator applies to
      // each part: a list is never half applied for a fault of its own.
      const partner = await getPartner(deps.db, params.id.split(':')[1]!);
      const scale = partner ? currencies.scaleOf(partner.settlementCurrency) : undefined;
      if (scale !== undefined) {
        const problem = resolutionMessageProblem(
          { items: body.items },
          scale,
          body.items.length, // the whole list at once; the parts are within the Update limit
        );
        if (problem)
          throw new ValidationError(problem.message, [{ path: 'items', message: problem.message }]);
      }
      const out = {
        open: 0,
        applied: 0,
        refused: [] as ResolveResult['refused'],
        updates: 0,
        notSent: [] as string[],
        notSentReason: null as string | null,
      };
      for (let start = 0; start < body.items.length; start += MAX_RESOLUTIONS_PER_UPDATE) {
        const items = body.items.slice(start, start + MAX_RESOLUTIONS_PER_UPDATE);
        let result: ResolveResult | null = null;
        for (const deadline = Date.now() + IN_FLIGHT_PATIENCE_MS; result === null;) {
          try {
            result = await sendDecision<ResolveResult>(deps, {
              workflowId: params.id,
              what: `settlement ${params.id}`,
              decision: resolveException.name,
              fields: { items },
              principal,
              req,
            });
          } catch (err) {
            // Once part of the list went through, the answer says what did and what did not
            // (a refusal of the rest, e.g. the cycle moved on), never an error that hides it.
            if (out.updates > 0 && err instanceof DomainError && !(err instanceof TooManyRequestsError)) {
              out.notSent = body.items.slice(start).map((i) => i.exceptionId);
              out.notSentReason = err.message;
              return { status: 200, body: out };
            }
            if (!(err instanceof TooManyRequestsError)) throw err;
            // Nothing sent yet: the caller retries the whole list. Otherwise wait for the
            // workflow's Updates in flight to finish, then say what could not be sent.
            if (out.updates === 0 && Date.now() >= deadline) throw err;
            if (Date.now() >= deadline) {
              out.notSent = body.items.slice(start).map((i) => i.exceptionId);
              out.notSentReason = err.message;
              return { status: 200, body: out };
            }
            await new Promise((r) => setTimeout(r, UPDATE_RETRY_AFTER_S * 1000));
          }
        }
        out.updates++;
        out.open = result.open;
        out.applied += result.applied;
        out.refused.push(...result.refused);
      }
      return { status: 200, body: out };
    },
  });

  mountRoute(router, registry, auth, {
    method: 'get',
    path: '/v1/settlements/{id}/exceptions/{exceptionId}/history',
    summary: "An exception's history (operator): found, then resolved — who, when, why, through which Update",
    tags: ['settlements'],
    auth: 'viewer',
    params: z.object({ id: cycleId, exceptionId: z.string().min(1).max(300) }),
    responses: {
      200: jsonResponse(
        z.object({
          events: z.array(z.unknown()),
          matches: z.array(z.unknown()),
          groups: z.array(z.unknown()),
        }),
        'Its events, oldest first, the transactions it is about (ours by id, theirs by report row), and the match groups it belongs to (members, confidence, evidence)',
      ),
      ...errorResponses(400, 401, 403, 404),
    },
    handler: async ({ params }) => {
      const events = await exceptionHistory(deps.db, params.id, params.exceptionId);
      if (events.length === 0)
        throw new NotFoundError(`no exception ${params.exceptionId} in settlement ${params.id}`);
      return {
        status: 200,
        body: {
          events,
          matches: await exceptionMatches(deps.db, params.id, params.exceptionId),
          groups: await matchGroupsOf(deps.db, params.id, params.exceptionId),
        },
      };
    },
  });

  mountRoute(router, registry, auth, {
    method: 'post',
    path: '/v1/settlements/{id}/payout-approvals',
    summary: 'Approve the payout (approver): the same approvePayout Update the Temporal UI sends',
    description:
      "Maker-checker, bound to identity: the approver is the token's operator. Above the contract threshold two " +
      'different approvers are needed, and neither may be the operator who started the cycle or one whose ' +
      'resolution of one of its exceptions moved the GGR the fee is computed on — an `adjust`, or an ' +
      '`accept_theirs` that changed GGR (403 naming why). 409 when the cycle is not waiting for approval.',
    tags: ['settlements'],
    auth: 'approver',
    params: z.object({ id: cycleId }),
    body: approvalBody,
    bodyExample: { comment: 'statement checked against the provider invoice' },
    responses: {
      200: jsonResponse(z.object({ approvals: z.number(), needed: z.number() }), 'Approval recorded'),
      ...errorResponses(400, 401, 403, 404, 409, 422),
    },
    handler: async ({ params, body, principal, req }) => {
      const result = await sendDecision<{ approvals: number; needed: number }>(deps, {
        workflowId: params.id,
        what: `settlement ${params.id}`,
        decision: approvePayout.name,
        fields: body.comment === undefined ? {} : { comment: body.comment },
        principal,
        req,
      });
      return { status: 200, body: result };
    },
  });
}
