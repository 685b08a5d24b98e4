import type { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import type { Router } from 'express';
import { z } from 'zod';
import {
  existingCanonicalIds,
  getCanonicalGame,
  listCanonicalGames,
  listGameMappings,
  putCanonicalGame,
  putGameMappings,
} from '../../db/catalogue';
import { getPartner } from '../../db/partners';
import { rtpDaily, rtpFigures, rtpSettingsOf, utcDay, type RtpFigure } from '../../db/watch';
import { actorKey } from '../../domain/actors';
import type { RtpResult } from '../../domain/anomalies';
import { NotFoundError, ValidationError } from '../../domain/errors';
import { createCurrencyRegistry, formatAmount, type CurrencyRegistry } from '../../domain/money';
import { partnerIdSchema } from '../../domain/partner';
import { nonBlankText } from '../../domain/text';
import { providerId } from '../../domain/transactions';
import { operatorActor } from '../../platform/operators';
import { authDeps, type Principal } from '../auth';
import type { ApiDeps } from '../deps';
import { decodeCursor, nextCursorSchema, page, pageQuery } from '../paging';
import { mountRoute } from '../route';
import { errorResponses, jsonResponse } from '../schemas';

// The canonical game catalogue (maths-sheet figures, versioned; each partner's game ids mapped
// to it) and the RTP figures the watch judges (db/watch.ts): the console's RTP chart and the
// watch's rtp_drift alerts read the same function, so they cannot disagree.

/** At most this many mappings per request. */
const MAX_MAPPINGS_PER_REQUEST = 5_000;
/** A game's page lists at most this many of the partner game ids mapped to it. */
const MAX_MAPPINGS_SHOWN = 1_000;
const MAX_RTP_DAYS = 400;

/** The migration's rule for a canonical id. */
export const canonicalIdSchema = z
  .string()
  .regex(
    /^[a-z0-9][a-z0-9._-]{0,63}$/,
    'lowercase letters, digits, dot, underscore and dash; 1 to 64 characters',
  )
  .meta({ example: 'book-of-gold' });

/**
 * A fraction of 1 to `max` digits that is not all zeros, as a pattern without lookaheads (the
 * OpenAPI document states exactly what is accepted: no rule hides in a refinement).
 */
const nonZeroFraction = (max: number) =>
  Array.from({ length: max }, (_, zeros) => `0{${zeros}}[1-9]\\d{0,${max - zeros - 1}}`).join('|');
const FRACTION = nonZeroFraction(12);

const figuresShape = {
  theoreticalRtp: z
    .string()
    .regex(
      new RegExp(`^(?:1(?:\\.\\d{1,12})?|0\\.(?:${FRACTION}))$`),
      'a decimal string above 0 and below 2, e.g. "0.9612"',
    )
    .meta({
      description: "The maths sheet's return to player, jackpot contribution included",
      example: '0.9612',
    }),
  stdDev: z
    .string()
    .regex(
      new RegExp(`^(?:[1-9]\\d{0,3}(?:\\.\\d{1,12})?|0\\.(?:${FRACTION}))$`),
      'a decimal string above 0 and below 10000, e.g. "10.5"',
    )
    .meta({
      description: 'Standard deviation of the return per unit stake (the volatility)',
      example: '10.5',
    }),
  jackpotContributionRate: z
    .string()
    .regex(/^0(\.\d{1,12})?$/, 'a decimal string from 0 to below 1, e.g. "0.01"')
    .default('0')
    .meta({ description: 'The share of each stake paid into a jackpot pool (0 for none)', example: '0.01' }),
};

const gameBody = z
  .object({
    name: nonBlankText(200),
    studio: nonBlankText(200).optional(),
    ...figuresShape,
    source: nonBlankText(500)
      .optional()
      .meta({ description: 'Where the figures come from (the maths sheet, its version or certificate)' }),
  })
  .strict()
  .superRefine((b, ctx) => {
    // The contribution is part of the theoretical RTP (compared exactly, as decimals).
    // (zod runs this even when a field failed its own rule: compare only two valid figures.)
    const valid =
      figuresShape.theoreticalRtp.safeParse(b.theoreticalRtp).success &&
      figuresShape.jackpotContributionRate.safeParse(b.jackpotContributionRate).success;
    if (valid && compareDecimals(b.jackpotContributionRate, b.theoreticalRtp) >= 0)
      ctx.addIssue({
        code: 'custom',
        path: ['jackpotContributionRate'],
        message: 'must be below theoreticalRtp (the contribution is a part of it)',
      });
  })
  .meta({ id: 'CanonicalGameInput' });

/** Two non-negative decimal strings compared exactly. */
function compareDecimals(a: string, b: string): number {
  const [aw = '0', af = ''] = a.split('.');
  const [bw = '0', bf = ''] = b.split('.');
  const n = Math.max(af.length, bf.length);
  const x = BigInt(aw + af.padEnd(n, '0'));
  const y = BigInt(bw + bf.padEnd(n, '0'));
  return x < y ? -1 : x > y ? 1 : 0;
}

const versionSchema = z.object({
  version: z.number(),
  theoreticalRtp: z.string(),
  stdDev: z.string(),
  jackpotContributionRate: z.string(),
  source: z.string().nullable(),
  recordedBy: z.string(),
  recordedAt: z.string(),
});

const gameSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    studio: z.string().nullable(),
    createdAt: z.string(),
    latest: versionSchema,
    mappings: z.number().meta({ description: 'How many partner game ids map to it' }),
  })
  .meta({ id: 'CanonicalGame' });

