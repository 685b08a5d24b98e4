import type { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import type { Router } from 'express';
import { z } from 'zod';
import type { PoolClient } from 'pg';
import { bigWinRates, holdBigWins } from '../../db/held-wins';
import type { ReferenceRate } from '../../db/fx-reference';
import { ingestBatch } from '../../db/ingest';
import { effectiveBigWinSettings } from '../../db/watch';
import { positionCounters, readPositions, readTransaction } from '../../db/positions';
import { ConflictError, NotFoundError, ValidationError } from '../../domain/errors';
import { formatAmount, type CurrencyRegistry } from '../../domain/money';
import { partnerIdSchema } from '../../domain/partner';
import {
  fastParseBatch,
  MAX_BATCH_ITEMS,
  normalizeBatch,
  providerId,
  transactionBatchSchemaFor,
} from '../../domain/transactions';
import type { Principal } from '../auth';
import type { ApiDeps } from '../deps';
import { mountRoute } from '../route';
import { errorResponses, jsonResponse } from '../schemas';
import { authDeps } from '../auth';

/** The longest range of positions one read returns. */
export const MAX_POSITION_DAYS = 366;

const ingestResultSchema = z
  .object({
    batchId: z.string(),
    received: z.number().int().meta({ description: 'Items in the request.' }),
    accepted: z.number().int().meta({ description: 'New transactions stored by this batch.' }),
    duplicates: z.number().int().meta({
      description:
        'Exact duplicates (same id and content), in this batch or received earlier: acknowledged, not stored twice.',
    }),
    orphanRollbacks: z
      .number()
      .int()
      .meta({ description: 'Rollbacks whose original has not arrived yet (kept and flagged).' }),
    resolvedOrphanRollbacks: z
      .number()
      .int()
      .meta({ description: 'Earlier orphan rollbacks whose original arrived in this batch.' }),
    ledgerEntries: z
      .number()
      .int()
      .meta({ description: "Ledger entries accruing the batch's GGR (one per currency and business day)." }),
  })
  .meta({ id: 'IngestResult' });

/** A stored transaction as the API answers it (reused by the drill-down lists: one shape). */
export const transactionSchema = z
  .object({
    id: z.string(),
    type: z.string(),
    roundId: z.string(),
    playerId: z.string(),
    gameId: z.string(),
    amount: z.string(),
    currency: z.string(),
    occurredAt: z.string(),
    businessDate: z.string().meta({ description: "In the partner's timezone." }),
    refId: z.string().nullable(),
    orphan: z.boolean().meta({ description: 'A rollback whose original has not arrived.' }),
    reason: z.string().nullable(),
    batchId: z.string(),
    receivedAt: z.string(),
  })
  .meta({ id: 'StoredTransaction' });

const amountFields = Object.fromEntries(
  positionCounters.flatMap((c) => [
    [`${camel(c)}Count`, z.string()],
    [`${camel(c)}Amount`, z.string()],
  ]),
);
const positionSchema = z
  .object({
    businessDate: z.string(),
    currency: z.string(),
    gameId: z.string(),
    txCount: z.string(),
    ...amountFields,
    ggr: z.string(),
  })
  .meta({
    id: 'Position',
    description: 'Counts and amounts (decimal strings) per type; GGR = bets − wins after rollbacks.',
  });

const day = z.iso.date();
const positionsQuery = z
  .object({
    from: day.meta({ example: '2026-11-01' }),
    to: day.meta({ example: '2026-11-30' }),
    currency: z
      .string()
      .regex(/^[A-Z][A-Z0-9]{2,9}$/)
      .optional(),
  })
  .refine((q) => q.from <= q.to, { path: ['to'], message: 'must not be before from' })
  .refine((q) => (Date.parse(q.to) - Date.parse(q.from)) / 86_400_000 < MAX_POSITION_DAYS, {
    path: ['to'],
    message: `range is limited to ${MAX_POSITION_DAYS} days`,
  });

function camel(s: string): string {
  return s.replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase());
}

