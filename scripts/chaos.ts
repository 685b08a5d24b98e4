import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { accrualOf } from '../db/accruals';
import { verifyAudit } from '../db/audit';
import {
  accountBalances,
  ledgerPostings,
  missingTransactions,
  storedTransactionCount,
  trialBalance,
} from '../db/integrity';
import { verifyLedger } from '../db/ledger';
import { migrateUp } from '../db/migrate';
import { createPool } from '../db/pool';
import { loadConfig } from '../platform/config';
import { mintOperatorToken } from '../platform/operators';
import { bundleWorkflows } from '../workers/create';
import { freePort } from './lib/net.mjs';
import { ensureDatabase, withDatabase } from './lib/postgres.mjs';
import type { Faults } from '../providers/simulated/json-cursor-server';
import { ProductProcess, startPostgres, startTemporal } from './chaos/services';
import {
  BATCH,
  apiClient,
  ingest,
  onboard,
  plan,
  rng,
  settle,
  sleep,
  startOutside,
  statementDifference,
  statements,
  type Plan,
} from './chaos/workload';

// `npm run chaos -- [--seed N] [--short] [...]`: the same seeded workload twice, on a fresh
// database and Temporal each time. First fault-free (the reference), then with faults: the
// worker and the API SIGKILLed at random points, Postgres restarted during ingest, the Temporal
// server restarted in the middle of the cycles, providers answering 5xx, 429, too slowly, or
// cutting pages off. Then every workflow must have completed, the ledger balance and its hash
// chains verify, no posting be made twice, no acknowledged transaction be lost, and every
// statement be byte-identical to the reference's. Prints the figures; the last line is one
// JSON object. Exit code 0 when every check holds. That object's statementsDigest and
// postingsDigest fingerprint the reference run's money (see moneyDigests): the same seed must
// give the same digests on any version of the code that does not change money.

const { values: args } = parseArgs({
  options: {
    seed: { type: 'string', default: process.env.CHAOS_SEED ?? '1' },
    short: { type: 'boolean', default: false },
    partners: { type: 'string' },
    days: { type: 'string' },
    tx: { type: 'string' },
    'worker-kills': { type: 'string' },
    'api-kills': { type: 'string' },
    fuzz: { type: 'string' },
    /** Writes the canonical text the digests are taken over (reference run) to this file. */
    'digest-dump': { type: 'string' },
  },
});
const seed = Number(args.seed);
const short = args.short;
const opts = {
  seed,
  partners: Number(args.partners ?? (short ? 2 : 8)),
  days: Number(args.days ?? (short ? 1 : 3)),
  txPerDay: Number(args.tx ?? (short ? 400 : 1500)),
  workerKills: Number(args['worker-kills'] ?? (short ? 4 : 100)),
  apiKills: Number(args['api-kills'] ?? (short ? 2 : 15)),
  /** API fuzz requests per operation (test/api-fuzz.test.ts); 0 skips it (the short version: npm test runs it anyway). */
  fuzzPerOperation: Number(args.fuzz ?? (short ? 0 : 300)),
};
const say = (line: string) => process.stdout.write(`${line}\n`);
/** Transport-fault bursts per partner in a run. */
const FAULTS_PER_PARTNER = 3;

interface RunResult {
  statements: Map<string, string>;
  cycles: Map<string, string>;
  onboardings: Map<string, string>;
  postings: Map<string, string>;
  balances: Map<string, bigint>;
  ledgerOk: boolean;
  auditOk: boolean;
  balanced: boolean;
  acknowledged: number;
  lost: number;
  extraStored: number;
  workerKills: number;
  apiKills: number;
  postgresRestarts: number;
  temporalRestarts: number;
  providerFaults: Record<string, number>;
  retried: Record<string, number>;
  unexpectedExits: string[];
  /** sha256 of the canonical text of the stored statements and of the ledger (moneyDigests). */
  statementsDigest: string;
  postingsDigest: string;
  canonical: string;
  seconds: number;
}

const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');
const byCodeUnits = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * The money a run left, in a form that depends only on the seed (partner ids, transaction ids,
 * batch ids and cycle ids are all derived from it, see scripts/chaos/workload.ts):
 * - statements: per cycle, sorted by cycle id, the id and the exact bytes stored with its
 *   accrual (settlement_accruals.statement_text), length-prefixed;
 * - postings: per ledger entry, sorted by idempotency key, the key, effective date, source kind
 *   and source ref, and its postings (debit account code, credit account code, currency,
 *   amount), sorted. Not entry ids, line numbers, timestamps, hashes or metadata.
 */