const gameDetail = gameSchema
  .extend({
    versions: z.array(versionSchema).meta({ description: 'Every version, newest first' }),
    mapped: z
      .array(
        z.object({ partnerId: z.string(), gameId: z.string(), mappedBy: z.string(), mappedAt: z.string() }),
      )
      .meta({ description: `The partner game ids mapped to it (the first ${MAX_MAPPINGS_SHOWN})` }),
  })
  .meta({ id: 'CanonicalGameDetail' });

const mappingBody = z
  .object({
    mappings: z
      .array(
        z
          .object({
            gameId: providerId.meta({
              description: "The partner's own game id, as its transactions carry it",
            }),
            canonicalId: canonicalIdSchema.nullable().meta({ description: 'null removes the mapping' }),
          })
          .strict(),
      )
      .min(1)
      .max(MAX_MAPPINGS_PER_REQUEST),
  })
  .strict()
  .meta({ id: 'GameMappings' });

const mappingList = z.object({
  mappings: z.array(
    z.object({
      gameId: z.string(),
      canonicalId: z.string(),
      canonicalName: z.string(),
      mappedAt: z.string(),
    }),
  ),
  nextCursor: nextCursorSchema,
});
const mappingListForOperators = z
  .object({
    mappings: z.array(
      z.object({
        gameId: z.string(),
        canonicalId: z.string(),
        canonicalName: z.string(),
        mappedBy: z.string(),
        mappedAt: z.string(),
      }),
    ),
    nextCursor: nextCursorSchema,
  })
  .meta({ id: 'GameMappingList' });

