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
import {
  afterPlan,
  afterSettlement,
  deltaInLedger,
  latestVersions,
  restatementRetries,
  unalias,
  type AfterResult,
  type HoldPosting,
} from './chaos/after';
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
// cutting pages off. Once the cycles have completed, each run closes a month, restates a few
// cycles (a manual tier-fee credit, and a dispute decided accept_in_part, which requests its
// own restatement), approves each restatement with two approvers and waits for it to be posted;
// the faulty run SIGKILLs the worker while they compute and post (scripts/chaos/after.ts).
// Then every workflow must have completed and every restatement be posted, the ledger balance
// and its hash chains verify, no posting be made twice (each restatement's delta entries in the
// ledger exactly once, as its stored delta journal has them), no acknowledged transaction be
// lost, and every statement (and each restated cycle's latest version) be byte-identical to the
// reference's. Prints the figures; the last line is one JSON object. Exit code 0 when every
// check holds. That object's statementsDigest and postingsDigest fingerprint the reference
// run's settlement money (see moneyDigests), taken before the restatements (their delta is
// dated today): the same seed must give the same digests on any version of the code that does
// not change money.

const { values: args } = parseArgs({
  options: {
    seed: { type: 'string', default: process.env.CHAOS_SEED ?? '1' },
    short: { type: 'boolean', default: false },
    partners: { type: 'string' },
    days: { type: 'string' },
    tx: { type: 'string' },
    'worker-kills': { type: 'string' },
    'api-kills': { type: 'string' },
    /** Worker kills at random moments while restatements compute and post (after the cycles). */
    'restatement-kills': { type: 'string' },
    /**
     * Skips the kill of the worker inside a restatement's posting transaction (it costs the
     * activity's 5-minute start-to-close timeout before the retry).
     */
    'no-held-kill': { type: 'boolean', default: false },
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
  restatementKills: Number(args['restatement-kills'] ?? (short ? 2 : 4)),
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
  /** After the cycles: the month closed, the restatements and disputes (scripts/chaos/after.ts). */
  after: AfterResult;
  /** Each restated cycle's latest statement version (number and bytes), by settlement id. */
  restated: Map<string, string>;
  delta: Awaited<ReturnType<typeof deltaInLedger>>;
  restatementKills: number;
  heldKill: string;
  /** What the kills did to the restatement workflows (retried activities, workflow tasks). */
  retries: Awaited<ReturnType<typeof restatementRetries>>;
  afterSeconds: number;
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

  const db = createPool({ db: { url: dbUrl, poolMax: 4 } });
  try {
    // The settlement's money, before anything restates it (the digests RELIABILITY.md records).
    const digests = await moneyDigests(db, [...cycles.keys()]);

    // 4. After the cycles: a month closed, restatements and a dispute decided in part, the
    // worker SIGKILLed (faulty run) while restatements compute and post.
    const afterStarted = Date.now();
    let restatementKills = 0;
    const planned = { computing: 0, posting: 0 };
    const kills: Promise<void>[] = [];
    // One kill inside a posting transaction, for certain: the runner holds the partner's money
    // lock while the last approval goes in, so postRestatement waits on it in its transaction;
    // the worker is killed then, and the lock let go. Its retry (after the activity's
    // start-to-close timeout) must post the delta once.
    let heldKill: 'none' | 'in the posting transaction' | 'missed' = 'none';
    const holdPosting: HoldPosting | undefined =
      faulty && !args['no-held-kill']
        ? async (partnerId) => {
            if (heldKill !== 'none') return null;
            heldKill = 'missed';
            const lockKey = `clearhouse:accrual:${partnerId}`;
            const c = await db.connect();
            await c.query(`SELECT pg_advisory_lock(hashtext($1))`, [lockKey]);
            return async (approved) => {
              try {
                for (let until = Date.now() + 60_000; approved && Date.now() < until;) {
                  const { rows } = await c.query<{ n: number }>(
                    `SELECT count(*)::int AS n FROM pg_stat_activity
                      WHERE wait_event_type = 'Lock' AND wait_event = 'advisory' AND query LIKE '%pg_advisory_xact_lock%'`,
                  );
                  if (rows[0]!.n > 0) {
                    await worker.killAndRestart();
                    restatementKills++;
                    heldKill = 'in the posting transaction';
                    break;
                  }
                  await sleep(50);
                }
              } finally {
                await c.query(`SELECT pg_advisory_unlock(hashtext($1))`, [lockKey]);
                c.release();
              }
            };
          }
        : undefined;
    const after = await afterSettlement(client, afterPlan(p), {
      seed,
      tokens,
      partnerKeys: keys,
      deadlineMs: 15 * 60_000,
      holdPosting,
      onStep: (step) => {
        const quota =
          step === 'computing' ? Math.ceil(opts.restatementKills / 2) : Math.floor(opts.restatementKills / 2);
        if (!faulty || planned[step] >= quota) return;
        planned[step]++;
        kills.push(
          sleep(step === 'computing' ? between(50, 800) : between(20, 400))
            .then(() => worker.killAndRestart())
            .then(() => void restatementKills++),
        );
      },
    });
    await Promise.all(kills);
    const afterSeconds = (Date.now() - afterStarted) / 1000;
    say(
      `${kind}: ${after.restatements.filter((r) => r.state === 'posted').length}/${after.restatements.length} restatements posted, ` +
        `${after.disputes.length} dispute(s), ${after.periods.filter((x) => x.state === 'closed').length}/${after.periods.length} month(s) closed, ` +
        `${restatementKills} worker kills among them, one held: ${heldKill} (${afterSeconds.toFixed(1)} s; ${((Date.now() - started) / 1000).toFixed(1)} s)`,
    );

    // 5. What the database holds.
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
    // Keys and codes with the ids that differ between runs for the same change named stably.
    const stable = <V>(m: Map<string, V>) =>
      new Map([...m].map(([k, v]) => [unalias(k, after.aliases), v] as const));
    const postings = stable(await ledgerPostings(db));
    for (const [k, v] of postings) postings.set(k, unalias(v, after.aliases));
    const result: RunResult = {
      ...digests,
      statements: stmts,
      cycles,
      onboardings,
      postings,
      balances: stable(await accountBalances(db)),
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
      after,
      restated: await latestVersions(
        db,
        after.restatements.map((r) => r.settlementId),
        after.aliases,
      ),
      delta: await deltaInLedger(
        db,
        after.restatements.map((r) => r.id),
      ),
      restatementKills,
      heldKill,
      retries: await restatementRetries(
        temporal.address,
        after.restatements.map((r) => r.id),
      ),
      afterSeconds,
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
    // After the cycles: every restatement posted, its delta in the ledger exactly once, the
    // restated statements' latest versions byte-identical to the reference's.
    const restatedDiffering = [...new Set([...reference.restated.keys(), ...chaos.restated.keys()])].filter(
      (id) => reference.restated.get(id) !== chaos.restated.get(id),
    );
    for (const run of [reference, chaos]) {
      const name = run === chaos ? 'chaos' : 'reference';
      for (const r of run.after.restatements)
        if (r.state !== 'posted')
          say(`${name}: restatement ${r.id} (${r.label}) ended ${r.state}: ${r.detail ?? ''}`);
      for (const line of run.delta.mismatched)
        say(`${name}: restatement delta not in the ledger once: ${line}`);
      for (const x of run.after.periods)
        if (x.state !== 'closed')
          say(`${name}: period ${x.partnerId} ${x.month} ended ${x.state}: ${JSON.stringify(x.blockers)}`);
    }
    for (const id of restatedDiffering)
      say(
        `restated statement ${id} differs: ${(reference.restated.get(id) ?? 'missing').slice(0, 300)} vs ${(chaos.restated.get(id) ?? 'missing').slice(0, 300)}`,
      );
    const allPosted = (r: RunResult) =>
      r.after.restatements.length > 0 && r.after.restatements.every((x) => x.state === 'posted');
    const allClosed = (r: RunResult) => r.after.periods.every((x) => x.state === 'closed');
    say(
      `after the cycles: reference ${reference.afterSeconds.toFixed(1)} s, chaos ${chaos.afterSeconds.toFixed(1)} s; ` +
        `restatements ${chaos.after.restatements.map((r) => `${r.label} ${r.state}`).join(', ')}; ` +
        `delta entries: journals ${chaos.delta.journalEntries}, ledger ${chaos.delta.ledgerEntries}; ` +
        `in the chaos run's restatement workflows, activities retried: ${chaos.retries.activityRetries.join(', ') || 'none'}, ` +
        `workflow tasks timed out or failed: ${chaos.retries.workflowTaskRetries}`,
    );
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
      restatements: chaos.after.restatements.length,
      restatementsPosted: chaos.after.restatements.filter((r) => r.state === 'posted').length,
      restatementKills: chaos.restatementKills,
      restatementKilledInPosting: chaos.heldKill === 'in the posting transaction',
      restatementActivityRetries: chaos.retries.activityRetries.length,
      restatementWorkflowTaskRetries: chaos.retries.workflowTaskRetries,
      restatementDeltaEntries: chaos.delta.ledgerEntries,
      restatementDeltaJournalEntries: chaos.delta.journalEntries,
      restatementDeltaMismatches: chaos.delta.mismatched.length + reference.delta.mismatched.length,
      restatedStatementsIdentical:
        restatedDiffering.length === 0 &&
        chaos.restated.size === new Set(chaos.after.restatements.map((r) => r.settlementId)).size,
      disputes: chaos.after.disputes.length,
      disputesPartlyAccepted: chaos.after.disputes.filter((d) => d.state === 'partly_accepted').length,
      periodsClosed: chaos.after.periods.filter((x) => x.state === 'closed').length,
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
      allPosted(reference) &&
      allPosted(chaos) &&
      allClosed(reference) &&
      allClosed(chaos) &&
      summary.restatementDeltaMismatches === 0 &&
      summary.restatedStatementsIdentical &&
      summary.restatementsPosted === reference.after.restatements.length &&
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