async function moneyDigests(
  db: ReturnType<typeof createPool>,
  cycleIds: string[],
): Promise<{ statementsDigest: string; postingsDigest: string; canonical: string }> {
  const stmtParts: string[] = [];
  for (const id of [...cycleIds].sort(byCodeUnits)) {
    const text = (await accrualOf(db, id))?.statementText;
    stmtParts.push(
      text === undefined ? `${id}\nmissing\n` : `${id}\n${Buffer.byteLength(text, 'utf8')}\n${text}\n`,
    );
  }
  const { rows } = await db.query<{
    k: string;
    d: string;
    sk: string;
    sr: string;
    postings: [string, string, string, string][];
  }>(
    `SELECT e.idempotency_key AS k, e.effective_date::text AS d, e.source_kind AS sk, e.source_ref AS sr,
            json_agg(json_build_array(dr.code, cr.code, p.currency, p.amount_minor::text)) AS postings
       FROM ledger_entries e
       JOIN ledger_postings p ON p.entry_id = e.id
       JOIN ledger_accounts dr ON dr.id = p.debit_account_id
       JOIN ledger_accounts cr ON cr.id = p.credit_account_id
      GROUP BY e.id`,
  );
  const entries = rows
    .map((r) =>
      JSON.stringify([r.k, r.d, r.sk, r.sr, r.postings.map((x) => JSON.stringify(x)).sort(byCodeUnits)]),
    )
    .sort(byCodeUnits);
  const statementsText = stmtParts.join('');
  const postingsText = entries.map((e) => `${e}\n`).join('');
  return {
    statementsDigest: sha256(statementsText),
    postingsDigest: sha256(postingsText),
    canonical: `# statements\n${statementsText}# postings\n${postingsText}`,
  };
}

