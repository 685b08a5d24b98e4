import { createPublicKey, sign, verify } from 'node:crypto';
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import type pg from 'pg';
import { parseCheckpointPublicKeys, parseCheckpointSigningKey } from '../platform/config';

// Signed checkpoints of the chain heads (README, "Database roles and chain checkpoints").
// A checkpoint lists, for every audit chain and every ledger chain, the head's sequence number
// and hash at one instant (one REPEATABLE READ snapshot), signed with an Ed25519 key the
// application does not hold. Verification then knows each chain reached at least that far
// with that hash: a tail cut off (rows deleted, the head moved back, or everything truncated)
// or rewritten after the checkpoint is reported, although the chain would walk intact.

type Queryable = Pick<pg.Pool | pg.PoolClient, 'query'>;

/** [chainId, head seq, head hash (hex)] */
type Head = [number, string, string];

export interface CheckpointPayload {
  v: 1;
  takenAt: string;
  audit: Head[];
  ledger: Head[];
}

export interface Checkpoint {
  /** The row id in chain_checkpoints (null for a checkpoint read from the file only). */
  id: string | null;
  takenAt: string;
  keyId: string;
  /** The exact text that was signed (canonical JSON of a CheckpointPayload). */
  payload: string;
  /** Ed25519 signature of payload, base64. */
  signature: string;
}

export interface CheckpointSigner {
  signingKey: string;
  keyId: string;
}

/**
 * Reads every chain head in one snapshot, signs them, stores the checkpoint (the connection
 * must be allowed to INSERT into chain_checkpoints: the owner or clearhouse_checkpointer) and,
 * when `file` is given, appends it there as one JSON line.
 */
