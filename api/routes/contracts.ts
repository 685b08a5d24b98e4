import type { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import type { Router } from 'express';
import { z } from 'zod';
import { getPartner, recordContractVersion } from '../../db/partners';
import { ConflictError, NotFoundError, ValidationError } from '../../domain/errors';
import { InvalidTermsError, validateTerms } from '../../domain/fees';
import { partnerIdSchema } from '../../domain/partner';
import type { ApiDeps } from '../deps';
import { mountRoute } from '../route';
import { errorResponses, jsonResponse } from '../schemas';

const minor = z.string().regex(/^\d{1,18}$/, 'minor units as a string of digits');
const rate = z.string().regex(/^(0|[1-9]\d*)(\.\d{1,12})?$/, 'an exact decimal rate such as "0.12"');

const termsSchema = z
  .object({
    base: z.enum(['ggr', 'ngr']),
    tiers: z
      .array(z.object({ upToMinor: minor.nullable(), rate }))
      .min(1)
      .max(20),
    tierMode: z.enum(['marginal', 'whole_volume']),
    minimumGuaranteeMinor: minor.default('0'),
    fixedFeeMinor: minor.default('0'),
    categoryRates: z.record(z.string().min(1).max(60), rate).default({}),
    negativeBase: z.enum(['carry_forward', 'floor']),
    jackpots: z.enum(['pass_through', 'exclude']),
    taxWithholdingRate: rate.default('0'),
    settlement: z
      .object({
        period: z.enum(['daily', 'weekly', 'monthly']).default('daily'),
        cutoffGraceMinutes: z
          .number()
          .int()
          .min(0)
          .max(7 * 24 * 60)
          .default(60),
        payoutApprovalThresholdMinor: minor.default('1000000'),
      })
      .strict()
      .default({ period: 'daily', cutoffGraceMinutes: 60, payoutApprovalThresholdMinor: '1000000' }),
  })
  .strict()
  .meta({ id: 'ContractTerms' });

export function contractRoutes(router: Router, registry: OpenAPIRegistry, deps: ApiDeps): void {
  const auth = { db: deps.db, operatorToken: deps.config.api.operatorToken };
  mountRoute(router, registry, auth, {
    method: 'put',
    path: '/v1/partners/{partnerId}/contracts/{version}',
    summary: 'Record a contract version (operator); versions are immutable once stored',
    description:
      'The version in force for a period is the latest `effectiveFrom` on or before its start. Re-sending the same version with the same content is a no-op; different content is a 409.',
    tags: ['partners'],
    auth: 'operator',
    params: z.object({ partnerId: partnerIdSchema, version: z.coerce.number().int().min(1).max(100_000) }),
    body: z
      .object({ effectiveFrom: z.iso.date(), terms: termsSchema })
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
        settlement: { period: 'monthly', cutoffGraceMinutes: 120, payoutApprovalThresholdMinor: '5000000' },
      },
    },
    responses: {
      200: jsonResponse(
        z.object({ partnerId: z.string(), version: z.number(), effectiveFrom: z.string() }),
        'Stored',
      ),
      ...errorResponses(400, 401, 403, 404, 409, 422),
    },
    handler: async ({ params, body }) => {
      if (!(await getPartner(deps.db, params.partnerId)))
        throw new NotFoundError(`partner ${params.partnerId} not found`);
      try {
        validateTerms({
          ...body.terms,
          minimumGuaranteeMinor: BigInt(body.terms.minimumGuaranteeMinor),
          fixedFeeMinor: BigInt(body.terms.fixedFeeMinor),
          tiers: body.terms.tiers.map((t) => ({
            upToMinor: t.upToMinor === null ? null : BigInt(t.upToMinor),
            rate: t.rate,
          })),
        });
      } catch (err) {
        if (err instanceof InvalidTermsError)
          throw new ValidationError(err.message, [
            {
              path: `terms.${err.message.split(':')[0]}`,
              message: err.message.split(': ').slice(1).join(': '),
            },
          ]);
        throw err;
      }
      const stored = await recordContractVersion(deps.db, {
        partnerId: params.partnerId,
        version: params.version,
        effectiveFrom: body.effectiveFrom,
        terms: body.terms,
      });
      if (!stored)
        throw new ConflictError(
          `version ${params.version} (or effective date ${body.effectiveFrom}) is already recorded with other content`,
          [{ path: 'params.version', message: 'versions are immutable' }],
        );
      return {
        status: 200,
        body: { partnerId: params.partnerId, version: params.version, effectiveFrom: body.effectiveFrom },
      };
    },
  });
}