async function runOnce(
  kind: 'reference' | 'chaos',
  p: Plan,
  shared: { pg: Awaited<ReturnType<typeof startPostgres>>; dir: string; bundle: string },
): Promise<RunResult> {
  const started = Date.now();
  const faulty = kind === 'chaos';
  const chance = rng(seed * 7919 + (faulty ? 1 : 0));
  const between = (lo: number, hi: number) => lo + chance() * (hi - lo);
  const dbName = `chaos_${kind}`;
  await ensureDatabase(shared.pg.adminUrl, dbName);
  const dbUrl = withDatabase(shared.pg.adminUrl, dbName);
  await migrateUp(dbUrl);
  const temporal = await startTemporal(path.join(shared.dir, `${kind}-temporal.db`));
  const outside = await startOutside(p);
  const apiPort = await freePort();
  const env: Record<string, string> = {
    NODE_ENV: 'development',
    LOG_LEVEL: 'info',
    DATABASE_URL: dbUrl,
    TEMPORAL_ADDRESS: temporal.address,
    TASK_QUEUE_PREFIX: `chaos-${kind}-`,
    API_PORT: String(apiPort),
    API_PUBLIC_URL: `http://127.0.0.1:${apiPort}`,
    WORKER_METRICS_PORT: '0',
    WORKFLOW_BUNDLE_PATH: shared.bundle,
    DUE_DILIGENCE_URL: outside.dueDiligence.url,
    // The runner's own polling is not what is under test.
    RATE_LIMIT_PER_CREDENTIAL_PER_MINUTE: '0',
    RATE_LIMIT_FAILURES_PER_ADDRESS_PER_MINUTE: '0',
  };
  const config = loadConfig(env);
  const api = new ProductProcess('api', env);
  const worker = new ProductProcess('worker', env);
  await api.start();
  await worker.start();
  const client = apiClient(() => `http://127.0.0.1:${apiPort}`, config.api.operatorToken!);
  const token = (name: string, role: 'approver' | 'resolver') =>
    mintOperatorToken(config.api.operatorTokens, { name, roles: [role], ttlSeconds: 6 * 3600 });
  const approver = await token('chaos-approver-a', 'approver');
  const tokens = {
    resolver: await token('chaos-resolver', 'resolver'),
    approvers: [approver, await token('chaos-approver-b', 'approver')] as [string, string],
  };

  // The faults, each on its own clock, until the workload is done or its count is reached.
  let done = false;
  let phase = 'onboarding' as 'onboarding' | 'ingest' | 'settle';
  const providerFaults: Record<string, number> = { '5xx': 0, '429': 0, timeout: 0, truncated: 0 };
  let postgresRestarts = 0;
  let temporalRestarts = 0;
  const monkeys: Promise<void>[] = [];
  if (faulty) {
    monkeys.push(
      (async () => {
        while (!done && worker.kills < opts.workerKills) {
          await sleep(between(300, 2500));
          if (!done) await worker.killAndRestart();
        }
      })(),
      (async () => {
        while (!done && api.kills < opts.apiKills) {
          await sleep(between(1000, 4000));
          if (!done && phase !== 'onboarding') await api.killAndRestart();
        }
      })(),
      (async () => {
        // Transport faults a retry survives: at most FAULTS_PER_PARTNER bursts per partner, one
        // pending at a time, so a fetch never spends its whole retry budget on them (a provider
        // that stays down is another case: a named exception, tested in test/settlement.test.ts).
        const pending = new Map<string, Faults>();
        const used = new Map<string, number>();
        while (!done) {
          await sleep(between(500, 2500));
          if (phase !== 'settle') continue;
          const partner = p.partners[Math.floor(chance() * p.partners.length)]!;
          const current = pending.get(partner.id);
          const busy =
            current &&
            ((current.failNext ?? 0) > 0 ||
              (current.rateLimitNext ?? 0) > 0 ||
              (current.slowNext ?? 0) > 0 ||
              (current.cutNext ?? 0) > 0);
          if (busy || (used.get(partner.id) ?? 0) >= FAULTS_PER_PARTNER) continue;
          used.set(partner.id, (used.get(partner.id) ?? 0) + 1);
          const kind = (['5xx', '429', 'timeout', 'truncated'] as const)[Math.floor(chance() * 4)]!;
          const faults: Faults = {
            ...partner.dataFaults,
            ...(kind === '5xx'
              ? { failNext: 2 }
              : kind === '429'
                ? { rateLimitNext: 1 }
                : kind === 'timeout'
                  ? { slowNext: 1 }
                  : { cutNext: 1 }),
          };
          pending.set(partner.id, faults);
          outside.providers.get(partner.id)!.setFaults(faults);
          providerFaults[kind]! += kind === '5xx' ? 2 : 1;
        }
      })(),
    );
  }

  // 1. Onboarding, every partner at once.
  const keys = new Map<string, string>();
  const onboardings = new Map<string, string>();
  await Promise.all(
    p.partners.map(async (partner) => {
      const r = await onboard(client, partner, outside.providers.get(partner.id)!.url, approver);
      onboardings.set(partner.id, r.status);
      keys.set(partner.id, r.apiKey);
    }),
  );
  say(
    `${kind}: ${[...onboardings.values()].filter((s) => s === 'Active').length}/${p.partners.length} partners onboarded (${((Date.now() - started) / 1000).toFixed(1)} s)`,
  );

  // 2. Ingest, every partner at once; Postgres restarted once a third of the batches are in.
  phase = 'ingest';
  const acknowledged = new Map<string, string[]>();
  const batches = p.partners.reduce((n, x) => n + Math.ceil(x.transactions.length / BATCH), 0);
  let acked = 0;
  const pgRestart: { running: Promise<void> | null } = { running: null };
  await Promise.all(
    p.partners.map(async (partner) => {
      const key = keys.get(partner.id);
      if (!key) return;
      acknowledged.set(
        partner.id,
        await ingest(client, partner, key, () => {
          acked++;
          if (faulty && pgRestart.running === null && acked >= batches / 3) {
            pgRestart.running = shared.pg.restart(2000).then(() => void postgresRestarts++);
          }
        }),
      );
    }),
  );
  if (pgRestart.running) await pgRestart.running;
  const ackedCount = [...acknowledged.values()].reduce((n, ids) => n + ids.length, 0);
  say(`${kind}: ${ackedCount} transactions acknowledged (${((Date.now() - started) / 1000).toFixed(1)} s)`);

  // 3. The cycles, and the operators; Temporal restarted once, a few seconds in.
  phase = 'settle';
  const temporalRestart = faulty
    ? sleep(between(3000, 8000)).then(async () => {
        await temporal.restart(2000);
        temporalRestarts++;
      })
    : Promise.resolve();
  const cycles = await settle(client, p, tokens, 20 * 60_000);
  await temporalRestart;
  say(
    `${kind}: ${[...cycles.values()].filter((s) => s === 'Completed').length}/${cycles.size} cycles completed (${((Date.now() - started) / 1000).toFixed(1)} s)`,
  );
  const stmts = await statements(client, [...cycles.keys()]);
  done = true;
  await Promise.all(monkeys);

  // 4. What the database holds.
  const db = createPool({ db: { url: dbUrl, poolMax: 4 } });
  try {
    const ledger = await verifyLedger(db);
    const audit = await verifyAudit(db);
    const trial = await trialBalance(db);
    let lost = 0;
    let extraStored = 0;
    for (const partner of p.partners) {
      const ids = acknowledged.get(partner.id) ?? [];
      lost += (await missingTransactions(db, partner.id, ids)).length;
      extraStored += (await storedTransactionCount(db, partner.id)) - ids.length;
    }
    const digests = await moneyDigests(db, [...cycles.keys()]);
    const result: RunResult = {
      ...digests,
      statements: stmts,
      cycles,
      onboardings,
      postings: await ledgerPostings(db),
      balances: await accountBalances(db),
      ledgerOk: ledger.ok,
      auditOk: audit.ok,
      balanced: [...trial.values()].every((d) => d === 0n),
      acknowledged: ackedCount,
      lost,
      extraStored,
      workerKills: worker.kills,
      apiKills: api.kills,
      postgresRestarts,
      temporalRestarts,
      providerFaults,
      retried: client.retried,
      unexpectedExits: [...api.unexpectedExits, ...worker.unexpectedExits],
      seconds: (Date.now() - started) / 1000,
    };
    return result;
  } finally {
    await db.end();
    await api.stop();
    await worker.stop();
    await outside.close();
    await temporal.stop();
  }
}