export async function takeCheckpoint(
  db: pg.Pool,
  signer: CheckpointSigner,
  file: string | null = null,
): Promise<Checkpoint> {
  const key = parseCheckpointSigningKey(signer.signingKey);
  const client = await db.connect();
  try {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
    const heads = async (table: 'audit_chains' | 'ledger_chains'): Promise<Head[]> =>
      (
        await client.query<{ chain_id: number; head_seq: string; head_hash: Buffer }>(
          `SELECT chain_id, head_seq::text, head_hash FROM ${table} ORDER BY chain_id`,
        )
      ).rows.map((r) => [r.chain_id, r.head_seq, r.head_hash.toString('hex')]);
    const { rows } = await client.query<{ at: Date }>('SELECT now() AS at');
    const payload: CheckpointPayload = {
      v: 1,
      takenAt: rows[0]!.at.toISOString(),
      audit: await heads('audit_chains'),
      ledger: await heads('ledger_chains'),
    };
    const text = JSON.stringify(payload);
    const signature = sign(null, Buffer.from(text, 'utf8'), key);
    const inserted = await client.query<{ id: string }>(
      `INSERT INTO chain_checkpoints (taken_at, key_id, payload, signature) VALUES ($1, $2, $3, $4) RETURNING id::text`,
      [payload.takenAt, signer.keyId, text, signature],
    );
    await client.query('COMMIT');
    const checkpoint: Checkpoint = {
      id: inserted.rows[0]!.id,
      takenAt: payload.takenAt,
      keyId: signer.keyId,
      payload: text,
      signature: signature.toString('base64'),
    };
    if (file) appendFileSync(file, `${JSON.stringify(checkpoint)}\n`, { mode: 0o640 });
    return checkpoint;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}

/** The newest checkpoint stored in the database, or null. */
export async function latestCheckpoint(db: Queryable): Promise<Checkpoint | null> {
  const { rows } = await db.query<{
    id: string;
    taken_at: Date;
    key_id: string;
    payload: string;
    signature: Buffer;
  }>(
    `SELECT id::text, taken_at, key_id, payload, signature FROM chain_checkpoints
      ORDER BY taken_at DESC, id DESC LIMIT 1`,
  );
  const r = rows[0];
  if (!r) return null;
  return {
    id: r.id,
    takenAt: r.taken_at.toISOString(),
    keyId: r.key_id,
    payload: r.payload,
    signature: r.signature.toString('base64'),
  };
}

/** The last checkpoint appended to a mirror file, or null when there is none. */
export function lastFileCheckpoint(file: string): Checkpoint | null {
  if (!existsSync(file)) return null;
  const lines = readFileSync(file, 'utf8').split('\n').filter(Boolean);
  const last = lines.at(-1);
  return last ? (JSON.parse(last) as Checkpoint) : null;
}

export interface CheckpointCheck {
  source: 'database' | 'file';
  id: string | null;
  takenAt: string;
  keyId: string;
  ok: boolean;
  /** The first problem: a bad signature, or a chain cut or rewritten below its checkpointed head. */
  problem: { chainId: number | null; seq: string | null; reason: string } | null;
}

export interface CheckpointOptions {
  /** `keyId:<base64 SPKI>` entries (CHECKPOINT_PUBLIC_KEYS). */
  publicKeys: string;
  /** The mirror file (CHECKPOINT_FILE): its last checkpoint is checked too. */
  file?: string | null;
  /** A checkpoint to check instead of the stored ones (tests). */
  checkpoint?: Checkpoint;
}

/** Signature of a checkpoint: the parsed payload, or why it cannot be trusted. */
function authentic(cp: Checkpoint, publicKeys: string): CheckpointPayload | string {
  const key = parseCheckpointPublicKeys(publicKeys).find((k) => k.keyId === cp.keyId);
  if (!key) return `checkpoint signed by key "${cp.keyId}", which CHECKPOINT_PUBLIC_KEYS does not list`;
  if (!verify(null, Buffer.from(cp.payload, 'utf8'), key.key, Buffer.from(cp.signature, 'base64')))
    return 'checkpoint signature does not verify (forged or altered checkpoint)';
  const payload = JSON.parse(cp.payload) as CheckpointPayload;
  if (payload.v !== 1 || !Array.isArray(payload.audit) || !Array.isArray(payload.ledger))
    return 'checkpoint payload has an unknown format';
  return payload;
}

/**
 * Checks the newest checkpoints (the database's, and the mirror file's when configured) against
 * one kind of chain: each checkpointed head must still be in its chain, at the same seq with the
 * same hash. A verification that found no checkpoint returns an empty list.
 */
export async function checkCheckpoints(
  db: Queryable,
  kind: 'audit' | 'ledger',
  options: CheckpointOptions,
): Promise<CheckpointCheck[]> {
  const candidates: { source: CheckpointCheck['source']; cp: Checkpoint }[] = [];
  if (options.checkpoint) candidates.push({ source: 'database', cp: options.checkpoint });
  else {
    const stored = await latestCheckpoint(db);
    if (stored) candidates.push({ source: 'database', cp: stored });
    const mirrored = options.file ? lastFileCheckpoint(options.file) : null;
    if (mirrored && mirrored.payload !== stored?.payload) candidates.push({ source: 'file', cp: mirrored });
  }
  const checks: CheckpointCheck[] = [];
  for (const { source, cp } of candidates) {
    const base = { source, id: cp.id, takenAt: cp.takenAt, keyId: cp.keyId };
    const payload = authentic(cp, options.publicKeys);
    if (typeof payload === 'string') {
      checks.push({ ...base, ok: false, problem: { chainId: null, seq: null, reason: payload } });
      continue;
    }
    const problem = await headsStillThere(db, kind, payload);
    checks.push({ ...base, ok: problem === null, problem });
  }
  return checks;
}

async function headsStillThere(
  db: Queryable,
  kind: 'audit' | 'ledger',
  payload: CheckpointPayload,
): Promise<CheckpointCheck['problem']> {
  const heads = payload[kind].filter(([, seq]) => seq !== '0');
  if (heads.length === 0) return null;
  const [chains, history] =
    kind === 'audit' ? ['audit_chains', 'audit_events'] : ['ledger_chains', 'ledger_blocks'];
  const { rows } = await db.query<{
    chain_id: number;
    seq: string;
    head_seq: string | null;
    hash: Buffer | null;
  }>(
    `SELECT k.chain_id, k.seq::text, c.head_seq::text, h.hash
       FROM unnest($1::smallint[], $2::bigint[]) AS k(chain_id, seq)
       LEFT JOIN ${chains} c ON c.chain_id = k.chain_id
       LEFT JOIN ${history} h ON h.chain_id = k.chain_id AND h.seq = k.seq
      ORDER BY k.chain_id`,
    [heads.map(([c]) => c), heads.map(([, s]) => s)],
  );
  const expected = new Map(heads.map(([c, , h]) => [c, h]));
  const what = kind === 'audit' ? 'event' : 'block';
  for (const r of rows) {
    const at = `the checkpoint of ${payload.takenAt} has the chain at seq ${r.seq}`;
    if (r.hash === null)
      return {
        chainId: r.chain_id,
        seq: r.seq,
        reason: `cut tail: ${at}, but the chain now ${
          r.head_seq === null ? 'does not exist' : `ends at seq ${r.head_seq}`
        } and has no ${what} ${r.seq} (events after the checkpoint may be lost too)`,
      };
    if (r.hash.toString('hex') !== expected.get(r.chain_id))
      return {
        chainId: r.chain_id,
        seq: r.seq,
        reason: `rewritten tail: ${at}, but its ${what} at that seq has another hash`,
      };
  }
  return null;
}

/** The public half of a signing key, as a CHECKPOINT_PUBLIC_KEYS entry. */
export function publicKeyEntry(signer: CheckpointSigner): string {
  const spki = createPublicKey(parseCheckpointSigningKey(signer.signingKey)).export({
    type: 'spki',
    format: 'der',
  });
  return `${signer.keyId}:${spki.toString('base64')}`;
}

/** One line per checked checkpoint, for the verify commands. */
export function describeCheckpoints(checks: CheckpointCheck[]): string[] {
  if (checks.length === 0)
    return ['no signed checkpoint yet (npm run chain:checkpoint): a cut tail would go unseen'];
  return checks.map((c) =>
    c.ok
      ? `checkpoint ${c.id ?? '(file)'} of ${c.takenAt} (${c.source}, key ${c.keyId}): every checkpointed head is in place; events after it are covered by the next checkpoint`
      : `CHECKPOINT ${c.id ?? '(file)'} of ${c.takenAt} (${c.source}, key ${c.keyId}): ${c.problem!.chainId === null ? '' : `chain ${c.problem!.chainId}: `}${c.problem!.reason}`,
  );
}
