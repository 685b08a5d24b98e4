import type { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import type { Router } from 'express';
import { z } from 'zod';
import { listRestatements, restatementOf, restatementStates, type Restatement } from '../../db/restatements';
import { latestStatement, statementVersion, statementVersions } from '../../db/statement-versions';
import { actorKey } from '../../domain/actors';
import { ConflictError, NotFoundError, ValidationError } from '../../domain/errors';
import { contractInForce } from '../../db/settlement';
import { createCurrencyRegistry, parseAmount } from '../../domain/money';
import { partnerIdSchema } from '../../domain/partner';
import type { RestatementReason } from '../../domain/restatement';
import { statementLineKeys, type Statement } from '../../domain/statement';
import { nonBlankText } from '../../domain/text';
import { operatorActor } from '../../platform/operators';
import { requestRestatement } from '../../services/restatements';
import { restatementWorkflowId } from '../../workflows/ids';
import { authDeps, type Principal } from '../auth';
import type { ApiDeps } from '../deps';
import { statementView } from '../partner-view';
import { mountRoute } from '../route';
import { errorResponses, jsonResponse, settlementIdSchema } from '../schemas';
import { sendDecision } from '../updates';

// Restatements (domain/restatement.ts, workflows/restatement): requested by an operator, shown
// line by line, approved by two others, posted as a delta; and the statement's versions.

const restatementId = z
  .string()
  .regex(/^rst-[0-9a-f]{20}$/, 'a restatement id such as rst-0123456789abcdef0123');
const amountText = z
  .string()
  .regex(/^-?\d{1,15}(\.\d{1,8})?$/, 'a signed decimal amount in the settlement currency such as "-12.50"');
const note = nonBlankText(500);
const reference = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9:_./-]{0,99}$/, 'a reference of 1 to 100 letters, digits and :_./-');

const requestBody = z
  .object({
    settlementId: settlementIdSchema,
    reason: z.discriminatedUnion('kind', [
      z
        .object({
          kind: z.literal('contract_version'),
          contractVersion: z.number().int().min(1),
          note,
        })
        .strict()
        .meta({
          description: 'A retroactive contract version (approved through the contract maker-checker)',
        }),
      z
        .object({ kind: z.literal('provider_correction'), amount: amountText, reference, note })
        .strict()
        .meta({ description: "A late provider correction: the period's GGR moves by `amount`" }),
      z
        .object({
          kind: z.literal('manual'),
          line: z.enum([...statementLineKeys, 'ggr']),
          amount: amountText,
          reference,
          note,
        })
        .strict()
        .meta({ description: 'A manual adjustment of a fee line (net payable) or of GGR' }),
    ]),
  })
  .strict()
  .meta({ id: 'RestatementRequest' });

