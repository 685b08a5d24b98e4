import { createHash } from 'node:crypto';
import type pg from 'pg';
import { ConflictError, ForbiddenError } from '../domain/errors';
import type { NormalizedBatch } from '../domain/transactions';
import { sqlState, withTransaction } from './retry';

export interface IngestResponse {
  batchId: string;
  received: number;
  accepted: number;
  duplicates: number;
  orphanRollbacks: number;
  resolvedOrphanRollbacks: number;
  ledgerEntries: number;
}

/**
 * A Postgres array literal for a text[] parameter. Every element is quoted, so commas,
 * braces, spaces and the word NULL are data; only quote and backslash need escaping, and
 * most ids have neither. (node-postgres escapes every element with two regex passes.)
 */
export function pgTextArray(values: readonly (string | null)[]): string {
  let out = '{';
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (i > 0) out += ',';
    if (v === null || v === undefined) out += 'NULL';
    else out += NEEDS_ESCAPE.test(v) ? `"${v.replace(/["\\]/g, '\\$&')}"` : `"${v}"`;
  }
  return `${out}}`;
}
const NEEDS_ESCAPE = /["\\]/;

export function batchRequestHash(batch: NormalizedBatch): Buffer {
  const h = createHash('sha256').update(batch.batchId);
  for (const line of batch.canonical) h.update('\n').update(line);
  return h.digest();
}

/**
 * Stores one batch atomically through the `ingest_batch` database function (one round trip).
 * Returns the response to send; a replayed batchId returns the first response, a reused
 * batchId with different content is a conflict.
 */
export async function ingestBatch(
  db: pg.Pool,
  partnerId: string,
  batch: NormalizedBatch,
  /**
   * What else the batch's own transaction records once its rows are stored (not on a replay):
   * the big wins held for review (db/held-wins.ts), so a stored win and its hold are one fact.
   */
  afterStore?: (client: pg.PoolClient) => Promise<void>,
): Promise<IngestResponse> {
  const requestHash = batchRequestHash(batch);
  let result: { replayOf?: IngestResponse | null; requestHash?: string } & Partial<IngestResponse>;
  try {
    result = await withTransaction(db, async (client) => {
      const { rows } = await client.query<{ r: typeof result }>(
        `SELECT ingest_batch($1, $2, $3, $4, $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::bigint[],
                             $11::text[], $12::timestamptz[], $13::text[], $14::text[], $15::text[]) AS r`,
        [
          partnerId,
          batch.batchId,
          requestHash,
          batch.received,
          pgTextArray(batch.ids),
          pgTextArray(batch.types),
          pgTextArray(batch.rounds),
          pgTextArray(batch.players),
          pgTextArray(batch.games),
          pgTextArray(batch.amountsMinor),
          pgTextArray(batch.currencies),
          pgTextArray(batch.occurredAt),
          pgTextArray(batch.refs),
          pgTextArray(batch.refTypes),
          pgTextArray(batch.reasons),
        ],
      );
      const r = rows[0]!.r;
      if (r.replayOf === undefined && afterStore) await afterStore(client);
      return r;
    });
  } catch (err) {
    const state = sqlState(err);
    if (state === 'CH409') {
      const ids = String((err as { detail?: string }).detail ?? '')
        .split(',')
        .filter(Boolean);
      throw new ConflictError(
        `${ids.length} transaction id(s) were already received with different content; nothing from this batch was stored`,
        ids.map((id) => ({
          path: `transactions[id=${id}]`,
          message: 'conflicting duplicate: same id, different content',
        })),
      );
    }
    if (state === 'CH403') throw new ForbiddenError('partner is not active');
    throw err;
  }
  if (result.replayOf !== undefined) {
    if (result.requestHash !== requestHash.toString('hex') || !result.replayOf) {
      throw new ConflictError(`batchId ${batch.batchId} was already used for a different batch`, [
        { path: 'batchId', message: 'already used with different content' },
      ]);
    }
    return result.replayOf;
  }
  return result as IngestResponse;
}
