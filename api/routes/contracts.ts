import type { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import type { Router } from 'express';
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { appendAudit, digestOf } from '../../db/audit';
import {
  approveContractVersion,
  contractVersionOf,
  frozenPeriodFrom,
  getPartner,
  listContractVersions,
  proposeContractVersion,
  type StoredContractVersion,
} from '../../db/partners';
import { withTransaction } from '../../db/retry';
import { actorKey } from '../../domain/actors';
import {
  checkContractTerms,
  checkNotBackdated,
  checkPayoutThresholdCeiling,
  contractApprovalProblem,
  contractStatuses,
  contractTermsSchema,
  type ContractActorRef,
} from '../../domain/contract';
import { ConflictError, NotFoundError } from '../../domain/errors';
import { partnerIdSchema } from '../../domain/partner';
import { operatorActor } from '../../platform/operators';
import type { Principal } from '../auth';
import { authDeps } from '../auth';
import type { ApiDeps } from '../deps';
import { mountRoute } from '../route';
import { errorResponses, jsonResponse } from '../schemas';

const params = z.object({ partnerId: partnerIdSchema, version: z.coerce.number().int().min(1).max(100_000) });

const actorView = z
  .object({
    key: z
      .string()
      .meta({ description: 'The actor as compared and audited: issuer#subject, or a system principal' }),
    name: z.string().meta({ description: 'How the actor is shown; never compared' }),
  })
  .meta({ id: 'ContractActor' });

/** A contract version as operators read it (operators only: it names operators). */
const contractView = z
  .object({
    partnerId: z.string(),
    version: z.number(),
    effectiveFrom: z.string(),
    status: z.enum(contractStatuses).meta({
      description:
        'proposed: recorded by an admin, not in force; approved: a second actor approved it, in force',
    }),
    approvedThrough: z.enum(['api', 'application', 'before-maker-checker']).nullable().meta({
      description:
        "api: proposed and approved through this API by two actors; application: version 1 of an approved partner application (maker: the application's submitter, checker: its approver); before-maker-checker: recorded before contracts needed a second person",
    }),
    proposedBy: actorView.nullable(),
    proposedAt: z.string(),
    approvedBy: actorView.nullable(),
    approvedAt: z.string().nullable(),
    retroactive: z.boolean().meta({
      description: 'Reaches back into settled periods on purpose: they change only through a restatement',
    }),
    terms: contractTermsSchema,
  })
  .meta({ id: 'ContractVersionState' });

function shown(c: StoredContractVersion): z.input<typeof contractView> {
  return {
    partnerId: c.partnerId,
    version: c.version,
    effectiveFrom: c.effectiveFrom,
    status: c.status,
    approvedThrough: c.approvedThrough,
    proposedBy: c.proposedBy,
    proposedAt: c.proposedAt,
    approvedBy: c.approvedBy,
    approvedAt: c.approvedAt,
    retroactive: c.retroactive,
    terms: c.terms as z.input<typeof contractTermsSchema>,
  };
}

function operatorOf(principal: Principal): ContractActorRef & { via: 'token' | 'bootstrap'; roles: string } {
  if (principal.kind !== 'operator') throw new Error('operator route reached without an operator');
  return {
    key: actorKey(operatorActor(principal)),
    name: principal.name,
    via: principal.via,
    roles: principal.roles.join(' '),
  };
}

export function contractRoutes(router: Router, registry: OpenAPIRegistry, deps: ApiDeps): void {
  const auth = authDeps(deps.db, deps.config.api);
  const ceiling = deps.config.contracts.maxPayoutApprovalThresholdMinor;

  /** The contract's own audit event, with the actors' keys (besides the call's own record). */
  const audit = (
    client: Parameters<typeof appendAudit>[0],
    e: {
      actor: ReturnType<typeof operatorOf>;
      action: string;
      c: StoredContractVersion;
      requestId: unknown;
      comment?: string;
    },
  ) =>
    appendAudit(client, {
      idempotencyKey: `contract:${randomUUID()}`,
      actor: e.actor.key,
      role: e.actor.roles,
      action: e.action,
      target: `contract:${e.c.partnerId}:${e.c.version}`,
      source: 'api',
      requestId: typeof e.requestId === 'string' ? e.requestId : JSON.stringify(e.requestId),
      afterDigest: digestOf({ effectiveFrom: e.c.effectiveFrom, terms: e.c.terms }),
      details: {
        partnerId: e.c.partnerId,
        version: e.c.version,
        effectiveFrom: e.c.effectiveFrom,
        status: e.c.status,
        proposedBy: e.c.proposedBy?.key ?? null,
        approvedBy: e.c.approvedBy?.key ?? null,
        ...(e.comment === undefined ? {} : { comment: e.comment }),
      },
    });

  mountRoute(router, registry, auth, {
    method: 'put',
    path: '/v1/partners/{partnerId}/contracts/{version}',
    summary: 'Propose a contract version (admin); in force only once another operator approves it',
    description:
      'Maker-checker: the version is recorded as `proposed` (202) and is not in force until an approver other than the proposer approves it (`POST …/approval`). ' +
      'The version in force for a period is the approved one with the latest `effectiveFrom` on or before its start. Versions are immutable: re-sending the same version with the same content is a no-op ' +
      '(202 while proposed, 200 once approved); different content is a 409. A `payoutApprovalThresholdMinor` above the deployment ceiling ' +
      '(CONTRACT_MAX_PAYOUT_APPROVAL_THRESHOLD_MINOR) is a 422 naming the field; an `effectiveFrom` on or before the last day of a period already frozen for the partner is a 409 naming the period.',
    tags: ['partners'],
    auth: 'admin',
    params,
    body: z
      .object({
        effectiveFrom: z.iso.date(),
        terms: contractTermsSchema,
        retroactive: z.boolean().default(false).meta({
          description:
            'An amendment that reaches back into periods already frozen or settled: their statements stay as issued and change only through a restatement (POST /v1/restatements, reason contract_version); without it such an effectiveFrom is a 409',
        }),
      })
      .strict()
      .meta({ id: 'ContractVersion' }),
    bodyExample: {
      effectiveFrom: '2026-12-01',
      terms: {
        base: 'ggr',
        tiers: [
          { upToMinor: '10000000', rate: '0.12' },
          { upToMinor: null, rate: '0.10' },
        ],
        tierMode: 'marginal',
        negativeBase: 'carry_forward',
        jackpots: 'exclude',
        gamingTax: { jurisdiction: 'MT', rate: '0.05', on: 'ggr' },
        settlement: { period: 'monthly', cutoffGraceMinutes: 120, payoutApprovalThresholdMinor: '5000000' },
      },
    },
    responses: {
      200: jsonResponse(
        contractView,
        'Already recorded with the same content, and approved: nothing changed',
      ),
      202: jsonResponse(
        contractView,
        'Proposed (or already proposed with the same content): waiting for an approver',
      ),
      ...errorResponses(400, 401, 403, 404, 409, 422),
    },
    handler: async ({ params, body, principal, req }) => {
      if (!(await getPartner(deps.db, params.partnerId)))
        throw new NotFoundError(`partner ${params.partnerId} not found`);
      // The fee engine's own rules (rising tiers, rates ≤ 100 %), with the field named.
      const terms = checkContractTerms(body.terms);
      checkPayoutThresholdCeiling(terms, ceiling);
      const maker = operatorOf(principal);
      const result = await withTransaction(deps.db, async (client) => {
        // A retry of a stored version is answered as it stands, before any other check.
        const frozen = await frozenPeriodFrom(client, params.partnerId, body.effectiveFrom);
        const existing = await contractVersionOf(client, params.partnerId, params.version);
        if (!existing && !body.retroactive) checkNotBackdated(body.effectiveFrom, frozen);
        const proposed = await proposeContractVersion(client, {
          partnerId: params.partnerId,
          version: params.version,
          effectiveFrom: body.effectiveFrom,
          terms,
          proposedBy: { key: maker.key, name: maker.name },
          retroactive: body.retroactive,
        });
        if (proposed.outcome === 'stored')
          await audit(client, {
            actor: maker,
            action: 'contract.propose',
            c: proposed.contract!,
            requestId: req.id,
          });
        return proposed;
      });
      if (result.outcome === 'conflict')
        throw new ConflictError(
          `version ${params.version} (or effective date ${body.effectiveFrom}) is already recorded with other content`,
          [{ path: 'params.version', message: 'versions are immutable' }],
        );
      const c = result.contract!;
      return { status: c.status === 'approved' ? 200 : 202, body: shown(c) };
    },
  });

  mountRoute(router, registry, auth, {
    method: 'post',
    path: '/v1/partners/{partnerId}/contracts/{version}/approval',
    summary: 'Approve a proposed contract version (approver, never its proposer); it is then in force',
    description:
      "Maker-checker, bound to identity: the approver is the token's operator, compared with the proposer by issuer and subject, never by display name. " +
      'The proposer cannot approve its own proposal, nor can the bootstrap administrator approve (403 naming why). Approving an approved version again changes nothing (200). ' +
      'The ceiling and the frozen periods are checked again at approval: a period frozen since the proposal makes it a 409.',
    tags: ['partners'],
    auth: 'approver',
    params,
    body: z
      .object({ comment: z.string().max(500).optional() })
      .strict()
      .meta({ id: 'ContractApproval' }),
    bodyExample: { comment: 'terms checked against the signed contract' },
    responses: {
      200: jsonResponse(contractView, 'Approved (now, or already): in force from its effectiveFrom'),
      ...errorResponses(400, 401, 403, 404, 409, 422),
    },
    handler: async ({ params, body, principal, req }) => {
      const checker = operatorOf(principal);
      const approved = await withTransaction(deps.db, async (client) => {
        const frozen = await frozenPeriodFrom(client, params.partnerId, '0001-01-01');
        const c = await contractVersionOf(client, params.partnerId, params.version, true);
        if (!c)
          throw new NotFoundError(`contract version ${params.version} of ${params.partnerId} not found`);
        if (c.status === 'approved') return c;
        const problem = contractApprovalProblem(c.proposedBy, checker);
        if (problem) throw problem;
        checkPayoutThresholdCeiling(checkContractTerms(c.terms), ceiling);
        if (!c.retroactive)
          checkNotBackdated(c.effectiveFrom, frozen && frozen.periodEnd >= c.effectiveFrom ? frozen : null);
        const r = await approveContractVersion(client, {
          partnerId: params.partnerId,
          version: params.version,
          approvedBy: { key: checker.key, name: checker.name },
        });
        if (!r.approvedNow || !r.contract)
          throw new ConflictError(
            `contract version ${params.version} of ${params.partnerId} changed meanwhile: try again`,
          );
        await audit(client, {
          actor: checker,
          action: 'contract.approve',
          c: r.contract,
          requestId: req.id,
          ...(body.comment === undefined ? {} : { comment: body.comment }),
        });
        return r.contract;
      });
      return { status: 200, body: shown(approved) };
    },
  });

  mountRoute(router, registry, auth, {
    method: 'get',
    path: '/v1/partners/{partnerId}/contracts',
    summary: "A partner's contract versions, proposed and approved (operator)",
    description:
      'Each with its status, who proposed it and who approved it. Operators only: it names operators.',
    tags: ['partners'],
    auth: 'viewer',
    params: z.object({ partnerId: partnerIdSchema }),
    responses: {
      200: jsonResponse(z.object({ items: z.array(contractView) }), 'By version'),
      ...errorResponses(400, 401, 403, 404),
    },
    handler: async ({ params }) => {
      if (!(await getPartner(deps.db, params.partnerId)))
        throw new NotFoundError(`partner ${params.partnerId} not found`);
      const items = await listContractVersions(deps.db, params.partnerId);
      return { status: 200, body: { items: items.map(shown) } };
    },
  });

  mountRoute(router, registry, auth, {
    method: 'get',
    path: '/v1/partners/{partnerId}/contracts/{version}',
    summary: 'One contract version with its status, proposer and approver (operator)',
    tags: ['partners'],
    auth: 'viewer',
    params,
    responses: {
      200: jsonResponse(contractView, 'The version'),
      ...errorResponses(400, 401, 403, 404),
    },
    handler: async ({ params }) => {
      const c = await contractVersionOf(deps.db, params.partnerId, params.version);
      if (!c) throw new NotFoundError(`contract version ${params.version} of ${params.partnerId} not found`);
      return { status: 200, body: shown(c) };
    },
  });
}
