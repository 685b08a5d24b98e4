import { spawnSync } from 'node:child_process';
import { generateKeyPairSync, sign } from 'node:crypto';
import path from 'node:path';
import type pg from 'pg';
import { appendAudit, verifyAudit, type AuditEvent } from '../db/audit';
import { takeCheckpoint, type CheckpointOptions } from '../db/checkpoints';
import { ensureAccounts, postEntries, verifyLedger, type EntryInput } from '../db/ledger';
import { applicationRoleProblem, startupRoleRefusal } from '../db/roles';
import { DEV_DEFAULTS } from '../platform/config';
import { createTestDatabase, type TestDatabase } from './support/env';

// Issue 16, point 4: the audit trail and the ledger must not lose their tail unseen. The
// application's role cannot rewrite history or move a chain head; the owner can, and then the
// signed checkpoint of the chain heads reports the cut.

const ROOT = path.join(__dirname, '..');
const signer = { signingKey: DEV_DEFAULTS.CHECKPOINT_SIGNING_KEY, keyId: 'dev' };
const keys: CheckpointOptions = { publicKeys: DEV_DEFAULTS.CHECKPOINT_PUBLIC_KEYS };

const event = (key: string, actor = 'ana'): AuditEvent => ({
  idempotencyKey: key,
  actor,
  role: 'approver',
  action: 'test.act',
  target: `thing:${key}`,
  source: 'api',
});

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    return (err as { code?: string }).code ?? String(err);
  }
  return 'succeeded';
}

/** As a DBA with the owner's (here superuser) rights would: append-only triggers switched off. */
async function asOwnerUnguarded(db: TestDatabase, sql: string[]): Promise<void> {
  const client = await db.pool.connect();
  try {
    await client.query('SET session_replication_role = replica');
    for (const s of sql) await client.query(s);
    await client.query('SET session_replication_role = origin');
  } finally {
    client.release();
  }
}

async function ledgerFixture(pool: pg.Pool): Promise<(key: string, amount?: bigint) => EntryInput> {
  const ids = await ensureAccounts(pool, [
    { code: 'house:cash:EUR', ownerKind: 'house', kind: 'asset', currency: 'EUR' },
    { code: 'house:revenue:EUR', ownerKind: 'house', kind: 'revenue', currency: 'EUR' },
  ]);
  return (key, amount = 100n) => ({
    idempotencyKey: key,
    effectiveDate: '2026-12-01',
    sourceKind: 'transfer',
    sourceRef: 'test',
    postings: [
      {
        debitAccountId: ids.get('house:cash:EUR')!,
        creditAccountId: ids.get('house:revenue:EUR')!,
        currency: 'EUR',
        amountMinor: amount,
      },
    ],
  });
}

