import { z } from 'zod';
import type { ErrorDetail } from './errors';
import { defaultCurrencies, parseAmount, type CurrencyRegistry } from './money';
import { currencyCodeSchema } from './partner';

/** Limits of one ingest batch (named, documented in the OpenAPI spec). */
export const MAX_BATCH_ITEMS = 10_000;
export const MAX_BATCH_BYTES = 8 * 1024 * 1024;
export const MAX_ID_LENGTH = 128;

export const transactionTypes = [
  'bet',
  'win',
  'rollback',
  'jackpot_contribution',
  'jackpot_win',
  'bonus_bet',
  'bonus_win',
  'adjustment',
] as const;
export type TransactionType = (typeof transactionTypes)[number];

export const providerId = z
  .string()
  .min(1)
  .max(MAX_ID_LENGTH)
  .regex(/^[\x21-\x7e]+$/, 'printable ASCII without spaces');

// RFC 3339 with an explicit offset (Z or ±hh:mm); a local time without offset is ambiguous.
const MIN_YEAR = 1970;
const MAX_YEAR = 2999;
const rfc3339 = z.iso
  .datetime({ offset: true, message: 'must be an RFC 3339 timestamp with offset, e.g. 2026-11-23T21:15:00Z' })
  .refine((v) => {
    const year = new Date(v).getUTCFullYear();
    return year >= MIN_YEAR && year <= MAX_YEAR;
  }, `must be between ${MIN_YEAR} and ${MAX_YEAR}`);

export const transactionItemSchema = z
  .object({
    id: providerId.meta({ example: 'tx-000123' }),
    type: z.enum(transactionTypes),
    roundId: providerId.meta({ example: 'round-77' }),
    playerId: providerId.meta({ example: 'player-42' }),
    gameId: providerId.meta({ example: 'book-of-sun' }),
    amount: z.string().meta({
      description:
        'Decimal string in the currency\'s scale, e.g. "12.34" (JSON numbers are rejected). Negative only for adjustments.',
      example: '12.50',
    }),
    currency: currencyCodeSchema.meta({ example: 'EUR' }),
    occurredAt: rfc3339.meta({ example: '2026-11-23T21:15:00Z' }),
    refId: providerId
      .optional()
      .meta({ description: 'For a rollback: the id of the bet or win it cancels.' }),
    reason: z.string().max(500).optional().meta({ description: 'For an adjustment: why.' }),
  })
  .strict()
  .meta({ id: 'GameTransaction' });

export const transactionBatchSchema = z
  .object({
    batchId: providerId.meta({
      description: 'Unique per partner; a replay returns the first response.',
      example: 'batch-2026-11-23-0001',
    }),
    transactions: z.array(transactionItemSchema).min(1).max(MAX_BATCH_ITEMS),
  })
  .strict()
  .meta({ id: 'TransactionBatch' });

export type TransactionItem = z.infer<typeof transactionItemSchema>;
export type TransactionBatch = z.infer<typeof transactionBatchSchema>;

/** A validated batch as the database receives it: parallel columns, amounts in minor units. */
export interface NormalizedBatch {
  batchId: string;
  received: number;
  /** One entry per distinct id (exact in-batch duplicates dropped). */
  ids: string[];
  types: TransactionType[];
  rounds: string[];
  players: string[];
  games: string[];
  amountsMinor: string[];
  currencies: string[];
  occurredAt: string[];
  refs: (string | null)[];
  /** For a rollback whose original is in this batch: the original's type (saves a lookup). */
  refTypes: (TransactionType | null)[];
  reasons: (string | null)[];
  /** Canonical lines of every item in order, for the batch's request hash. */
  canonical: string[];
}

export type NormalizeResult =
  | { ok: true; batch: NormalizedBatch }
  | { ok: false; kind: 'invalid'; details: ErrorDetail[] }
  | { ok: false; kind: 'conflict'; ids: string[] };

const ITEM_KEYS = new Set([
  'id',
  'type',
  'roundId',
  'playerId',
  'gameId',
  'amount',
  'currency',
  'occurredAt',
  'refId',
  'reason',
]);
const TYPES = new Set<string>(transactionTypes);
const PROVIDER_ID = /^[\x21-\x7e]{1,128}$/;
const CURRENCY = /^[A-Z][A-Z0-9]{2,9}$/;
// Canonical UTC with calendar-valid ranges checked below, years 1970–2999.
const FAST_INSTANT =
  /^(19[7-9]\d|2\d{3})-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])T([01]\d|2[0-3]):[0-5]\d:[0-5]\d\.\d{3}Z$/;

/**
 * The hot path of ingest: accepts a batch that is plainly valid without building zod's
 * output copies (half the API's CPU went to validation and its garbage). Anything unusual
 * returns null and the caller validates with the zod schema, which stays the one source of
 * truth for what is valid and for the error details. A property test holds the two together:
 * whatever this accepts, the schema accepts with the same result.
 */