function runFuzz(): { fuzzRequests: number | null; fuzz5xx: number | null } {
  if (opts.fuzzPerOperation <= 0) return { fuzzRequests: null, fuzz5xx: null };
  const run = spawnSync(
    process.execPath,
    [
      path.join(__dirname, '..', 'node_modules/jest/bin/jest.js'),
      'test/api-fuzz.test.ts',
      '-t',
      'hostile requests',
    ],
    {
      cwd: path.join(__dirname, '..'),
      encoding: 'utf8',
      maxBuffer: 256 * 1024 * 1024, // jest's report and the services' logs
      env: { ...process.env, FUZZ_SEED: String(seed), FUZZ_PER_OPERATION: String(opts.fuzzPerOperation) },
    },
  );
  const line = `${run.stdout}`.split('\n').find((l) => l.includes('"fuzzRequests"'));
  if (!line) {
    say(`the API fuzz run printed no figures (exit ${run.status}): ${`${run.stderr}`.slice(-2000)}`);
    return { fuzzRequests: 0, fuzz5xx: null };
  }
  const parsed = JSON.parse(line.slice(line.indexOf('{'))) as { fuzzRequests: number; fuzz5xx: number };
  return { fuzzRequests: parsed.fuzzRequests, fuzz5xx: parsed.fuzz5xx };
}