describe('the application role (clearhouse_app) on real Postgres', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
    const transfer = await ledgerFixture(db.appPool);
    await postEntries(db.appPool, [transfer('setup-1'), transfer('setup-2')]);
    await appendAudit(db.appPool, event('setup-audit'));
  });
  afterAll(async () => {
    await db.drop();
  });

  it('connects as a login member of clearhouse_app that is neither superuser nor owner', async () => {
    const { rows } = await db.appPool.query<{ member: boolean; superuser: boolean }>(
      `SELECT pg_has_role(current_user, 'clearhouse_app', 'MEMBER') AS member,
              (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) AS superuser`,
    );
    expect(rows[0]).toEqual({ member: true, superuser: false });
    expect(await applicationRoleProblem(db.appPool)).toBeNull();
    expect(await applicationRoleProblem(db.pool)).toMatch(/superuser.*DATABASE_URL.*DATABASE_OWNER_URL/);
  });

  it.each([
    'UPDATE audit_events SET actor = actor',
    'DELETE FROM audit_events',
    'TRUNCATE audit_events',
    "INSERT INTO audit_events (idempotency_key, chain_id, seq, at, actor, actor_role, action, target, source, prev_hash, hash) VALUES ('x', 0, 99, now(), 'a', 'r', 'a', 't', 'api', '\\x00', '\\x00')",
    'UPDATE ledger_entries SET metadata = metadata',
    'DELETE FROM ledger_entries',
    'TRUNCATE ledger_entries CASCADE',
    'UPDATE ledger_postings SET amount_minor = amount_minor',
    'DELETE FROM ledger_postings',
    'TRUNCATE ledger_postings',
    'UPDATE ledger_blocks SET entry_count = entry_count',
    'DELETE FROM ledger_blocks',
    'TRUNCATE ledger_blocks CASCADE',
    'UPDATE ledger_accounts SET debits_minor = debits_minor + 1',
    "INSERT INTO ledger_accounts (code, owner_kind, kind, currency, debits_minor) VALUES ('house:forged', 'house', 'asset', 'EUR', 1000)",
    'UPDATE audit_chains SET head_seq = head_seq',
    "INSERT INTO audit_chains (chain_id, head_hash) VALUES (99, '\\x00')",
    'DELETE FROM audit_chains WHERE chain_id = 15',
    'UPDATE ledger_chains SET head_seq = head_seq',
    "INSERT INTO ledger_chains (chain_id, head_hash) VALUES (99, '\\x00')",
    'DELETE FROM ledger_chains WHERE chain_id = 63',
    'DELETE FROM chain_checkpoints',
    "INSERT INTO chain_checkpoints (taken_at, key_id, payload, signature) VALUES (now(), 'x', '{}', '\\x00')",
  ])('is refused by Postgres (42501): %s', async (sql) => {
    expect(await code(db.appPool.query(sql))).toBe('42501');
  });

  it('appends to the audit trail and the ledger through the owner-defined functions only', async () => {
    const transfer = await ledgerFixture(db.appPool);
    const id = await appendAudit(db.appPool, event('app-appends'));
    expect(await appendAudit(db.appPool, event('app-appends'))).toBe(id);
    const [posted] = await postEntries(db.appPool, [transfer('app-posts', 7n)]);
    expect(posted).toMatchObject({ status: 'posted' });
    expect(await verifyAudit(db.appPool)).toMatchObject({ ok: true });
    expect(await verifyLedger(db.appPool)).toMatchObject({ ok: true });
    const { rows } = await db.appPool.query<{ proname: string; prosecdef: boolean; proconfig: string[] }>(
      `SELECT proname, prosecdef, proconfig FROM pg_proc WHERE proname IN ('audit_append', 'ledger_post') ORDER BY proname`,
    );
    expect(rows).toEqual([
      { proname: 'audit_append', prosecdef: true, proconfig: ['search_path=pg_catalog, public, pg_temp'] },
      { proname: 'ledger_post', prosecdef: true, proconfig: ['search_path=pg_catalog, public, pg_temp'] },
    ]);
  });

  it('cannot write a checkpoint: only the owner (or clearhouse_checkpointer) can', async () => {
    expect(await code(takeCheckpoint(db.appPool, signer))).toBe('42501');
    await expect(takeCheckpoint(db.pool, signer)).resolves.toMatchObject({ keyId: 'dev' });
    const { rows } = await db.appPool.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM chain_checkpoints',
    );
    expect(rows[0]!.n).toBe(1);
  });
});