const partnerOf = (principal: Principal): string => {
  if (principal.kind !== 'partner') throw new Error('unreachable: route requires a partner');
  return principal.partnerId;
};

/** Operators read any partner; a partner only itself (another's id is indistinguishable from none). */
function visiblePartner(principal: Principal, partnerId: string): string {
  if (principal.kind === 'partner' && principal.partnerId !== partnerId)
    throw new NotFoundError(`partner ${partnerId} not found`, [
      { path: 'params.partnerId', message: 'not found' },
    ]);
  return partnerId;
}

export function transactionRoutes(
  router: Router,
  registry: OpenAPIRegistry,
  deps: ApiDeps,
  currencies: CurrencyRegistry,
): void {
  const auth = authDeps(deps.db, deps.config.api);
  // Each partner's big-win limits, read at most every 30 s per partner: a change of its watch
  // settings (or of the defaults) applies to batches from then on.
  const bigWinLimits = ttlCache(30_000, (partnerId: string) =>
    effectiveBigWinSettings(deps.db, deps.config, partnerId, currencies),
  );
  // The latest reference rate of a pair (`FROM/TO`), read at most every 30 s.
  const referenceRateCache = ttlCache(30_000, (pair: string) => {
    const [from, to] = pair.split('/') as [string, string];
    return bigWinRates(deps.db, [from], to, new Date().toISOString().slice(0, 10));
  });

  mountRoute(router, registry, auth, {
    method: 'post',
    path: '/v1/transactions',
    summary: 'Push a batch of game transactions (partner)',
    description:
      `Atomic: the whole batch is stored or nothing is. At most ${MAX_BATCH_ITEMS} items and ` +
      `${deps.config.api.bodyLimitBytes} bytes. The partner is the one behind the API key, never the body. ` +
      'Exact duplicates (same id and content, here or earlier) are acknowledged and counted; conflicting ' +
      'duplicates (same id, different content) → 409 listing the ids; invalid items → 422 naming each ' +
      '`transactions.<index>.<field>`; a replayed `batchId` returns the first response. Business dates use the ' +
      "partner's timezone.",
    tags: ['transactions'],
    auth: 'partner',
    partnerView: ingestResultSchema,
    body: transactionBatchSchemaFor(currencies),
    fastBody: (raw) => fastParseBatch(raw, currencies),
    bodyExample: {
      batchId: 'batch-2026-11-23-0001',
      transactions: [
        {
          id: 'tx-1',
          type: 'bet',
          roundId: 'r-1',
          playerId: 'p-42',
          gameId: 'book-of-sun',
          amount: '10.00',
          currency: 'EUR',
          occurredAt: '2026-11-23T21:15:00Z',
        },
        {
          id: 'tx-2',
          type: 'win',
          roundId: 'r-1',
          playerId: 'p-42',
          gameId: 'book-of-sun',
          amount: '25.50',
          currency: 'EUR',
          occurredAt: '2026-11-23T21:15:02Z',
        },
        {
          id: 'tx-3',
          type: 'rollback',
          roundId: 'r-1',
          playerId: 'p-42',
          gameId: 'book-of-sun',
          amount: '25.50',
          currency: 'EUR',
          occurredAt: '2026-11-23T21:16:00Z',
          refId: 'tx-2',
        },
      ],
    },
    responses: {
      200: jsonResponse(ingestResultSchema, 'Batch stored (or replayed)'),
      ...errorResponses(400, 401, 403, 409, 413, 422),
    },
    handler: async ({ body, principal }) => {
      const partnerId = partnerOf(principal);
      const normalized = normalizeBatch(body, currencies);
      if (!normalized.ok) {
        if (normalized.kind === 'invalid')
          throw new ValidationError(
            `${normalized.details.length} invalid field(s) in the batch`,
            normalized.details,
          );
        throw new ConflictError(
          `${normalized.ids.length} transaction id(s) appear twice in this batch with different content; nothing was stored`,
          normalized.ids.map((id) => ({
            path: `transactions[id=${id}]`,
            message: 'conflicting duplicate within the batch',
          })),
        );
      }
      const batch = normalized.batch;
      const wins: { txId: string; roundId: string; currency: string; amountMinor: bigint }[] = [];
      const batchBets = new Map<string, bigint>();
      const rolledBack = new Set<string>();
      batch.types.forEach((type, i) => {
        if (type === 'win' || type === 'bonus_win')
          wins.push({
            txId: batch.ids[i]!,
            roundId: batch.rounds[i]!,
            currency: batch.currencies[i]!,
            amountMinor: BigInt(batch.amountsMinor[i]!),
          });
        else if (type === 'bet' || type === 'bonus_bet') {
          const key = `${batch.rounds[i]!}\u0000${batch.currencies[i]!}`;
          batchBets.set(key, (batchBets.get(key) ?? 0n) + BigInt(batch.amountsMinor[i]!));
        } else if (type === 'rollback') rolledBack.add(`${batch.rounds[i]!}\u0000${batch.currencies[i]!}`);
      });
      // A round with a rollback in the batch is not cleared by the batch's bets: it is looked up.
      for (const key of rolledBack) batchBets.delete(key);
      // Big wins are held in the batch's own transaction (db/held-wins.ts); the partner's limits
      // are read before it begins, so the transaction never waits for a second connection.
      const limits = wins.length === 0 ? null : await bigWinLimits.get(partnerId);
      const rates = new Map<string, ReferenceRate>();
      if (limits)
        for (const currency of new Set(wins.map((w) => w.currency)))
          if (currency !== limits.settlementCurrency)
            for (const [pair, rate] of await referenceRateCache.get(
              `${currency}/${limits.settlementCurrency}`,
            ))
              rates.set(pair, rate);
      const hold =
        limits === null
          ? undefined
          : (client: PoolClient) =>
              holdBigWins(client, partnerId, wins, batchBets, limits, currencies, rates).then(
                () => undefined,
              );
      return { status: 200, body: await ingestBatch(deps.db, partnerId, batch, hold) };
    },
  });

  const readOne = async (partnerId: string, id: string) => {
    const t = await readTransaction(deps.db, partnerId, id);
    if (!t)
      throw new NotFoundError(`transaction ${id} not found`, [{ path: 'params.id', message: 'not found' }]);
    const scale = currencies.requireScale(t.currency);
    return {
      id: t.tx_id,
      type: t.type,
      roundId: t.round_id,
      playerId: t.player_id,
      gameId: t.game_id,
      amount: formatAmount(BigInt(t.amount_minor), scale),
      currency: t.currency,
      occurredAt: t.occurred_at.toISOString(),
      businessDate: t.business_date,
      refId: t.ref_id,
      orphan: t.type === 'rollback' && t.ref_type === null,
      reason: t.reason,
      batchId: t.batch_id,
      receivedAt: t.received_at.toISOString(),
    };
  };

  const positionsOf = async (partnerId: string, query: z.infer<typeof positionsQuery>) => {
    const rows = await readPositions(deps.db, {
      partnerId,
      from: query.from,
      to: query.to,
      ...(query.currency ? { currency: query.currency } : {}),
    });
    const positions = rows.map((r) => {
      const scale = currencies.requireScale(r.currency);
      const out: Record<string, string> = {
        businessDate: r.business_date,
        currency: r.currency,
        gameId: r.game_id,
        txCount: r.tx_count!,
      };
      for (const c of positionCounters) {
        out[`${camel(c)}Count`] = r[`${c}_count`]!;
        out[`${camel(c)}Amount`] = formatAmount(BigInt(r[`${c}_minor`]!), scale);
      }
      out.ggr = formatAmount(BigInt(r.ggr_minor!), scale);
      return out;
    });
    return { partnerId, from: query.from, to: query.to, positions };
  };

  // A partner reads its own transactions and positions without naming itself; an operator
  // names the partner in the path (below). One route per audience keeps every parameter
  // unconditional: nothing is "required for operators only".
  mountRoute(router, registry, auth, {
    method: 'get',
    path: '/v1/transactions/{id}',
    summary: 'Read one of your stored transactions (partner)',
    tags: ['transactions'],
    auth: 'partner',
    partnerView: transactionSchema,
    params: z.object({ id: providerId }),
    responses: { 200: jsonResponse(transactionSchema, 'The transaction'), ...errorResponses(404) },
    handler: async ({ params, principal }) => ({
      status: 200,
      body: await readOne(partnerOf(principal), params.id),
    }),
  });

  mountRoute(router, registry, auth, {
    method: 'get',
    path: '/v1/partners/{partnerId}/transactions/{id}',
    summary: "Read one of a partner's stored transactions (operator, or the partner itself)",
    tags: ['transactions'],
    auth: 'any',
    partnerView: transactionSchema,
    params: z.object({ partnerId: partnerIdSchema, id: providerId }),
    responses: { 200: jsonResponse(transactionSchema, 'The transaction'), ...errorResponses(404) },
    handler: async ({ params, principal }) => ({
      status: 200,
      body: await readOne(visiblePartner(principal, params.partnerId), params.id),
    }),
  });

  const positionsResponse = z
    .object({
      partnerId: z.string(),
      from: z.string(),
      to: z.string(),
      positions: z.array(positionSchema),
    })
    .meta({ id: 'Positions' });
  const positionsDescription =
    'Maintained in the same database transaction as each batch, so it is current as soon as a batch is ' +
    `acknowledged. \`to\` is on or after \`from\`, at most ${MAX_POSITION_DAYS} days later (a 400 otherwise).`;

  mountRoute(router, registry, auth, {
    method: 'get',
    path: '/v1/positions',
    summary: 'Your real-time position per business day, currency and game (partner)',
    description: positionsDescription,
    tags: ['transactions'],
    auth: 'partner',
    partnerView: positionsResponse,
    query: positionsQuery,
    responses: { 200: jsonResponse(positionsResponse, 'Positions') },
    handler: async ({ query, principal }) => ({
      status: 200,
      body: await positionsOf(partnerOf(principal), query),
    }),
  });

  mountRoute(router, registry, auth, {
    method: 'get',
    path: '/v1/partners/{partnerId}/positions',
    summary:
      "A partner's real-time position per business day, currency and game (operator, or the partner itself)",
    description: positionsDescription,
    tags: ['transactions'],
    auth: 'any',
    partnerView: positionsResponse,
    params: z.object({ partnerId: partnerIdSchema }),
    query: positionsQuery,
    responses: { 200: jsonResponse(positionsResponse, 'Positions'), ...errorResponses(404) },
    handler: async ({ params, query, principal }) => ({
      status: 200,
      body: await positionsOf(visiblePartner(principal, params.partnerId), query),
    }),
  });
}

/** A value per key, computed at most once per `ttlMs` (a failed computation is not kept). */
function ttlCache<T>(
  ttlMs: number,
  compute: (key: string) => Promise<T>,
): { get: (key: string) => Promise<T> } {
  const entries = new Map<string, { at: number; value: Promise<T> }>();
  return {
    get(key) {
      const now = Date.now();
      const hit = entries.get(key);
      if (hit && now - hit.at < ttlMs) return hit.value;
      const value = compute(key);
      entries.set(key, { at: now, value });
      // A failure is not kept (unless a newer computation has replaced it since).
      value.catch(() => {
        if (entries.get(key)?.value === value) entries.delete(key);
      });
      return value;
    },
  };
}
