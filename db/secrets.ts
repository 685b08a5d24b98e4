import type pg from 'pg';
import { withTransaction } from './retry';
import { partnerSecret, type SecretBox, type SecretPurpose } from '../platform/secrets';

/**
 * Every column that holds a sealed secret, with the owner and purpose its rows are bound to.
 * A new sealed column belongs here, or `npm run secrets:rotate` leaves it under an old key.
 */
export const SEALED_COLUMNS = [
  { table: 'partner_webhooks', key: 'partner_id', column: 'secret_sealed', purpose: 'webhook-signing' },
  {
    table: 'partner_providers',
    key: 'partner_id',
    column: 'credentials_sealed',
    purpose: 'provider-credential',
  },
  {
    table: 'partner_credential_pickups',
    key: 'partner_id',
    column: 'secret_sealed',
    purpose: 'api-key-pickup',
  },
  { table: 'partner_applications', key: 'id', column: 'credentials_sealed', purpose: 'provider-credential' },
] as const satisfies readonly { table: string; key: string; column: string; purpose: SecretPurpose }[];

export interface RotationCounts {
  /** Rows looked at, per table. */
  scanned: Record<string, number>;
  /** Rows sealed again under the current key (with owner and purpose bound). */
  resealed: Record<string, number>;
  /** Rows already under the current key. */
  current: Record<string, number>;
}

const BATCH = 200;

/**
 * Seals every stored secret again under the box's current (first) key, bound to its owner and
 * purpose: values of the first format (no key id, no associated data) and values under an older
 * key. One transaction per batch of rows, each locked while it is re-sealed, and a row changed
 * meanwhile is left for the next run. Idempotent: a second run re-seals nothing.
 */
export async function resealAll(pool: pg.Pool, box: SecretBox): Promise<RotationCounts> {
  const counts: RotationCounts = { scanned: {}, resealed: {}, current: {} };
  for (const spec of SEALED_COLUMNS) {
    const { table, key, column, purpose } = spec;
    counts.scanned[table] = 0;
    counts.resealed[table] = 0;
    counts.current[table] = 0;
    let after = '';
    for (;;) {
      const last = await withTransaction(pool, async (client) => {
        const { rows } = await client.query<{ k: string; partner_id: string; sealed: string }>(
          `SELECT ${key} AS k, partner_id, ${column} AS sealed FROM ${table}
            WHERE ${column} IS NOT NULL AND ${key} > $1 ORDER BY ${key} LIMIT ${BATCH} FOR UPDATE`,
          [after],
        );
        for (const r of rows) {
          counts.scanned[table]!++;
          if (!box.needsReseal(r.sealed)) {
            counts.current[table]!++;
            continue;
          }
          const resealed = box.reseal({ sealed: r.sealed, context: partnerSecret(r.partner_id, purpose) });
          await client.query(`UPDATE ${table} SET ${column} = $2 WHERE ${key} = $1 AND ${column} = $3`, [
            r.k,
            resealed,
            r.sealed,
          ]);
          counts.resealed[table]!++;
        }
        return rows.length < BATCH ? null : rows.at(-1)!.k;
      });
      if (last === null) break;
      after = last;
    }
  }
  return counts;
}