export function fastParseBatch(body: unknown): TransactionBatch | null {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return null;
  const b = body as Record<string, unknown>;
  const keys = Object.keys(b);
  if (keys.length !== 2 || typeof b.batchId !== 'string' || !PROVIDER_ID.test(b.batchId)) return null;
  const txs = b.transactions;
  if (!Array.isArray(txs) || txs.length < 1 || txs.length > MAX_BATCH_ITEMS) return null;
  for (const t of txs as unknown[]) {
    if (typeof t !== 'object' || t === null || Array.isArray(t)) return null;
    const o = t as Record<string, unknown>;
    for (const k in o) if (!ITEM_KEYS.has(k) || o[k] === undefined) return null;
    if (
      typeof o.id !== 'string' ||
      !PROVIDER_ID.test(o.id) ||
      typeof o.type !== 'string' ||
      !TYPES.has(o.type) ||
      typeof o.roundId !== 'string' ||
      !PROVIDER_ID.test(o.roundId) ||
      typeof o.playerId !== 'string' ||
      !PROVIDER_ID.test(o.playerId) ||
      typeof o.gameId !== 'string' ||
      !PROVIDER_ID.test(o.gameId) ||
      typeof o.amount !== 'string' ||
      typeof o.currency !== 'string' ||
      !CURRENCY.test(o.currency) ||
      typeof o.occurredAt !== 'string' ||
      !FAST_INSTANT.test(o.occurredAt) ||
      (o.refId !== undefined && (typeof o.refId !== 'string' || !PROVIDER_ID.test(o.refId))) ||
      (o.reason !== undefined && (typeof o.reason !== 'string' || o.reason.length > 500))
    ) {
      return null;
    }
    // Day-of-month against the month (2026-02-30 is refused by the schema too).
    const day = Number(o.occurredAt.slice(8, 10));
    if (day > 28 && new Date(o.occurredAt).getUTCDate() !== day) return null;
  }
  return body as TransactionBatch;
}

const MAX_REPORTED_DETAILS = 1000;
const CANONICAL_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/** RFC 3339 → the canonical UTC form, keeping sub-millisecond digits that Date would drop. */
function canonicalInstant(value: string): string {
  const iso = new Date(value).toISOString();
  const fraction = /\.(\d{4,6})/.exec(value)?.[1];
  return fraction ? `${iso.slice(0, 20)}${fraction}Z` : iso;
}

/**
 * Second-stage validation that needs more than a schema: amounts against each currency's
 * scale, the rollback ↔ refId rule, and duplicates inside the batch (identical → counted
 * once; same id, different content → conflict).
 */
export function normalizeBatch(
  batch: TransactionBatch,
  currencies: CurrencyRegistry = defaultCurrencies,
): NormalizeResult {
  const details: ErrorDetail[] = [];
  const n = batch.transactions.length;
  const out: NormalizedBatch = {
    batchId: batch.batchId,
    received: n,
    ids: [],
    types: [],
    rounds: [],
    players: [],
    games: [],
    amountsMinor: [],
    currencies: [],
    occurredAt: [],
    refs: [],
    refTypes: [],
    reasons: [],
    canonical: new Array<string>(n),
  };
  const seen = new Map<string, string>();
  const conflicts = new Set<string>();

  for (let i = 0; i < n; i++) {
    const t = batch.transactions[i]!;
    const at = (field: string) => `transactions.${i}.${field}`;
    const scale = currencies.scaleOf(t.currency);
    let minor: bigint | null = null;
    if (scale === undefined) {
      details.push({ path: at('currency'), message: `unknown currency ${t.currency}` });
    } else {
      const parsed = parseAmount(t.amount, scale, { allowNegative: t.type === 'adjustment' });
      if (parsed.ok) minor = parsed.minor;
      else details.push({ path: at('amount'), message: parsed.message });
    }
    if (t.type === 'rollback' && !t.refId)
      details.push({ path: at('refId'), message: 'is required for a rollback' });
    if (t.type !== 'rollback' && t.refId)
      details.push({ path: at('refId'), message: 'is only allowed on a rollback' });
    if (t.type === 'adjustment' && !t.reason)
      details.push({ path: at('reason'), message: 'is required for an adjustment' });
    if (details.length >= MAX_REPORTED_DETAILS) break;
    if (minor === null) continue;

    // Instants are compared as instants: "…T21:00:00+01:00" and "…T20:00:00Z" are the same.
    // Already-canonical UTC strings (what most partners send) skip the Date round trip.
    const occurredIso = CANONICAL_UTC.test(t.occurredAt) ? t.occurredAt : canonicalInstant(t.occurredAt);
    const line = [
      t.id,
      t.type,
      t.roundId,
      t.playerId,
      t.gameId,
      minor.toString(),
      t.currency,
      occurredIso,
      t.refId ?? '',
      t.reason ?? '',
    ].join('\u001f');
    out.canonical[i] = line;
    const previous = seen.get(t.id);
    if (previous !== undefined) {
      if (previous !== line) conflicts.add(t.id);
      continue;
    }
    seen.set(t.id, line);
    out.ids.push(t.id);
    out.types.push(t.type);
    out.rounds.push(t.roundId);
    out.players.push(t.playerId);
    out.games.push(t.gameId);
    out.amountsMinor.push(minor.toString());
    out.currencies.push(t.currency);
    out.occurredAt.push(occurredIso);
    out.refs.push(t.refId ?? null);
    out.reasons.push(t.reason ?? null);
  }
  if (details.length) return { ok: false, kind: 'invalid', details };
  const typeById = new Map<string, TransactionType>();
  for (let i = 0; i < out.ids.length; i++) typeById.set(out.ids[i]!, out.types[i]!);
  out.refTypes = out.refs.map((ref) => (ref === null ? null : (typeById.get(ref) ?? null)));
  if (conflicts.size) return { ok: false, kind: 'conflict', ids: [...conflicts].sort() };
  return { ok: true, batch: out };
}
