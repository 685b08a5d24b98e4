import type { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import { WorkflowExecutionAlreadyStartedError, type Client } from '@temporalio/client';
import { RawValue } from '@temporalio/common';
import type { Router } from 'express';
import { z } from 'zod';
import {
  createDispute,
  cycleOfPartner,
  disputeContentDigest,
  disputeEvents,
  getDispute,
  latestPublishedStatement,
  listDisputes,
  newDisputeId,
  type DisputeEvent,
  type StoredDispute,
} from '../../db/disputes';
import { CLEARHOUSE_ISSUER } from '../../domain/actors';
import {
  DAY_MS,
  DISPUTE_ESCALATE_AFTER_REMINDERS,
  DISPUTE_REMINDER_EVERY_DAYS,
  DISPUTE_SLA_DAYS,
  disputeOutcomes,
  disputeStates,
  holdMinor,
  isUndecided,
  MAX_EVIDENCE_CHARS,
  MAX_EVIDENCE_ITEMS,
  MAX_REASON_CHARS,
  partnerActorKey,
  undecidedStates,
} from '../../domain/disputes';
import { ConflictError, NotFoundError, ValidationError } from '../../domain/errors';
import { createCurrencyRegistry, formatAmount, MAX_AMOUNT_CHARS, parseAmount } from '../../domain/money';
import { statementLineKeys, type Statement } from '../../domain/statement';
import { ourLineTotals } from '../../domain/invoices';
import { nonBlankText } from '../../domain/text';
import type { Config } from '../../platform/config';
import { sealDecision } from '../../platform/decision-seal';
import { taskQueue } from '../../platform/temporal';
import type { DisputeStart, DisputeView } from '../../workflows/dispute';
import { disputeWorkflowId } from '../../workflows/ids';
import { authDeps, principalActor } from '../auth';
import type { ApiDeps } from '../deps';
import { decodeCursor, nextCursorSchema, page, pageQuery } from '../paging';
import { mountRoute } from '../route';
import { errorResponses, jsonResponse, settlementIdSchema } from '../schemas';
import { sealingKeyOf, sendDecision, sendUpdate } from '../updates';

/**
 * Starts a dispute's workflow (`dispute:<id>`) for a stored dispute; a second start of the same
 * dispute (a retried creation) is fine: Temporal refuses the duplicate and nothing changes.
 * `settings` are process settings (tests: a short reminder interval); the deadline is the row's.
 */
export async function startDisputeProcess(
  deps: { temporal: Client; config: Config },
  disputeId: string,
  settings: Omit<DisputeStart, 'disputeId'> = {},
): Promise<void> {
  try {
    await deps.temporal.workflow.start('settlementDispute', {
      taskQueue: taskQueue(deps.config, 'settlement'),
      workflowId: disputeWorkflowId(disputeId),
      args: [{ disputeId, ...settings } satisfies DisputeStart],
      workflowIdReusePolicy: 'REJECT_DUPLICATE',
    });
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
  }
}

const disputeIdSchema = z.string().regex(/^dsp-[0-9a-f]{20}$/, 'a dispute id: dsp-<20 hex digits>');
const amountText = z
  .string()
  .max(MAX_AMOUNT_CHARS)
  .regex(/^-?(0|[1-9][0-9]*)(\.[0-9]+)?$/, 'a decimal string such as "120.50"');
const evidenceList = z
  .array(nonBlankText(MAX_EVIDENCE_CHARS))
  .max(MAX_EVIDENCE_ITEMS)
  .meta({
    description: `References to the partner's evidence (documents, tickets, report ids): at most ${MAX_EVIDENCE_ITEMS}`,
  });

const newDisputeBody = z
  .object({
    line: z
      .enum(statementLineKeys)
      .meta({ description: "The statement line disputed (its key, as the statement's lines)" }),
    amountClaimed: amountText.meta({
      description:
        "What the partner says the line should be, in the statement's currency (not the difference)",
    }),
    reason: nonBlankText(MAX_REASON_CHARS),
    evidence: evidenceList.default([]),
    reference: z
      .string()
      .regex(/^[A-Za-z0-9._:-]{1,200}$/, "the partner's own id: letters, digits and . _ : - (at most 200)")
      .meta({
        description:
          'Idempotency: the same reference with the same content is the same dispute; with other content, 409',
      }),
  })
  .strict()
  .meta({ id: 'NewDispute' });

const decisionBody = z
  .object({
    outcome: z.enum(disputeOutcomes),
    amount: amountText.optional().meta({
      description: 'accept_in_part only: the fee change granted (signed like the claim, smaller than it)',
    }),
    reason: nonBlankText(MAX_REASON_CHARS),
  })
  .strict()
  .meta({
    id: 'DisputeDecision',
    description: 'The decider is the caller: who decides comes from the token, never from the body.',
  });
const evidenceRequestBody = z
  .object({ note: nonBlankText(MAX_REASON_CHARS) })
  .strict()
  .meta({ id: 'DisputeEvidenceRequest' });
const evidenceBody = z
  .object({ evidence: evidenceList.min(1), note: z.string().max(MAX_REASON_CHARS).optional() })
  .strict()
  .meta({ id: 'DisputeEvidence' });

// What operators read; partners read the allow-list below (decisions by role, no reminders).
const decisionSchema = z.object({
  outcome: z.enum(['accepted', 'partly_accepted', 'rejected']),
  amount: z.string().nullable(),
  reason: z.string(),
  decidedBy: z
    .union([z.object({ actor: z.string().nullable(), name: z.string() }), z.literal('operations')])
    .meta({ description: 'Operators read the person (actor key and name); a partner reads `operations`' }),
  at: z.string(),
});
const disputeSchema = z
  .object({
    id: z.string(),
    reference: z.string(),
    partnerId: z.string().optional().meta({ description: 'Operators only' }),
    settlementId: z.string(),
    statementVersion: z.number().int(),
    line: z.enum(statementLineKeys),
    currency: z.string(),
    statedAmount: z.string(),
    amountClaimed: z.string(),
    claimedChange: z
      .string()
      .meta({ description: 'amountClaimed − statedAmount: the fee change the partner asks for' }),
    holdAmount: z
      .string()
      .meta({ description: 'What the payout holds back while it is undecided: max(0, stated − claimed)' }),
    state: z.enum(disputeStates),
    reason: z.string(),
    evidence: z.array(z.string()),
    decision: decisionSchema.nullable(),
    restatementId: z.string().nullable(),
    deadline: z.string(),
    createdAt: z.string(),
    ageHours: z.number().int().meta({ description: 'Whole hours since it was opened' }),
    remindersSent: z.number().int().optional().meta({ description: 'Operators only' }),
    escalated: z.boolean().optional().meta({ description: 'Operators only' }),
    createdBy: z.string().optional().meta({ description: 'Operators only' }),
  })
  .meta({ id: 'Dispute' });
const eventSchema = z.object({
  seq: z.number().int(),
  kind: z.string(),
  fromState: z.string().nullable(),
  toState: z.string(),
  actor: z.string(),
  actorName: z.string().optional().meta({ description: 'Operators only' }),
  details: z.record(z.string(), z.unknown()),
  at: z.string(),
});
const disputeWithEvents = disputeSchema
  .extend({ events: z.array(eventSchema) })
  .meta({ id: 'DisputeWithEvents' });

const OPERATIONS = 'operations';
const partnerDecision = z.object({
  outcome: z.string(),
  amount: z.string().nullable(),
  reason: z.string(),
  decidedBy: z.unknown().transform(() => OPERATIONS),
  at: z.string(),
});
const partnerDispute = z.object({
  id: z.string(),
  reference: z.string(),
  settlementId: z.string(),
  statementVersion: z.number(),
  line: z.string(),
  currency: z.string(),
  statedAmount: z.string(),
  amountClaimed: z.string(),
  claimedChange: z.string(),
  holdAmount: z.string(),
  state: z.string(),
  reason: z.string(),
  evidence: z.array(z.string()),
  decision: partnerDecision.nullable(),
  restatementId: z.string().nullable(),
  deadline: z.string(),
  createdAt: z.string(),
  ageHours: z.number(),
});
/** A partner reads its dispute's history without the operators' reminders, decisions by role. */
const partnerEvents = z
  .array(
    z.object({
      seq: z.number(),
      kind: z.string(),
      fromState: z.string().nullable(),
      toState: z.string(),
      actor: z.string(),
      details: z.record(z.string(), z.unknown()),
      at: z.string(),
    }),
  )
  .transform((events) =>
    events
      .filter((e) => e.kind !== 'reminder' && e.kind !== 'escalated')
      .map((e) => ({ ...e, actor: e.actor.startsWith('partner:') ? e.actor : OPERATIONS })),
  );
const partnerDisputeView = partnerDispute.extend({ events: partnerEvents });
const partnerDisputeList = z.object({ disputes: z.array(partnerDispute), nextCursor: z.string().nullable() });

function view(d: StoredDispute, nowMs: number): z.infer<typeof disputeSchema> {
  const fmt = (m: bigint) => formatAmount(m, d.scale);
  return {
    id: d.id,
    reference: d.reference,
    partnerId: d.partnerId,
    settlementId: d.settlementId,
    statementVersion: d.statementVersion,
    line: d.line,
    currency: d.currency,
    statedAmount: fmt(d.statedMinor),
    amountClaimed: fmt(d.claimedMinor),
    claimedChange: fmt(d.claimedMinor - d.statedMinor),
    holdAmount: fmt(isUndecided(d.state) ? holdMinor(d.statedMinor, d.claimedMinor) : 0n),
    state: d.state,
    reason: d.reason,
    evidence: d.evidence,
    decision: d.decision
      ? {
          outcome: d.decision.outcome,
          amount: d.decision.amountMinor === null ? null : fmt(d.decision.amountMinor),
          reason: d.decision.reason,
          decidedBy: d.decision.decidedBy,
          at: d.decision.at,
        }
      : null,
    restatementId: d.restatementId,
    deadline: d.deadline,
    createdAt: d.createdAt,
    ageHours: Math.max(0, Math.floor((nowMs - Date.parse(d.createdAt)) / 3_600_000)),
    remindersSent: d.remindersSent,
    escalated: d.escalated,
    createdBy: d.createdBy,
  };
}
const withEvents = (d: StoredDispute, events: DisputeEvent[]) => ({ ...view(d, Date.now()), events });

export function disputeRoutes(router: Router, registry: OpenAPIRegistry, deps: ApiDeps): void {
  const auth = authDeps(deps.db, deps.config.api);
  const currencies = createCurrencyRegistry(deps.config.currencies.extraAssets);
  const settlementIdParam = z.object({ settlementId: settlementIdSchema });
  const disputeIdParam = z.object({ disputeId: disputeIdSchema });

  /** The dispute as its reader may see it (a partner's own only), else 404. */
  async function visibleDispute(
    id: string,
    principal: { kind: string; partnerId?: string },
  ): Promise<StoredDispute> {
    const d = await getDispute(deps.db, id, principal.kind === 'partner' ? principal.partnerId! : null);
    if (!d)
      throw new NotFoundError(`dispute ${id} not found`, [
        { path: 'params.disputeId', message: 'not found' },
      ]);
    return d;
  }
  /** An undecided dispute, or 409 saying what it is. */
  function undecided(d: StoredDispute): void {
    if (!isUndecided(d.state))
      throw new ConflictError(
        `dispute ${d.id} is ${d.state.replace(/_/g, ' ')}: nothing more can change it`,
        [{ path: 'params.disputeId', message: d.state }],
      );
  }
  const answer = async (id: string) => {
    const d = (await getDispute(deps.db, id))!;
    return { status: 200, body: withEvents(d, await disputeEvents(deps.db, id)) };
  };

  mountRoute(router, registry, auth, {
    method: 'post',
    path: '/v1/settlements/{settlementId}/disputes',
    summary: "Dispute a line of the cycle's published statement (partner)",
    description:
      "The line's stated amount is the statement's own (its latest version), never the body's; `amountClaimed` is what the " +
      'line should be. Starts the durable workflow `dispute:<id>` (acknowledged by the signed webhook `dispute.opened`): ' +
      `open ⇄ waiting_for_evidence → accepted | partly_accepted | rejected | expired (${DISPUTE_SLA_DAYS} days after opening, ` +
      `the statement standing; operators reminded every ${DISPUTE_REMINDER_EVERY_DAYS} days, escalated after ${DISPUTE_ESCALATE_AFTER_REMINDERS}). ` +
      'While undecided, the payout holds back max(0, stated − claimed). 201 when created; 200 with the same dispute for the ' +
      'same `reference` and content; 409 for the same reference with other content, or a statement not published yet; 404 for ' +
      "another partner's or an unknown cycle.",
    tags: ['disputes'],
    auth: 'partner',
    partnerView: partnerDisputeView,
    params: settlementIdParam,
    body: newDisputeBody,
    bodyExample: {
      line: 'tier_fee',
      amountClaimed: '1250.00',
      reason: 'the tier rate is 12 % from 2026-11-01 (amendment 3), not 10 %',
      evidence: ['contract-amendment-3.pdf', 'ticket-8812'],
      reference: 'INV-2026-11-0042',
    },
    responses: {
      200: jsonResponse(disputeWithEvents, 'The dispute already stored for this reference and content'),
      201: jsonResponse(disputeWithEvents, 'Opened'),
      ...errorResponses(400, 401, 403, 404, 409, 422),
    },
    handler: async ({ params, body, principal }) => {
      if (principal.kind !== 'partner') throw new Error('partner route reached without a partner');
      const cycleId = params.settlementId;
      const statement = await latestPublishedStatement(deps.db, cycleId, principal.partnerId);
      if (!statement) {
        if (!(await cycleOfPartner(deps.db, cycleId, principal.partnerId)))
          throw new NotFoundError(`settlement ${cycleId} not found`, [
            { path: 'params.settlementId', message: 'not found' },
          ]);
        throw new ConflictError(
          `${cycleId} has no published statement yet: a line can be disputed once it is`,
          [{ path: 'params.settlementId', message: 'statement not published' }],
        );
      }
      // Any version's statement has its lines (keyed by statementLineKeys); a cycle settled before
      // statements had lines has nothing to dispute line by line.
      const parsed = JSON.parse(statement.text) as Partial<Statement>;
      if (!Array.isArray(parsed.lines) || typeof parsed.currency !== 'string')
        throw new ConflictError(`${cycleId} was settled before statements had lines to dispute`, [
          { path: 'params.settlementId', message: 'no statement lines' },
        ]);
      const scale = currencies.requireScale(parsed.currency);
      const claimed = parseAmount(body.amountClaimed, scale, { allowNegative: true });
      if (!claimed.ok)
        throw new ValidationError(`amountClaimed ${claimed.message}`, [
          { path: 'amountClaimed', message: claimed.message },
        ]);
      // A restatement's fee adjustment counts on the line it corrected (one rule: domain/invoices.ts).
      const stated = ourLineTotals(
        [{ statement: { lines: parsed.lines }, adjustments: statement.adjustments }],
        scale,
      )[body.line];
      if (claimed.minor === stated)
        throw new ValidationError(
          `amountClaimed equals the statement's ${body.line} (${formatAmount(stated, scale)}): nothing to dispute`,
          [{ path: 'amountClaimed', message: 'equals the stated amount' }],
        );
      const stored = await createDispute(deps.db, {
        id: newDisputeId(),
        partnerId: principal.partnerId,
        cycleId,
        reference: body.reference,
        contentDigest: disputeContentDigest({
          cycleId,
          line: body.line,
          claimedMinor: claimed.minor,
          reason: body.reason,
          evidence: body.evidence,
        }),
        statementVersion: statement.version,
        currency: parsed.currency,
        scale,
        line: body.line,
        statedMinor: stated,
        claimedMinor: claimed.minor,
        reason: body.reason,
        evidence: body.evidence,
        slaMs: DISPUTE_SLA_DAYS * DAY_MS,
        createdBy: principalActor(principal),
      });
      if ('conflict' in stored)
        throw new ConflictError(
          `reference ${body.reference} is dispute ${stored.conflict.id}, with other content: use a new reference for another dispute`,
          [{ path: 'reference', message: `already used for ${stored.conflict.id}` }],
        );
      // Started on every call: a creation whose start was lost (a crash in between) starts on its retry.
      await startDisputeProcess(deps, stored.dispute.id);
      const done = await answer(stored.dispute.id);
      return {
        ...done,
        status: stored.created ? 201 : 200,
        headers: { Location: `/v1/disputes/${stored.dispute.id}` },
      };
    },
  });

  mountRoute(router, registry, auth, {
    method: 'get',
    path: '/v1/disputes',
    summary: 'List disputes (a partner sees its own; operators all, e.g. ?state=undecided&order=age)',
    description:
      '`state` filters by one state, or `undecided` (open and waiting_for_evidence); `order=age` lists oldest first (the ' +
      "operators' queue, each with `ageHours`), `newest` (default) newest first. Operators may filter by `partnerId`.",
    tags: ['disputes'],
    auth: 'any',
    partnerView: partnerDisputeList,
    query: z.object({
      state: z.enum([...disputeStates, 'undecided']).optional(),
      order: z.enum(['age', 'newest']).default('newest'),
      partnerId: z.string().max(64).optional(),
      ...pageQuery,
    }),
    responses: {
      200: jsonResponse(
        z.object({ disputes: z.array(disputeSchema), nextCursor: nextCursorSchema }),
        'Disputes',
      ),
      ...errorResponses(400, 401),
    },
    handler: async ({ query, principal }) => {
      const partnerId = principal.kind === 'partner' ? principal.partnerId : (query.partnerId ?? null);
      const after = decodeCursor(query.cursor, z.object({ createdAt: z.string(), id: z.string() }));
      const rows = await listDisputes(deps.db, {
        partnerId,
        states:
          query.state === undefined
            ? null
            : query.state === 'undecided'
              ? [...undecidedStates]
              : [query.state],
        order: query.order,
        limit: query.limit + 1,
        after,
      });
      const { items, nextCursor } = page(rows, query.limit, (r) => ({ createdAt: r.createdAt, id: r.id }));
      const now = Date.now();
      return { status: 200, body: { disputes: items.map((d) => view(d, now)), nextCursor } };
    },
  });

  mountRoute(router, registry, auth, {
    method: 'get',
    path: '/v1/disputes/{disputeId}',
    summary: 'A dispute with its history (a partner reads its own)',
    tags: ['disputes'],
    auth: 'any',
    partnerView: partnerDisputeView,
    params: disputeIdParam,
    responses: {
      200: jsonResponse(disputeWithEvents, 'The dispute and its events, oldest first'),
      ...errorResponses(400, 401, 404),
    },
    handler: async ({ params, principal }) => {
      const d = await visibleDispute(params.disputeId, principal);
      return { status: 200, body: withEvents(d, await disputeEvents(deps.db, d.id)) };
    },
  });

  mountRoute(router, registry, auth, {
    method: 'post',
    path: '/v1/disputes/{disputeId}/decision',
    summary: 'Decide a dispute (resolver): the same decideDispute Update the Temporal UI sends',
    description:
      "Sealed with the caller's identity. `accept` grants the claim (amountClaimed − stated); `accept_in_part` grants `amount` " +
      '(same sign as the claim, smaller, not zero); `reject` keeps the statement. Accepting starts a restatement of the cycle ' +
      '(requested by the decider, so approved by two others). 403 without the resolver role, 409 once decided or expired, ' +
      "422 with the workflow validator's words for a malformed decision.",
    tags: ['disputes'],
    auth: 'resolver',
    params: disputeIdParam,
    body: decisionBody,
    bodyExample: {
      outcome: 'accept_in_part',
      amount: '120.00',
      reason: 'amendment 3 applies from 2026-11-15 only',
    },
    responses: {
      200: jsonResponse(disputeWithEvents, 'Decided'),
      ...errorResponses(400, 401, 403, 404, 409, 422),
    },
    handler: async ({ params, body, principal, req }) => {
      const d = await visibleDispute(params.disputeId, principal);
      undecided(d);
      await sendDecision<DisputeView>(deps, {
        workflowId: disputeWorkflowId(d.id),
        what: `dispute ${d.id}`,
        decision: 'decideDispute',
        fields: body,
        principal,
        req,
      });
      return answer(d.id);
    },
  });

  mountRoute(router, registry, auth, {
    method: 'post',
    path: '/v1/disputes/{disputeId}/evidence-request',
    summary: 'Ask the partner for evidence (resolver): the requestEvidence Update',
    description:
      'open → waiting_for_evidence, with a note the partner reads (webhook dispute.evidence_requested). 409 when not open.',
    tags: ['disputes'],
    auth: 'resolver',
    params: disputeIdParam,
    body: evidenceRequestBody,
    bodyExample: { note: 'send the signed amendment 3 and its effective date' },
    responses: {
      200: jsonResponse(disputeWithEvents, 'Waiting for evidence'),
      ...errorResponses(400, 401, 403, 404, 409, 422),
    },
    handler: async ({ params, body, principal, req }) => {
      const d = await visibleDispute(params.disputeId, principal);
      undecided(d);
      await sendDecision<DisputeView>(deps, {
        workflowId: disputeWorkflowId(d.id),
        what: `dispute ${d.id}`,
        decision: 'requestEvidence',
        fields: body,
        principal,
        req,
      });
      return answer(d.id);
    },
  });

  mountRoute(router, registry, auth, {
    method: 'post',
    path: '/v1/disputes/{disputeId}/evidence',
    summary: "Provide the evidence asked for (partner): the dispute's provideEvidence Update",
    description:
      'waiting_for_evidence → open; the references are added to the dispute. Sealed by Clearhouse for the partner of the API ' +
      'key (no one else can send it). 409 when no evidence was asked for.',
    tags: ['disputes'],
    auth: 'partner',
    partnerView: partnerDisputeView,
    params: disputeIdParam,
    body: evidenceBody,
    bodyExample: { evidence: ['amendment-3-signed.pdf'], note: 'signed on 2026-10-28, effective 2026-11-01' },
    responses: {
      200: jsonResponse(disputeWithEvents, 'Open again, with the evidence'),
      ...errorResponses(400, 401, 403, 404, 409, 422),
    },
    handler: async ({ params, body, principal, req }) => {
      if (principal.kind !== 'partner') throw new Error('partner route reached without a partner');
      const d = await visibleDispute(params.disputeId, principal);
      undecided(d);
      const workflowId = disputeWorkflowId(d.id);
      const { payload } = sealDecision(sealingKeyOf(deps.config), {
        target: { namespace: deps.config.temporal.namespace, workflowId, decision: 'provideEvidence' },
        actor: {
          issuer: CLEARHOUSE_ISSUER,
          subject: partnerActorKey(principal.partnerId),
          name: principal.partnerId,
          kind: 'system',
          roles: ['partner'],
        },
        source: 'api',
        decision: body,
        ttlMs: deps.config.decisionSeals.ttlMs,
      });
      await sendUpdate(deps.temporal, workflowId, `dispute ${d.id}`, req, (handle, updateId) =>
        handle.executeUpdate<DisputeView, [RawValue]>('provideEvidence', {
          updateId,
          args: [RawValue.fromPayload(payload)],
        }),
      );
      return answer(d.id);
    },
  });
}