describe('signed checkpoints report a tail cut or truncated by the owner', () => {
  const dbs: TestDatabase[] = [];
  const fresh = async () => {
    const db = await createTestDatabase();
    dbs.push(db);
    return db;
  };
  afterAll(async () => {
    await Promise.all(dbs.map((d) => d.drop()));
  });

  async function auditWithCheckpoint(): Promise<{ db: TestDatabase; chain: number; seq: number }> {
    const db = await fresh();
    for (let i = 1; i <= 3; i++) await appendAudit(db.appPool, event(`e-${i}`, 'ana'));
    const { rows } = await db.pool.query<{ chain_id: number; seq: string }>(
      `SELECT chain_id, seq::text FROM audit_events WHERE idempotency_key = 'e-3'`,
    );
    await takeCheckpoint(db.pool, signer);
    const intact = await verifyAudit(db.appPool, { checkpoints: keys });
    expect(intact).toMatchObject({ ok: true, firstBroken: null });
    expect(intact.checkpoints).toEqual([expect.objectContaining({ ok: true, keyId: 'dev' })]);
    return { db, chain: rows[0]!.chain_id, seq: Number(rows[0]!.seq) };
  }

  it('audit: the last event deleted and its head moved back', async () => {
    const { db, chain, seq } = await auditWithCheckpoint();
    await asOwnerUnguarded(db, [
      `DELETE FROM audit_events WHERE chain_id = ${chain} AND seq = ${seq}`,
      `UPDATE audit_chains c SET head_seq = e.seq, head_hash = e.hash FROM audit_events e
        WHERE c.chain_id = ${chain} AND e.chain_id = c.chain_id AND e.seq = ${seq - 1}`,
    ]);
    // Without the checkpoint the walk is intact: that is the gap the checkpoint closes.
    expect(await verifyAudit(db.appPool)).toMatchObject({ ok: true });
    const report = await verifyAudit(db.appPool, { checkpoints: keys });
    expect(report.ok).toBe(false);
    expect(report.firstBroken).toMatchObject({ chainId: chain, seq: String(seq) });
    expect(report.firstBroken!.reason).toMatch(/cut tail.*ends at seq 2/);

    // `npm run audit:verify` says so too, with exit code 2.
    const cli = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/audit-verify.ts'], {
      cwd: ROOT,
      env: { ...process.env, NODE_ENV: 'test', DATABASE_URL: db.url },
      encoding: 'utf8',
    });
    expect(cli.stdout).toMatch(/AUDIT TRAIL TAMPERED: chain \d+, event \(none\).*cut tail/);
    expect(cli.stdout).toMatch(/CHECKPOINT 1 of .*cut tail/);
    expect(cli.status).toBe(2);
  });

  it('audit: TRUNCATE and every head reset to its genesis', async () => {
    const { db, chain } = await auditWithCheckpoint();
    await db.pool.query('TRUNCATE audit_events');
    await db.pool.query(
      `UPDATE audit_chains SET head_seq = 0, head_hash = sha256(convert_to('clearhouse-audit-genesis-' || chain_id, 'UTF8'))`,
    );
    expect(await verifyAudit(db.appPool)).toMatchObject({ ok: true, events: 0 });
    const report = await verifyAudit(db.appPool, { checkpoints: keys });
    expect(report).toMatchObject({ ok: false, firstBroken: { chainId: chain } });
    expect(report.firstBroken!.reason).toMatch(/cut tail.*ends at seq 0/);
  });

  it('audit: events after the last checkpoint are the window a cut goes unseen in', async () => {
    const { db, chain, seq } = await auditWithCheckpoint();
    await appendAudit(db.appPool, event('after-checkpoint', 'ana'));
    await asOwnerUnguarded(db, [
      `DELETE FROM audit_events WHERE idempotency_key = 'after-checkpoint'`,
      `UPDATE audit_chains c SET head_seq = e.seq, head_hash = e.hash FROM audit_events e
        WHERE c.chain_id = ${chain} AND e.chain_id = c.chain_id AND e.seq = ${seq}`,
    ]);
    expect(await verifyAudit(db.appPool, { checkpoints: keys })).toMatchObject({ ok: true });
  });

  async function ledgerWithCheckpoint(): Promise<{ db: TestDatabase; chain: number; seq: number }> {
    const db = await fresh();
    const transfer = await ledgerFixture(db.appPool);
    for (let i = 1; i <= 4; i++) await postEntries(db.appPool, [transfer(`l-${i}`, BigInt(i))]);
    const { rows } = await db.pool.query<{ chain_id: number; seq: string }>(
      'SELECT chain_id, seq::text FROM ledger_blocks ORDER BY seq DESC, id DESC LIMIT 1',
    );
    await takeCheckpoint(db.pool, signer);
    expect(await verifyLedger(db.appPool, { checkpoints: keys })).toMatchObject({ ok: true });
    return { db, chain: rows[0]!.chain_id, seq: Number(rows[0]!.seq) };
  }

  it('ledger: the last block of a chain deleted and its head moved back', async () => {
    const { db, chain, seq } = await ledgerWithCheckpoint();
    const block = `(SELECT id FROM ledger_blocks WHERE chain_id = ${chain} AND seq = ${seq})`;
    await asOwnerUnguarded(db, [
      `DELETE FROM ledger_postings WHERE entry_id IN (SELECT id FROM ledger_entries WHERE block_id = ${block})`,
      `DELETE FROM ledger_entries WHERE block_id = ${block}`,
      `DELETE FROM ledger_blocks WHERE chain_id = ${chain} AND seq = ${seq}`,
      `UPDATE ledger_chains SET head_seq = ${seq - 1},
              head_hash = coalesce((SELECT hash FROM ledger_blocks WHERE chain_id = ${chain} AND seq = ${seq - 1}),
                                   sha256(convert_to('clearhouse-ledger-genesis-' || ${chain}, 'UTF8')))
        WHERE chain_id = ${chain}`,
    ]);
    expect(await verifyLedger(db.appPool)).toMatchObject({ ok: true });
    const report = await verifyLedger(db.appPool, { checkpoints: keys });
    expect(report).toMatchObject({
      ok: false,
      firstBroken: { chainId: chain, blockSeq: seq, entryId: null },
    });
    expect(report.firstBroken!.reason).toMatch(/cut tail/);
  });

  it('ledger: TRUNCATE of the history and every head reset', async () => {
    const { db } = await ledgerWithCheckpoint();
    await asOwnerUnguarded(db, [
      'TRUNCATE ledger_postings, ledger_entries, ledger_blocks',
      `UPDATE ledger_chains SET head_seq = 0, head_hash = sha256(convert_to('clearhouse-ledger-genesis-' || chain_id, 'UTF8'))`,
    ]);
    expect(await verifyLedger(db.appPool)).toMatchObject({ ok: true, entries: 0 });
    const report = await verifyLedger(db.appPool, { checkpoints: keys });
    expect(report.ok).toBe(false);
    expect(report.firstBroken!.reason).toMatch(/cut tail.*ends at seq 0/);
  });

  it('a forged checkpoint (another key under the same id) is reported, and so is an unknown key', async () => {
    const { db } = await ledgerWithCheckpoint();
    const { privateKey } = generateKeyPairSync('ed25519');
    const payload = JSON.stringify({ v: 1, takenAt: new Date().toISOString(), audit: [], ledger: [] });
    await db.pool.query(
      `INSERT INTO chain_checkpoints (taken_at, key_id, payload, signature) VALUES (now() + interval '1 minute', 'dev', $1, $2)`,
      [payload, sign(null, Buffer.from(payload), privateKey)],
    );
    const forged = await verifyLedger(db.appPool, { checkpoints: keys });
    expect(forged.ok).toBe(false);
    expect(forged.checkpoints![0]!.problem!.reason).toMatch(/signature does not verify/);
    const audit = await verifyAudit(db.appPool, { checkpoints: keys });
    expect(audit.ok).toBe(false);
    expect(audit.firstBroken!.reason).toMatch(/signature does not verify/);

    const other = generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'der' });
    const unknown = await verifyLedger(db.appPool, {
      checkpoints: { publicKeys: `k2:${other.toString('base64')}` },
    });
    expect(unknown.checkpoints![0]!.problem!.reason).toMatch(
      /"dev", which CHECKPOINT_PUBLIC_KEYS does not list/,
    );
  });
});