const band = z.object({ low: z.number(), high: z.number() }).nullable();
const rtpVerdict = {
  observedRtp: z.number().nullable(),
  expectedRtp: z
    .number()
    .meta({ description: 'theoreticalRtp − jackpotContributionRate (jackpot wins are excluded)' }),
  standardError: z.number().nullable().meta({ description: 'σ·√Σb² / Σb' }),
  z: z.number().nullable(),
  band: band.meta({ description: 'expected ± z-threshold × SE: the confidence band' }),
  effectiveSpins: z.number().meta({ description: '(Σb)²/Σb²: stake-weighted spins' }),
  minimumEffectiveSpins: z
    .number()
    .meta({ description: 'max(WATCH_RTP_MIN_SPINS, 100·σ²): below it, no verdict' }),
  meaningful: z.boolean(),
  alert: z.boolean(),
  direction: z.enum(['above', 'below']).nullable(),
  explanation: z.string(),
};
const rtpRow = z.object({
  canonicalId: z.string(),
  name: z.string(),
  version: z.number(),
  theoreticalRtp: z.string(),
  stdDev: z.string(),
  jackpotContributionRate: z.string(),
  currency: z.string(),
  partnerId: z.string().nullable().meta({ description: 'null: across every partner offering the game' }),
  partners: z.number(),
  spins: z.number().meta({ description: 'Bets net of rolled-back bets' }),
  bets: z.string().meta({ description: 'Σ stakes net of rollbacks, major units' }),
  wins: z.string().meta({ description: 'Σ wins net of rollbacks, jackpot wins excluded, major units' }),
  ...rtpVerdict,
});
const rtpResponse = z
  .object({
    from: z.string(),
    to: z.string(),
    windowDays: z.number(),
    settings: z.object({ zThreshold: z.number(), minSpins: z.number(), cltFactor: z.number() }),
    games: z.array(
      rtpRow.extend({
        perPartner: z
          .array(rtpRow)
          .meta({ description: 'Partners whose own volume makes the test meaningful' }),
        perPartnerNotMeaningful: z
          .number()
          .meta({ description: 'Partners with too little volume for a verdict of their own' }),
      }),
    ),
  })
  .meta({ id: 'RtpFigures' });
const rtpDailyResponse = z
  .object({
    canonicalId: z.string(),
    name: z.string(),
    version: z.number(),
    theoreticalRtp: z.string(),
    stdDev: z.string(),
    jackpotContributionRate: z.string(),
    partnerId: z.string().nullable(),
    from: z.string(),
    to: z.string(),
    days: z.array(
      z.object({
        date: z.string(),
        currency: z.string(),
        partners: z.number(),
        spins: z.number(),
        bets: z.string(),
        wins: z.string(),
        ...rtpVerdict,
      }),
    ),
    query: z.string().meta({ description: 'The SQL that reproduces the daily sums' }),
  })
  .meta({ id: 'RtpDaily' });

const verdictOf = (r: RtpResult) => ({
  observedRtp: finite(r.observedRtp),
  expectedRtp: r.expectedRtp,
  standardError: finite(r.standardError),
  z: finite(r.z),
  band: r.band && Number.isFinite(r.band.low) && Number.isFinite(r.band.high) ? r.band : null,
  effectiveSpins: r.effectiveSpins,
  minimumEffectiveSpins: r.minimumEffectiveSpins,
  meaningful: r.meaningful,
  alert: r.alert,
  direction: r.direction,
  explanation: r.explanation,
});
const finite = (n: number | null) => (n !== null && Number.isFinite(n) ? n : null);

function operatorKeyOf(principal: Principal): { actor: string; name: string } {
  if (principal.kind !== 'operator') throw new Error('unreachable: an operator route');
  return { actor: actorKey(operatorActor(principal)), name: principal.name };
}

