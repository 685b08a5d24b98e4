import type { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import type { Router } from 'express';
import { z } from 'zod';
import { bulkThresholdOf, planRules } from '../../services/reconciliation-rules';
import { previewBulk } from '../../db/bulk';
import { contractVersionOf, getPartner } from '../../db/partners';
import { settledCycles } from '../../db/reconciliation-rules';
import { bulkFilterSchema, bulkResolutionSchema, type BulkOutcome } from '../../domain/bulk';
import { checkContractTerms } from '../../domain/contract';
import { NotFoundError } from '../../domain/errors';
import { reconciliationTermsSchema, summarizeDecisions, type ReconciliationTerms } from '../../domain/rules';
import { resolveInBulk } from '../../workflows/settlement';
import { authDeps } from '../auth';
import type { ApiDeps } from '../deps';
import { mountRoute } from '../route';
import { errorResponses, jsonResponse, settlementIdSchema } from '../schemas';
import { partnerIdSchema } from '../../domain/partner';
import { describeWorkflow, sendDecision } from '../updates';

/** The most settled periods one dry run replays. */
export const MAX_DRY_RUN_PERIODS = 31;

const totals = z.object({ count: z.number().int(), differenceMinor: z.string(), absoluteMinor: z.string() });
const summary = z.object({
  byKindAndAction: z.array(totals.extend({ kind: z.string(), action: z.string() })),
  total: totals,
  /** Left open by the rules, but still arriving: settled at our figure as expected. */
  expected: totals.omit({ absoluteMinor: true }),
});

const previewSchema = z
  .object({
    count: z.number().int(),
    totals: z.array(
      z.object({ currency: z.string().nullable(), differenceMinor: z.string(), absoluteMinor: z.string() }),
    ),
    digest: z.string(),
    sample: z.array(z.string()),
    needsSecondActor: z.boolean(),
    thresholdMinor: z.string(),
  })
  .meta({ id: 'BulkPreview' });

/** Bulk resolutions of a cycle's exceptions, and the dry run of reconciliation rules over settled periods. */
export function exceptionRuleRoutes(router: Router, registry: OpenAPIRegistry, deps: ApiDeps): void {
  const auth = authDeps(deps.db, deps.config.api);

  mountRoute(router, registry, auth, {
    method: 'post',
    path: '/v1/partners/{partnerId}/reconciliation-rules/dry-run',
    summary: 'What reconciliation rules would have done over the last settled periods (nothing is written)',
    description:
      "Replays rules — given inline (`reconciliation`, the contract terms' block) or those of a contract version (`contractVersion`, e.g. one proposed and not yet approved) — " +
      `over the exceptions reconciliation found in the partner's last \`periods\` completed cycles (at most ${MAX_DRY_RUN_PERIODS}), ` +
      "with the same reading a cycle makes before it applies them (counterparts of missing transactions in the cycle's own and earlier reports): counts and amounts per kind and per action, per cycle and in total, and what would be settled as expected. " +
      'Expected items of earlier cycles that arrive or expire are not replayed.',
    tags: ['contracts'],
    auth: 'viewer',
    audit: false,
    params: z.object({ partnerId: partnerIdSchema }),
    body: z
      .object({
        reconciliation: reconciliationTermsSchema.optional(),
        contractVersion: z.number().int().min(1).max(100_000).optional(),
        periods: z.number().int().min(1).max(MAX_DRY_RUN_PERIODS).default(7),
      })
      .strict()
      // Exactly one of the two (the published schema says so too): errors inside the rules keep
      // naming their field, as a union of two objects would not.
      .superRefine((b, ctx) => {
        if ((b.reconciliation === undefined) === (b.contractVersion === undefined))
          ctx.addIssue({
            code: 'custom',
            path: ['reconciliation'],
            message: 'send either reconciliation (rules to try) or contractVersion, not both',
          });
      })
      .meta({
        id: 'RulesDryRun',
        oneOf: [
          { required: ['reconciliation'], not: { required: ['contractVersion'] } },
          { required: ['contractVersion'], not: { required: ['reconciliation'] } },
        ],
      }),
    bodyExample: {
      reconciliation: {
        rules: [
          {
            id: 'rounding',
            kinds: ['amount_mismatch'],
            tolerance: { absoluteMinor: '5', percent: '0.1', base: 'larger', rounding: 'half_up' },
            action: 'accept_ours',
          },
          { id: 'late-rounds', kinds: ['missing_ours'], dateLag: { hours: 2 }, action: 'accept_ours' },
        ],
      },
      periods: 7,
    },
    responses: {
      200: jsonResponse(
        z.object({
          periods: z.array(summary.extend({ settlementId: z.string(), periodStart: z.string() })),
          total: summary,
        }),
        'Per settled period, most recent first, and in total',
      ),
      ...errorResponses(400, 401, 403, 404, 422),
    },
    handler: async ({ params, body }) => {
      if (!(await getPartner(deps.db, params.partnerId)))
        throw new NotFoundError(`partner ${params.partnerId} not found`);
      let terms: ReconciliationTerms;
      if (body.reconciliation) terms = body.reconciliation;
      else {
        const stored = await contractVersionOf(deps.db, params.partnerId, body.contractVersion!);
        if (!stored)
          throw new NotFoundError(`no contract version ${body.contractVersion} for ${params.partnerId}`, [
            { path: 'contractVersion', message: 'no such version' },
          ]);
        terms = checkContractTerms(stored.terms).reconciliation;
      }
      const cycles = await settledCycles(deps.db, params.partnerId, body.periods);
      const all: Parameters<typeof summarizeDecisions>[0] = [];
      const allDecided: Parameters<typeof summarizeDecisions>[1] = [];
      let expectedCount = 0;
      let expectedDiff = 0n;
      const periods = [];
      for (const c of cycles) {
        const plan = await planRules(deps.db, { ...c, partnerId: params.partnerId }, terms, {
          includeResolved: true,
        });
        all.push(...plan.facts);
        allDecided.push(...plan.decided);
        expectedCount += plan.expected.length;
        const diff = plan.expected.reduce((s, x) => s - x.oursMinor, 0n);
        expectedDiff += diff;
        periods.push({
          settlementId: c.cycleId,
          periodStart: c.periodStart,
          ...summarizeDecisions(plan.facts, plan.decided),
          expected: { count: plan.expected.length, differenceMinor: diff.toString() },
        });
      }
      return {
        status: 200,
        body: {
          periods,
          total: {
            ...summarizeDecisions(all, allDecided),
            expected: { count: expectedCount, differenceMinor: expectedDiff.toString() },
          },
        },
      };
    },
  });

  mountRoute(router, registry, auth, {
    method: 'post',
    path: '/v1/settlements/{id}/exceptions/bulk/preview',
    summary: 'Preview a bulk resolution: what a filter selects now (count, totals per currency, digest)',
    description:
      'Nothing is written. The apply (POST /v1/settlements/{id}/exceptions/bulk) carries the digest and is refused (409) when the set or its amounts changed since. ' +
      'The same preview is an Update (previewBulkResolution) for the Temporal UI and CLI.',
    tags: ['settlements'],
    auth: 'viewer',
    audit: false,
    params: z.object({ id: settlementIdSchema }),
    body: z.object({ filter: bulkFilterSchema }).strict(),
    bodyExample: { filter: { kinds: ['amount_mismatch'], maxAmountMinor: '100' } },
    responses: {
      200: jsonResponse(previewSchema, 'What the filter selects now'),
      ...errorResponses(400, 401, 403, 404, 422),
    },
    handler: async ({ params, body }) => {
      const partnerId = params.id.split(':')[1]!;
      const periodStart = params.id.split(':')[2]!;
      if (!(await describeWorkflow(deps.temporal, params.id)))
        throw new NotFoundError(`settlement ${params.id} not found`);
      const partner = await getPartner(deps.db, partnerId);
      if (!partner) throw new NotFoundError(`settlement ${params.id} not found`);
      const threshold = await bulkThresholdOf(deps.db, { partnerId, periodStart });
      return {
        status: 200,
        body: await previewBulk(deps.db, params.id, body.filter, {
          thresholdMinor: threshold,
          settlementCurrency: partner.settlementCurrency,
        }),
      };
    },
  });

  mountRoute(router, registry, auth, {
    method: 'post',
    path: '/v1/settlements/{id}/exceptions/bulk',
    summary:
      'Resolve every open exception a previewed filter selects, with one resolution (resolveInBulk Update)',
    description:
      "Sealed with the caller's identity and sent as the resolveInBulk Update. Refused (409) when the selected set changed since the preview (its digest). " +
      "Above the contract's `reconciliation.bulkApprovalThresholdMinor` (Σ|difference| of a currency) the first request records the bulk as awaiting approval; " +
      'a second, different resolver sending the same request applies it (403 for the proposer). Its journal entries are one per cycle, bulk and resolution, linked to every exception they cover.',
    tags: ['settlements'],
    auth: 'resolver',
    params: z.object({ id: settlementIdSchema }),
    body: bulkResolutionSchema,
    bodyExample: {
      filter: { kinds: ['amount_mismatch'], maxAmountMinor: '100' },
      resolution: 'accept_ours',
      reason: 'provider rounds wins its own way; contract tolerance',
      digest: '0'.repeat(64),
    },
    responses: {
      200: jsonResponse(
        z.object({
          bulkId: z.string(),
          state: z.enum(['applied', 'awaiting_approval']),
          count: z.number().int(),
          applied: z.number().int(),
          open: z.number().int(),
        }),
        'Applied, or awaiting a second resolver',
      ),
      ...errorResponses(400, 401, 403, 404, 409, 422, 429),
    },
    handler: async ({ params, body, principal, req }) => {
      const result = await sendDecision<BulkOutcome>(deps, {
        workflowId: params.id,
        what: `settlement ${params.id}`,
        decision: resolveInBulk.name,
        fields: body,
        principal,
        req,
      });
      return { status: 200, body: result };
    },
  });
}