const restatementSchema = z
  .object({
    id: z.string(),
    partnerId: z.string(),
    settlementId: z.string(),
    changeKey: z.string(),
    reason: z.record(z.string(), z.unknown()),
    // Operators only (a partner's view leaves out who requested and who rejected).
    requestedBy: z.object({ actor: z.string(), name: z.string() }).optional(),
    state: z.enum(restatementStates),
    computed: z.unknown().nullable(),
    deltaJournalId: z.string().nullable(),
    approvals: z.array(z.object({ actor: z.string(), name: z.string(), at: z.string() })),
    rejectedBy: z.unknown().nullable().optional(),
    detail: z.string().nullable(),
    workflowId: z.string(),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .meta({ id: 'Restatement' });

/**
 * A partner reads its own restatements (an allow-list): why, the chain and its delta line by
 * line, the state and how many approved — never who requested, approved or rejected it.
 */
const partnerRestatement = z.object({
  id: z.string(),
  partnerId: z.string(),
  settlementId: z.string(),
  reason: z.record(z.string(), z.unknown()),
  state: z.enum(restatementStates),
  computed: z.unknown().nullable(),
  deltaJournalId: z.string().nullable(),
  // Approvals as roles: when, never who.
  approvals: z
    .array(z.object({ at: z.string() }))
    .transform((a) => a.map((x) => ({ actor: 'operations', name: 'operations', at: x.at }))),
  detail: z.string().nullable(),
  changeKey: z.string(),
  workflowId: z.string(),
  createdAt: z.string(),
  updatedAt: z.string(),
});

/** A statement's versions: the same for a partner (its own) and an operator. */
const versionList = z.object({
  versions: z.array(
    z.object({
      version: z.number().int(),
      digest: z.string(),
      restatementId: z.string().nullable(),
      netPayable: z.string(),
      createdAt: z.string(),
      href: z.string(),
    }),
  ),
});

const view = (r: Restatement) => ({ ...r, workflowId: restatementWorkflowId(r.id) });

const mine = (principal: Principal, partnerId: string): boolean =>
  principal.kind === 'operator' || (principal.kind === 'partner' && principal.partnerId === partnerId);

export function restatementRoutes(router: Router, registry: OpenAPIRegistry, deps: ApiDeps): void {
  const auth = authDeps(deps.db, deps.config.api);
  const currencies = createCurrencyRegistry(deps.config.currencies.extraAssets);

  mountRoute(router, registry, auth, {
    method: 'post',
    path: '/v1/restatements',
    summary:
      'Restate a settled period (resolver): its settlementRestatement workflow recomputes and waits for approval',
    description:
      'Recomputes the period from its frozen inputs plus the change, and every later settled period that depended ' +
      "on it (the month's tiers, guarantee and gaming tax to date, carries), shows the difference line by line " +
      '(GET /v1/restatements/{id}), waits for two approvers other than the requester, then posts only the delta as ' +
      'adjusting entries dated in the open period and issues the next statement versions. The same change ' +
      '(a contract version for the period, a reference) requested again is the same restatement (200); a new one is ' +
      '202. Every period of the chain must be settled and paid; a restatement with no effect posts nothing.',
    tags: ['restatements'],
    auth: 'resolver',
    body: requestBody,
    bodyExample: {
      settlementId: 'settlement:nova-slots:2026-11-30',
      reason: { kind: 'contract_version', contractVersion: 3, note: 'November tiers amended retroactively' },
    },
    responses: {
      200: jsonResponse(
        z.object({ restatementId: z.string(), workflowId: z.string(), created: z.boolean() }),
        'The same change was requested already: that restatement',
      ),
      202: jsonResponse(
        z.object({ restatementId: z.string(), workflowId: z.string(), created: z.boolean() }),
        'Requested: its workflow computes the delta',
      ),
      ...errorResponses(400, 401, 403, 404, 409, 422),
    },
    handler: async ({ body, principal }) => {
      if (principal.kind !== 'operator') throw new NotFoundError('not found');
      const latest = await latestStatement(deps.db, body.settlementId);
      if (!latest)
        throw new NotFoundError(`settlement ${body.settlementId} has no statement to restate`, [
          { path: 'body.settlementId', message: 'no statement' },
        ]);
      const s: Statement = latest.statement;
      const scale = currencies.requireScale(s.currency);
      const minor = (text: string, path: string): string => {
        const p = parseAmount(text, scale, { allowNegative: true });
        if (!p.ok) throw new ValidationError(`${path}: ${p.message}`, [{ path, message: p.message }]);
        if (p.minor === 0n)
          throw new ValidationError(`${path}: a restatement moves something`, [
            { path, message: 'must not be zero' },
          ]);
        return p.minor.toString();
      };
      const r = body.reason;
      let reason: RestatementReason;
      let changeKey: string;
      if (r.kind === 'contract_version') {
        const inForce = await contractInForce(deps.db, s.partnerId, s.period.start);
        if (inForce?.version !== r.contractVersion)
          throw new ConflictError(
            `contract version ${r.contractVersion} is not the one in force for ${s.period.start} (${inForce?.version ?? 'none'} is): approve it, retroactive, with an effectiveFrom on or before the period first`,
            [{ path: 'body.reason.contractVersion', message: 'not the version in force for the period' }],
          );
        reason = { kind: 'contract_version', contractVersion: r.contractVersion, note: r.note };
        changeKey = `contract-version:${r.contractVersion}:${body.settlementId}`;
      } else if (r.kind === 'provider_correction') {
        reason = {
          kind: 'provider_correction',
          amountMinor: minor(r.amount, 'body.reason.amount'),
          reference: r.reference,
          note: r.note,
        };
        changeKey = `provider-correction:${r.reference}`;
      } else {
        reason = {
          kind: 'manual',
          line: r.line,
          amountMinor: minor(r.amount, 'body.reason.amount'),
          note: r.note,
        };
        changeKey = `manual:${r.reference}`;
      }
      const actor = operatorActor(principal);
      const result = await requestRestatement(deps, {
        partnerId: s.partnerId,
        cycleId: body.settlementId,
        reason,
        requestedBy: { actor: actorKey(actor), name: actor.name },
        changeKey,
      });
      return { status: result.created ? 202 : 200, body: result };
    },
  });

  mountRoute(router, registry, auth, {
    method: 'get',
    path: '/v1/restatements',
    summary: 'Restatements, newest first (a partner reads its own)',
    tags: ['restatements'],
    auth: 'any',
    partnerView: z.object({ restatements: z.array(partnerRestatement) }),
    query: z.object({
      partnerId: partnerIdSchema.optional(),
      settlementId: settlementIdSchema.optional(),
      state: z.enum(restatementStates).optional(),
      limit: z.coerce.number().int().min(1).max(200).default(50),
    }),
    responses: {
      200: jsonResponse(z.object({ restatements: z.array(restatementSchema) }), 'Restatements'),
      ...errorResponses(400, 401, 404),
    },
    handler: async ({ query, principal }) => {
      let partnerId = query.partnerId;
      if (principal.kind === 'partner') {
        if (partnerId !== undefined && partnerId !== principal.partnerId)
          throw new NotFoundError(`partner ${partnerId} not found`, [
            { path: 'query.partnerId', message: 'not found' },
          ]);
        partnerId = principal.partnerId;
      }
      const rows = await listRestatements(deps.db, {
        partnerId,
        settlementId: query.settlementId,
        state: query.state,
        limit: query.limit,
      });
      return { status: 200, body: { restatements: rows.map(view) } };
    },
  });

  mountRoute(router, registry, auth, {
    method: 'get',
    path: '/v1/restatements/{id}',
    summary: 'One restatement: its chain of periods, versions and delta line by line',
    tags: ['restatements'],
    auth: 'any',
    partnerView: partnerRestatement,
    params: z.object({ id: restatementId }),
    responses: { 200: jsonResponse(restatementSchema, 'The restatement'), ...errorResponses(400, 401, 404) },
    handler: async ({ params, principal }) => {
      const r = await restatementOf(deps.db, params.id);
      if (!r || !mine(principal, r.partnerId)) throw new NotFoundError(`restatement ${params.id} not found`);
      return { status: 200, body: view(r) };
    },
  });

  for (const [path, decision, summary, body] of [
    [
      'approvals',
      'approveRestatement',
      'Approve the restatement (approver): the same approveRestatement Update the Temporal UI sends',
      z.object({ comment: nonBlankText(500).optional() }).strict(),
    ],
    [
      'rejections',
      'rejectRestatement',
      'Reject the restatement (approver): nothing is posted',
      z.object({ reason: nonBlankText(500) }).strict(),
    ],
  ] as const)
    mountRoute(router, registry, auth, {
      method: 'post',
      path: `/v1/restatements/{id}/${path}`,
      summary,
      description:
        "Bound to identity: the approver is the token's operator; neither the one who requested the restatement " +
        'nor someone who approved it already (403 naming why); 409 when it is not awaiting approval.',
      tags: ['restatements'],
      auth: 'approver',
      params: z.object({ id: restatementId }),
      body,
      responses: {
        200: jsonResponse(z.record(z.string(), z.unknown()), 'Recorded'),
        ...errorResponses(400, 401, 403, 404, 409, 422),
      },
      handler: async ({ params, body: fields, principal, req }) => {
        const r = await restatementOf(deps.db, params.id);
        if (!r) throw new NotFoundError(`restatement ${params.id} not found`);
        const result = await sendDecision<Record<string, unknown>>(deps, {
          workflowId: restatementWorkflowId(params.id),
          what: `restatement ${params.id}`,
          decision,
          fields,
          principal,
          req,
        });
        return { status: 200, body: result };
      },
    });

  mountRoute(router, registry, auth, {
    method: 'get',
    path: '/v1/settlements/{id}/statements',
    summary: "Every version of the cycle's statement, oldest first, with digests and what restated each",
    tags: ['settlements', 'restatements'],
    auth: 'any',
    params: z.object({ id: settlementIdSchema }),
    partnerView: versionList,
    responses: {
      200: jsonResponse(versionList, 'Versions'),
      ...errorResponses(400, 401, 404),
    },
    handler: async ({ params, principal }) => {
      const versions = await statementVersions(deps.db, params.id);
      if (versions.length === 0 || !mine(principal, versions[0]!.statement.partnerId))
        throw new NotFoundError(`settlement ${params.id} has no statement`);
      return {
        status: 200,
        body: {
          versions: versions.map((v) => ({
            version: v.version,
            digest: v.digest,
            restatementId: v.restatementId,
            netPayable: v.statement.netPayable,
            createdAt: v.createdAt,
            href: `/v1/settlements/${encodeURIComponent(params.id)}/statements/${v.version}`,
          })),
        },
      };
    },
  });

  mountRoute(router, registry, auth, {
    method: 'get',
    path: '/v1/settlements/{id}/statements/{version}',
    summary: 'One version of the statement (version 1 is the one the cycle issued); never edited',
    tags: ['settlements', 'restatements'],
    auth: 'any',
    partnerView: statementView,
    params: z.object({ id: settlementIdSchema, version: z.coerce.number().int().min(1).max(100000) }),
    responses: {
      200: { description: 'The statement version', content: { 'application/json': { schema: z.unknown() } } },
      ...errorResponses(400, 401, 404),
    },
    handler: async ({ params, principal }) => {
      const v = await statementVersion(deps.db, params.id, params.version);
      if (!v || !mine(principal, v.statement.partnerId))
        throw new NotFoundError(`settlement ${params.id} has no statement version ${params.version}`);
      if (principal.kind === 'partner')
        return {
          status: 200,
          body: v.statement,
          render: (s: Statement) => ({
            contentType: 'application/json',
            body: `${JSON.stringify(s, null, 2)}\n`,
          }),
        };
      return {
        status: 200,
        headers: { 'x-content-sha256': v.digest },
        text: { contentType: 'application/json', body: v.text },
      };
    },
  });
}