describe('in production the API and the worker refuse an owner or superuser connection', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await db.drop();
  });

  // api/main.ts and workers/main.ts print this line and exit 78 before connecting to Temporal.
  it.each(['api', 'worker'] as const)(
    '%s: one line naming DATABASE_URL and DATABASE_OWNER_URL',
    async (who) => {
      const production = { nodeEnv: 'production' };
      expect(await startupRoleRefusal(production, db.pool, who)).toMatch(
        new RegExp(
          `^${who} refuses to start: DATABASE_URL connects as "\\w+", a superuser: [^\\n]*DATABASE_OWNER_URL[^\\n]*$`,
        ),
      );
      expect(await startupRoleRefusal(production, db.appPool, who)).toBeNull();
      // Outside production (npm run dev, tests, chaos) the check does not run.
      expect(await startupRoleRefusal({ nodeEnv: 'test' }, db.pool, who)).toBeNull();
    },
  );

  it('refuses a non-superuser that owns the history, and one that may rewrite it', async () => {
    const owner = `ch_owner_${Date.now()}`;
    const rewriter = `ch_rewriter_${Date.now()}`;
    const client = await db.pool.connect();
    try {
      await client.query(`CREATE ROLE ${owner} NOLOGIN; CREATE ROLE ${rewriter} NOLOGIN`);
      await client.query(
        `GRANT USAGE ON SCHEMA public TO ${rewriter}; GRANT UPDATE ON ledger_chains TO ${rewriter}`,
      );
      await client.query(`ALTER TABLE audit_events OWNER TO ${owner}`);
      await client.query(`SET ROLE ${owner}`);
      expect(await applicationRoleProblem(client)).toMatch(/owner of audit_events/);
      await client.query(`SET ROLE ${rewriter}`);
      expect(await applicationRoleProblem(client)).toMatch(/may rewrite ledger_chains/);
    } finally {
      await client.query('RESET ROLE');
      await client.query(`REASSIGN OWNED BY ${owner} TO CURRENT_USER; DROP OWNED BY ${owner}, ${rewriter}`);
      await client.query(`DROP ROLE ${owner}; DROP ROLE ${rewriter}`);
      client.release();
    }
  });
});
