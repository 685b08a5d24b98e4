import type { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import type { Router } from 'express';
import { z } from 'zod';
import { getPartner, recordContractVersion } from '../../db/partners';
import { checkContractTerms, contractTermsSchema } from '../../domain/contract';
import { ConflictError, NotFoundError } from '../../domain/errors';
import { partnerIdSchema } from '../../domain/partner';
import type { ApiDeps } from '../deps';
import { mountRoute } from '../route';
import { errorResponses, jsonResponse } from '../schemas';
import { authDeps } from '../auth';

export function contractRoutes(router: Router, registry: OpenAPIRegistry, deps: ApiDeps): void {
  const auth = authDeps(deps.db, deps.config.api);
  mountRoute(router, registry, auth, {
    method: 'put',
    path: '/v1/partners/{partnerId}/contracts/{version}',
    summary: 'Record a contract version (operator); versions are immutable once stored',
    description:
      'The version in force for a period is the latest `effectiveFrom` on or before its start. Re-sending the same version with the same content is a no-op; different content is a 409.',
    tags: ['partners'],
    auth: 'admin',
    params: z.object({ partnerId: partnerIdSchema, version: z.coerce.number().int().min(1).max(100_000) }),
    body: z
      .object({ effectiveFrom: z.iso.date(), terms: contractTermsSchema })
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
        z.object({ partnerId: z.string(), version: z.number(), effectiveFrom: z.string() }),
        'Stored',
      ),
      ...errorResponses(400, 401, 403, 404, 409, 422),
    },
    handler: async ({ params, body }) => {
      if (!(await getPartner(deps.db, params.partnerId)))
        throw new NotFoundError(`partner ${params.partnerId} not found`);
      // The fee engine's own rules (rising tiers, rates ≤ 100 %), with the field named.
      checkContractTerms(body.terms);
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
