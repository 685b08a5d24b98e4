import type { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import type { Router } from 'express';
import { z } from 'zod';
import { listGames, upsertGames } from '../../db/accruals';
import { getPartner } from '../../db/partners';
import { gameCategorySchema } from '../../domain/contract';
import { NotFoundError, ValidationError } from '../../domain/errors';
import { partnerIdSchema } from '../../domain/partner';
import { providerId } from '../../domain/transactions';
import type { ApiDeps } from '../deps';
import { decodeCursor, nextCursorSchema, page, pageQuery } from '../paging';
import { mountRoute } from '../route';
import { errorResponses, jsonResponse } from '../schemas';
import { authDeps } from '../auth';

/** At most this many games per request (a catalogue is sent in pages of this size). */
const MAX_GAMES_PER_REQUEST = 5_000;

const game = z
  .object({
    gameId: providerId.meta({ description: 'The game id as transactions carry it' }),
    category: gameCategorySchema,
    name: z
      .string()
      .min(1)
      .max(200)
      // eslint-disable-next-line no-control-regex -- the control characters are what it refuses
      .regex(/^[^\x00-\x1f\x7f-\x9f]+$/, 'no control characters')
      .optional(),
  })
  .strict()
  .meta({ id: 'CatalogueGame' });

// The partner's game catalogue: which category each game is in, for the contract's category
// rates. The fee step freezes each game's category with the period's sources.
export function gameRoutes(router: Router, registry: OpenAPIRegistry, deps: ApiDeps): void {
  const auth = authDeps(deps.db, deps.config.api);
  mountRoute(router, registry, auth, {
    method: 'put',
    path: '/v1/partners/{partnerId}/games',
    summary: "Set the category of the partner's games (operator); idempotent, other games unchanged",
    description:
      "Categories (slots, live, table, crash…) are the keys of the contract's `categoryRates`. A period already settled keeps the categories it was settled with.",
    tags: ['partners'],
    auth: 'admin',
    params: z.object({ partnerId: partnerIdSchema }),
    body: z
      .object({ games: z.array(game).min(1).max(MAX_GAMES_PER_REQUEST) })
      .strict()
      .meta({ id: 'GameCatalogue' }),
    bodyExample: {
      games: [
        { gameId: 'book-of-gold', category: 'slots', name: 'Book of Gold' },
        { gameId: 'vip-roulette', category: 'live' },
      ],
    },
    responses: {
      200: jsonResponse(z.object({ partnerId: z.string(), games: z.number() }), 'Stored'),
      ...errorResponses(400, 401, 403, 404, 422),
    },
    handler: async ({ params, body }) => {
      if (!(await getPartner(deps.db, params.partnerId)))
        throw new NotFoundError(`partner ${params.partnerId} not found`);
      const seen = new Set<string>();
      body.games.forEach((g, i) => {
        if (seen.has(g.gameId))
          throw new ValidationError(`game ${g.gameId} is listed twice`, [
            { path: `games.${i}.gameId`, message: 'listed twice' },
          ]);
        seen.add(g.gameId);
      });
      await upsertGames(deps.db, params.partnerId, body.games);
      return { status: 200, body: { partnerId: params.partnerId, games: body.games.length } };
    },
  });

  const gameList = z.object({
    games: z.array(z.object({ gameId: z.string(), category: z.string(), name: z.string().nullable() })),
    nextCursor: nextCursorSchema,
  });
  mountRoute(router, registry, auth, {
    method: 'get',
    path: '/v1/partners/{partnerId}/games',
    summary: "The partner's game catalogue (a partner sees its own)",
    tags: ['partners'],
    auth: 'any',
    partnerView: gameList,
    params: z.object({ partnerId: partnerIdSchema }),
    query: z.object(pageQuery),
    responses: {
      200: jsonResponse(gameList, 'Games, by id'),
      ...errorResponses(400, 401, 404),
    },
    handler: async ({ params, query, principal }) => {
      const own =
        principal.kind === 'operator' ||
        (principal.kind === 'partner' && principal.partnerId === params.partnerId);
      if (!own || !(await getPartner(deps.db, params.partnerId)))
        throw new NotFoundError(`partner ${params.partnerId} not found`);
      const after = decodeCursor(query.cursor, z.string());
      const rows = await listGames(deps.db, params.partnerId, { limit: query.limit + 1, after });
      const { items, nextCursor } = page(rows, query.limit, (g) => g.gameId);
      return { status: 200, body: { games: items, nextCursor } };
    },
  });
}
