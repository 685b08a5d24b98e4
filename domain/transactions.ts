import { z } from 'zod';
import type { ErrorDetail } from './errors';
import { DECIMAL, defaultCurrencies, MAX_AMOUNT_CHARS, parseAmount, type CurrencyRegistry } from './money';

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

// RFC 3339 with an explicit offset (Z or ±hh:mm; a local time without offset is ambiguous), a
// real calendar day (leap years included) in the years 1970–2999. One regular expression, so
// the OpenAPI document states the rule exactly as it is checked.
const RFC3339_1970_2999 =
  /^(?:(?:19(?:7[26]|8[048]|9[26])|2\d(?:0[48]|[2468][048]|[13579][26])|2[048]00)-02-29|(?:19[7-9]\d|2\d{3})-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12]\d|3[01])|(?:0[469]|11)-(?:0[1-9]|[12]\d|30)|02-(?:0[1-9]|1\d|2[0-8])))T(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d(?:\.\d+)?(?:Z|[+-](?:[01]\d|2[0-3]):[0-5]\d)$/;
const rfc3339 = z
  .string()
  .regex(
    RFC3339_1970_2999,
    'must be an RFC 3339 timestamp with offset in the years 1970 to 2999, e.g. 2026-11-23T21:15:00Z',
  )
  .meta({ format: 'date-time' });

const decimal = (negative: boolean) =>
  z
    .string()
    .max(MAX_AMOUNT_CHARS)
    .regex(negative ? DECIMAL : /^(0|[1-9][0-9]*)(\.[0-9]+)?$/, 'must be a decimal string such as "12.34"')
    .meta({
      description:
        'Decimal string with at most the currency\'s decimals (EUR 2, JPY 0, KWD 3…), e.g. "12.34"; JSON numbers are rejected.' +
        (negative ? ' May be negative.' : ''),
      example: '12.50',
    });

/**
 * One game transaction. Its type decides what else it carries, so each type is its own
 * variant (the OpenAPI document shows them as `oneOf` by `type`): a rollback names what it
 * cancels (`refId`, on no other type), an adjustment says why (`reason`) and alone may be
 * negative. The currency is one the registry knows (ISO 4217 and the configured assets).
 */
export function transactionItemSchemaFor(currencies: CurrencyRegistry) {
  const codes = currencies.codes() as [string, ...string[]];
  const common = {
    id: providerId.meta({ example: 'tx-000123' }),
    roundId: providerId.meta({ example: 'round-77' }),
    playerId: providerId.meta({ example: 'player-42' }),
    gameId: providerId.meta({ example: 'book-of-sun' }),
    amount: decimal(false),
    currency: z
      .enum(codes)
      .meta({ description: 'ISO 4217 code, or a configured asset code', example: 'EUR' }),
    occurredAt: rfc3339.meta({ example: '2026-11-23T21:15:00Z' }),
    reason: z.string().max(500).optional().meta({ description: 'Why (required for an adjustment).' }),
  };
  return z
    .discriminatedUnion('type', [
      z
        .object({
          ...common,
          type: z.enum(transactionTypes.filter((t) => t !== 'rollback' && t !== 'adjustment')),
        })
        .strict(),
      z
        .object({
          ...common,
          type: z.literal('rollback'),
          refId: providerId.meta({ description: 'The id of the bet or win it cancels.' }),
        })
        .strict(),
      z
        .object({
          ...common,
          type: z.literal('adjustment'),
          amount: decimal(true),
          reason: z
            .string({ error: (i) => (i.input === undefined ? 'is required for an adjustment' : undefined) })
            .min(1, 'is required for an adjustment')
            .max(500)
            .meta({ description: 'Why the correction was made.' }),
        })
        .strict(),
    ])
    .meta({ id: 'GameTransaction' });
}

export function transactionBatchSchemaFor(currencies: CurrencyRegistry) {
  return z
    .object({
      batchId: providerId.meta({
        description: 'Unique per partner; a replay returns the first response.',
        example: 'batch-2026-11-23-0001',
      }),
      transactions: z.array(transactionItemSchemaFor(currencies)).min(1).max(MAX_BATCH_ITEMS),
    })
    .strict()
    .meta({ id: 'TransactionBatch' });
}

export const transactionItemSchema = transactionItemSchemaFor(defaultCurrencies);
export const transactionBatchSchema = transactionBatchSchemaFor(defaultCurrencies);

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
export function fastParseBatch(
  body: unknown,
  currencies: CurrencyRegistry = defaultCurrencies,
): TransactionBatch | null {
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
      currencies.scaleOf(o.currency) === undefined ||
      o.amount.length > MAX_AMOUNT_CHARS ||
      !DECIMAL.test(o.amount) ||
      (o.amount.startsWith('-') && o.type !== 'adjustment') ||
      typeof o.occurredAt !== 'string' ||
      !FAST_INSTANT.test(o.occurredAt) ||
      (o.refId !== undefined) !== (o.type === 'rollback') ||
      (o.refId !== undefined && (typeof o.refId !== 'string' || !PROVIDER_ID.test(o.refId))) ||
      (o.reason !== undefined && (typeof o.reason !== 'string' || o.reason.length > 500)) ||
      (o.type === 'adjustment' && (typeof o.reason !== 'string' || o.reason.length === 0))
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
 * scale and range, and duplicates inside the batch (identical → counted once; same id,
 * different content → conflict).
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
    // The schema (or the fast path) already held each type to its fields: refId on rollbacks only.
    const refId = t.type === 'rollback' ? t.refId : undefined;
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
      refId ?? '',
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
    out.refs.push(refId ?? null);
    out.reasons.push(t.reason ?? null);
  }
  if (details.length) return { ok: false, kind: 'invalid', details };
  const typeById = new Map<string, TransactionType>();
  for (let i = 0; i < out.ids.length; i++) typeById.set(out.ids[i]!, out.types[i]!);
  out.refTypes = out.refs.map((ref) => (ref === null ? null : (typeById.get(ref) ?? null)));
  if (conflicts.size) return { ok: false, kind: 'conflict', ids: [...conflicts].sort() };
  return { ok: true, batch: out };
}