export function catalogueRoutes(router: Router, registry: OpenAPIRegistry, deps: ApiDeps): void {
  const auth = authDeps(deps.db, deps.config.api);
  const currencies: CurrencyRegistry = createCurrencyRegistry(deps.config.currencies.extraAssets);
  const money = (minor: bigint, currency: string) => formatAmount(minor, currencies.scaleOf(currency) ?? 0);

  mountRoute(router, registry, auth, {
    method: 'put',
    path: '/v1/canonical-games/{id}',
    summary:
      'Record a canonical game and its maths-sheet figures (admin); a new version only when they change',
    description:
      'Figures are decimal strings: theoreticalRtp above 0 and below 2, stdDev above 0, jackpotContributionRate from 0 ' +
      'to below 1 and below theoreticalRtp. Figures equal to the latest version (as numbers) add no version: the call ' +
      'is idempotent (`versionAdded: false`); name and studio are updated in place. Versions are never rewritten.',
    tags: ['catalogue'],
    auth: 'admin',
    params: z.object({ id: canonicalIdSchema }),
    body: gameBody,
    bodyExample: {
      name: 'Book of Gold',
      studio: 'Sunrise Studios',
      theoreticalRtp: '0.9612',
      stdDev: '10.5',
      jackpotContributionRate: '0',
      source: 'maths sheet v3, GLI certificate 2026-114',
    },
    responses: {
      200: jsonResponse(
        z.object({ game: gameSchema, created: z.literal(false), versionAdded: z.boolean() }),
        'Recorded (an existing game)',
      ),
      201: jsonResponse(
        z.object({ game: gameSchema, created: z.literal(true), versionAdded: z.literal(true) }),
        'Created with its first version',
      ),
      ...errorResponses(400, 401, 403, 422),
    },
    handler: async ({ params, body, principal }) => {
      const r = await putCanonicalGame(
        deps.db,
        {
          id: params.id,
          name: body.name,
          studio: body.studio ?? null,
          theoreticalRtp: body.theoreticalRtp,
          stdDev: body.stdDev,
          jackpotContributionRate: body.jackpotContributionRate,
          source: body.source,
        },
        operatorKeyOf(principal).actor,
      );
      return {
        status: r.created ? 201 : 200,
        body: { game: r.game, created: r.created, versionAdded: r.versionAdded },
      };
    },
  });

  const gameList = z
    .object({ games: z.array(gameSchema), nextCursor: nextCursorSchema })
    .meta({ id: 'CanonicalGameList' });
  mountRoute(router, registry, auth, {
    method: 'get',
    path: '/v1/canonical-games',
    summary: 'The canonical game catalogue, by id, each with its latest figures (operator)',
    tags: ['catalogue'],
    auth: 'viewer',
    query: z.object(pageQuery),
    responses: { 200: jsonResponse(gameList, 'Games') },
    handler: async ({ query }) => {
      const after = decodeCursor(query.cursor, canonicalIdSchema);
      const rows = await listCanonicalGames(deps.db, { after, limit: query.limit + 1 });
      const { items, nextCursor } = page(rows, query.limit, (g) => g.id);
      return { status: 200, body: { games: items, nextCursor } };
    },
  });

  mountRoute(router, registry, auth, {
    method: 'get',
    path: '/v1/canonical-games/{id}',
    summary:
      'A canonical game: every version of its figures and the partner game ids mapped to it (operator)',
    tags: ['catalogue'],
    auth: 'viewer',
    params: z.object({ id: canonicalIdSchema }),
    responses: { 200: jsonResponse(gameDetail, 'The game'), ...errorResponses(400, 401, 404) },
    handler: async ({ params }) => {
      const g = await getCanonicalGame(deps.db, params.id, MAX_MAPPINGS_SHOWN);
      if (!g)
        throw new NotFoundError(`canonical game ${params.id} not found`, [
          { path: 'params.id', message: 'not found' },
        ]);
      return { status: 200, body: g };
    },
  });

  mountRoute(router, registry, auth, {
    method: 'put',
    path: '/v1/partners/{partnerId}/game-mappings',
    summary: "Map the partner's game ids to canonical games (admin); other mappings unchanged",
    description:
      "Each of the partner's game ids maps to one canonical game; `canonicalId: null` removes a mapping. Every " +
      '`canonicalId` must exist in the catalogue (a 422 naming `mappings.<index>.canonicalId` otherwise), and a game id ' +
      'may appear once per request. Idempotent: mapping a game to the canonical game it maps to changes nothing.',
    tags: ['catalogue'],
    auth: 'admin',
    params: z.object({ partnerId: partnerIdSchema }),
    body: mappingBody,
    bodyExample: { mappings: [{ gameId: 'bog-eu', canonicalId: 'book-of-gold' }] },
    responses: {
      200: jsonResponse(
        z.object({
          partnerId: z.string(),
          mapped: z.number().meta({ description: 'Mappings created or changed' }),
          unmapped: z.number().meta({ description: 'Mappings removed' }),
          unchanged: z.number(),
        }),
        'Stored',
      ),
      ...errorResponses(400, 401, 403, 404, 422),
    },
    handler: async ({ params, body, principal }) => {
      if (!(await getPartner(deps.db, params.partnerId)))
        throw new NotFoundError(`partner ${params.partnerId} not found`, [
          { path: 'params.partnerId', message: 'not found' },
        ]);
      const seen = new Map<string, number>();
      body.mappings.forEach((m, i) => {
        if (seen.has(m.gameId))
          throw new ValidationError(`game ${m.gameId} is listed twice`, [
            { path: `mappings.${i}.gameId`, message: `listed twice (also mappings.${seen.get(m.gameId)})` },
          ]);
        seen.set(m.gameId, i);
      });
      const wanted = body.mappings.flatMap((m) => (m.canonicalId === null ? [] : [m.canonicalId]));
      const known = await existingCanonicalIds(deps.db, wanted);
      const unknown = body.mappings.flatMap((m, i) =>
        m.canonicalId !== null && !known.has(m.canonicalId)
          ? [{ path: `mappings.${i}.canonicalId`, message: `no canonical game ${m.canonicalId}` }]
          : [],
      );
      if (unknown.length > 0)
        throw new ValidationError(
          `${unknown.length} mapping(s) name a canonical game the catalogue does not hold`,
          unknown,
        );
      const r = await putGameMappings(
        deps.db,
        params.partnerId,
        body.mappings,
        operatorKeyOf(principal).actor,
      );
      return {
        status: 200,
        body: {
          partnerId: params.partnerId,
          mapped: r.mapped,
          unmapped: r.unmapped,
          unchanged: body.mappings.length - r.mapped - r.unmapped,
        },
      };
    },
  });

  mountRoute(router, registry, auth, {
    method: 'get',
    path: '/v1/partners/{partnerId}/game-mappings',
    summary: "The partner's game ids mapped to canonical games (a partner sees its own)",
    tags: ['catalogue'],
    auth: 'any',
    partnerView: mappingList,
    params: z.object({ partnerId: partnerIdSchema }),
    query: z.object(pageQuery),
    responses: {
      200: jsonResponse(mappingListForOperators, 'Mappings, by game id'),
      ...errorResponses(400, 401, 404),
    },
    handler: async ({ params, query, principal }) => {
      const own =
        principal.kind === 'operator' ||
        (principal.kind === 'partner' && principal.partnerId === params.partnerId);
      if (!own || !(await getPartner(deps.db, params.partnerId)))
        throw new NotFoundError(`partner ${params.partnerId} not found`, [
          { path: 'params.partnerId', message: 'not found' },
        ]);
      const after = decodeCursor(query.cursor, z.string());
      const rows = await listGameMappings(deps.db, params.partnerId, { after, limit: query.limit + 1 });
      const { items, nextCursor } = page(rows, query.limit, (m) => m.gameId);
      return { status: 200, body: { mappings: items, nextCursor } };
    },
  });

  // RTP: the figures behind the watch's rtp_drift alerts, for the console and for regulators'
  // live RTP monitoring (observed against theoretical with its confidence band, per game).
  const rtpRowOf = (f: RtpFigure) => ({
    canonicalId: f.canonicalId,
    name: f.name,
    version: f.version,
    ...f.maths,
    currency: f.currency,
    partnerId: f.partnerId,
    partners: f.partners,
    spins: f.spins,
    bets: money(f.betMinor, f.currency),
    wins: money(f.winMinor, f.currency),
    ...verdictOf(f.result),
  });
  const asOfDay = z.iso.date().optional().meta({
    description: 'The last business day of the window (default: today, UTC)',
    example: '2026-11-30',
  });

  mountRoute(router, registry, auth, {
    method: 'get',
    path: '/v1/insights/rtp',
    summary: 'Observed RTP per canonical game against its theoretical RTP and confidence band (operator)',
    description:
      'Over a rolling window of business days: observed RTP = Σwin / Σbet (rollbacks netted, jackpot wins excluded, ' +
      'compared with theoreticalRtp − jackpotContributionRate), SE = σ·√Σb² / Σb, z = (observed − expected) / SE. A ' +
      'verdict needs max(WATCH_RTP_MIN_SPINS, 100·σ²) stake-weighted spins; an alert is |z| above WATCH_RTP_Z. One ' +
      'row per game and currency across every partner offering it, with the partners whose own volume allows a ' +
      'verdict. The watch raises its rtp_drift alerts from these very figures.',
    tags: ['insights'],
    auth: 'viewer',
    query: z.object({
      windowDays: z.coerce.number().int().min(1).max(MAX_RTP_DAYS).optional().meta({
        description: 'Days in the window (default WATCH_RTP_WINDOW_DAYS)',
      }),
      asOf: asOfDay,
      canonicalId: canonicalIdSchema.optional(),
      partnerId: partnerIdSchema.optional(),
    }),
    responses: { 200: jsonResponse(rtpResponse, 'RTP figures'), ...errorResponses(400, 401) },
    handler: async ({ query }) => {
      const windowDays = query.windowDays ?? deps.config.watch.rtp.windowDays;
      const settings = rtpSettingsOf(deps.config);
      const { from, to, figures } = await rtpFigures(
        deps.db,
        { asOf: query.asOf ?? utcDay(new Date()), windowDays, settings },
        { canonicalId: query.canonicalId, partnerId: query.partnerId },
      );
      const games = figures
        .filter((f) => f.partnerId === null)
        .map((g) => {
          const partners = figures.filter(
            (f) => f.partnerId !== null && f.canonicalId === g.canonicalId && f.currency === g.currency,
          );
          const shown = partners.filter((f) => f.result.meaningful || query.partnerId !== undefined);
          return {
            ...rtpRowOf(g),
            perPartner: shown.map(rtpRowOf),
            perPartnerNotMeaningful: partners.length - shown.length,
          };
        });
      return { status: 200, body: { from, to, windowDays, settings, games } };
    },
  });

  mountRoute(router, registry, auth, {
    method: 'get',
    path: '/v1/insights/rtp/{canonicalId}/daily',
    summary:
      "A canonical game's observed RTP per business day with each day's band (operator; the RTP chart)",
    description:
      'Each day judged on its own volume (a day rarely has enough for a verdict: its band is wide). Across every ' +
      'partner offering the game, or one partner.',
    tags: ['insights'],
    auth: 'viewer',
    params: z.object({ canonicalId: canonicalIdSchema }),
    query: z.object({
      days: z.coerce.number().int().min(1).max(MAX_RTP_DAYS).default(30),
      asOf: asOfDay,
      partnerId: partnerIdSchema.optional(),
    }),
    responses: { 200: jsonResponse(rtpDailyResponse, 'Daily RTP'), ...errorResponses(400, 401, 404) },
    handler: async ({ params, query }) => {
      const r = await rtpDaily(
        deps.db,
        params.canonicalId,
        {
          asOf: query.asOf ?? utcDay(new Date()),
          windowDays: query.days,
          settings: rtpSettingsOf(deps.config),
        },
        query.partnerId,
      );
      if (!r)
        throw new NotFoundError(`canonical game ${params.canonicalId} not found`, [
          { path: 'params.canonicalId', message: 'not found' },
        ]);
      return {
        status: 200,
        body: {
          canonicalId: params.canonicalId,
          name: r.game.name,
          version: r.game.version,
          ...r.game.maths,
          partnerId: query.partnerId ?? null,
          from: r.from,
          to: r.to,
          days: r.days.map((d) => ({
            date: d.date,
            currency: d.currency,
            partners: d.partners,
            spins: d.spins,
            bets: money(d.betMinor, d.currency),
            wins: money(d.winMinor, d.currency),
            ...verdictOf(d.result),
          })),
          query: r.query,
        },
      };
    },
  });
}