async function main(): Promise<void> {
  const started = Date.now();
  const p = plan({ seed, partners: opts.partners, days: opts.days, txPerDay: opts.txPerDay });
  say(
    `chaos run, seed ${seed}: ${p.partners.length} partners × ${p.days.length} days × ${opts.txPerDay} transactions; ` +
      `faults: ${opts.workerKills} worker kills, ${opts.apiKills} API kills, a Postgres and a Temporal restart, provider 5xx/429/timeouts/cut pages`,
  );
  // Owned here (not DATABASE_URL): a run restarts its Postgres. Readable by the postgres user
  // when run as root.
  const dir = mkdtempSync(path.join(tmpdir(), 'clearhouse-chaos-'));
  chmodSync(dir, 0o755);
  const pg = await startPostgres(path.join(dir, 'pg'));
  try {
    const bundle = path.join(dir, 'workflow-bundle.js');
    writeFileSync(bundle, (await bundleWorkflows()).code);
    const shared = { pg, dir, bundle };
    const reference = await runOnce('reference', p, shared);
    const chaos = await runOnce('chaos', p, shared);

    // Entries by idempotency key: one posted twice shows as a key the reference lacks.
    const duplicatePostings = [...chaos.postings.keys()].filter((k) => !reference.postings.has(k)).length;
    const missingPostings = [...reference.postings.keys()].filter((k) => !chaos.postings.has(k)).length;
    const differing = [...reference.statements]
      .filter(([id, h]) => chaos.statements.get(id) !== h)
      .map(([id]) => id);
    const balancesDiffering = [...new Set([...reference.balances.keys(), ...chaos.balances.keys()])].filter(
      (code) => reference.balances.get(code) !== chaos.balances.get(code),
    );
    // The same entry (key) moving other amounts or accounts than in the fault-free run.
    const postingsDiffering = [...reference.postings].filter(([k, lines]) => chaos.postings.get(k) !== lines);
    const workflowsTotal = chaos.cycles.size + chaos.onboardings.size;
    const workflowsCompleted =
      [...chaos.cycles.values()].filter((s) => s === 'Completed').length +
      [...chaos.onboardings.values()].filter((s) => s === 'Active').length;
    const fuzz = runFuzz();
    say(`reference run: ${reference.seconds.toFixed(1)} s; chaos run: ${chaos.seconds.toFixed(1)} s`);
    say(`retried by clients in the chaos run: ${JSON.stringify(chaos.retried)}`);
    say(`provider faults injected: ${JSON.stringify(chaos.providerFaults)}`);
    say(
      `money digests, chaos run: statements ${chaos.statementsDigest}, postings ${chaos.postingsDigest} ` +
        `(${chaos.statementsDigest === reference.statementsDigest && chaos.postingsDigest === reference.postingsDigest ? 'the same as' : 'NOT the same as'} the reference run's)`,
    );
    if (args['digest-dump']) writeFileSync(args['digest-dump'], reference.canonical);
    for (const id of differing)
      say(
        `statement ${id} differs: ${statementDifference(reference.statements.get(id)!, chaos.statements.get(id) ?? 'missing')}`,
      );
    for (const [k, lines] of postingsDiffering.slice(0, 10))
      say(`ledger entry ${k} differs: ${lines} vs ${chaos.postings.get(k) ?? 'absent'}`);
    if (balancesDiffering.length)
      say(`account balances that differ: ${balancesDiffering.slice(0, 10).join(', ')}`);
    for (const [id, s] of chaos.cycles) if (s !== 'Completed') say(`cycle ${id} ended ${s}`);
    for (const line of chaos.unexpectedExits) say(`unexpected exit: ${line}`);
    const summary = {
      seed,
      short,
      kills: chaos.workerKills + chaos.apiKills,
      workerKills: chaos.workerKills,
      apiKills: chaos.apiKills,
      postgresRestarts: chaos.postgresRestarts,
      temporalRestarts: chaos.temporalRestarts,
      providerFaults: Object.values(chaos.providerFaults).reduce((a, b) => a + b, 0),
      workflowsCompleted,
      workflowsTotal,
      duplicatePostings,
      missingPostings,
      ledgerBalanced: chaos.balanced,
      postingsIdentical: postingsDiffering.length === 0 && balancesDiffering.length === 0,
      hashChainsVerified: chaos.ledgerOk && chaos.auditOk,
      statementsIdentical: differing.length === 0 && chaos.statements.size === reference.statements.size,
      statements: chaos.statements.size,
      acknowledged: chaos.acknowledged,
      lostAcknowledged: chaos.lost,
      storedUnacknowledged: chaos.extraStored,
      unexpectedExits: chaos.unexpectedExits.length,
      fuzzRequests: fuzz.fuzzRequests,
      fuzz5xx: fuzz.fuzz5xx,
      statementsDigest: reference.statementsDigest,
      postingsDigest: reference.postingsDigest,
      seconds: Math.round((Date.now() - started) / 1000),
    };
    const ok =
      workflowsCompleted === workflowsTotal &&
      duplicatePostings === 0 &&
      missingPostings === 0 &&
      summary.ledgerBalanced &&
      summary.postingsIdentical &&
      summary.hashChainsVerified &&
      summary.statementsIdentical &&
      summary.lostAcknowledged === 0 &&
      (fuzz.fuzz5xx ?? 0) === 0;
    say(JSON.stringify(summary));
    process.exitCode = ok ? 0 : 2;
  } finally {
    await pg.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(
    `chaos run failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  process.exit(1);
});
