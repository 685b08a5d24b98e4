import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { activatePartner, recordContractVersion, registerPartner, storeApiKeyHash } from '../db/partners';
import { createPool } from '../db/pool';
import type { CycleRequester } from '../db/settlement';
import { startPlannedCycle } from '../services/cycles';
import { createCurrencyRegistry, formatAmount } from '../domain/money';
import { issueApiKey } from '../platform/credentials';
import { generateDay, toIngestItem } from '../providers/simulated/generator';
import { differenceKey, plantDifferences } from '../providers/simulated/planted';
import { sourceAggregates } from '../db/accruals';
import {
  reportPartitions,
  reportTotals,
  theirAggregates,
  transactionsForKeys,
  transactionTypes,
} from '../db/reports';
import { differingKeys } from '../domain/reconciliation';
import { cpuSeconds, cpuSpentByCommand, descendantCpu, peakRssMb, resetPeakRss } from './bench/proc';
import { freePort, log, ROOT, startServices } from './bench/services';

// `npm run bench:settle`: BENCH_PARTNERS (100) partners × BENCH_TX (100,000) transactions pushed
// through the API, then every partner's settlement cycle run to completion on the real worker
// (reports from an aggregator simulator, format c); then a second mode with
// BENCH_SMALL_PARTNERS (1,000) small partners. Last line: one JSON object.
//
// `-- --report json-cursor` or `-- --report csv-daily`: the transaction-level benchmark instead.
// Each partner's provider (a real HTTP server in a child process, scripts/bench/report-providers.ts)
// reports the same transactions one row each, with 0.01 % altered, missing and extra rows
// planted; the timed phase is every cycle fetching, storing and reconciling its whole report,
// until every cycle waits for operators (AwaitingResolution) with exactly the planted
// differences as its exceptions. No small mode there.
const REPORT_FORMATS = ['aggregator-totals', 'json-cursor', 'csv-daily'] as const;
type ReportFormat = (typeof REPORT_FORMATS)[number];
function reportFormatArg(): ReportFormat {
  const i = process.argv.indexOf('--report');
  const value =
    i >= 0
      ? process.argv[i + 1]
      : (process.argv.find((a) => a.startsWith('--report='))?.slice(9) ?? 'aggregator-totals');
  if (!REPORT_FORMATS.includes(value as ReportFormat))
    throw new Error(`--report must be one of ${REPORT_FORMATS.join(', ')} (got ${value})`);
  return value as ReportFormat;
}
const REPORT = reportFormatArg();
/** Rows per page the worker asks for (REPORT_PAGE_ROWS) and the simulated json-cursor provider serves. */
const PAGE_ROWS = Number(process.env.REPORT_PAGE_ROWS ?? 10_000);
/** How long the transaction-level phase may take before the benchmark gives up. */
const SETTLE_TIMEOUT_MS = 30 * 60_000;
const PARTNERS = Number(process.env.BENCH_PARTNERS ?? 100);
const TX_PER_PARTNER = Number(process.env.BENCH_TX ?? 100_000);
const SMALL_PARTNERS = Number(process.env.BENCH_SMALL_PARTNERS ?? 1000);
const SMALL_TX = 20;
const DAY = '2026-11-20';
const INGEST_CONCURRENCY = 8;
const BATCH = 1000;
/** Who plans the bench's cycles (an operator's actor key, as the API records one). */
const REQUESTER: CycleRequester = { actor: 'clearhouse#bench', name: 'bench', plannedBy: 'api' };

interface Totals {
  [key: string]: {
    date: string;
    game: string;
    currency: string;
    bet_count: number;
    bets: bigint;
    wins: bigint;
  };
}

async function main(): Promise<void> {
  const services = await startServices({ temporal: true });
  // 1,000 cycles planned at once queue for these 4 connections: they wait, not time out.
  const db = createPool(
    { db: { url: services.databaseUrl, poolMax: 4 } },
    { connectionTimeoutMillis: 120_000 },
  );
  const children: ChildProcess[] = [];
  const currencies = createCurrencyRegistry();
  const totalsByPartner = new Map<string, Totals>();

  // The aggregator simulator for every bench partner: GET /p/<partnerId>/v2/totals.
  const aggregator = createServer((req, res) => {
    const m = /^\/p\/([^/]+)\/v2\/totals/.exec(req.url ?? '');
    const totals = m ? totalsByPartner.get(m[1]!) : undefined;
    res.writeHead(totals ? 200 : 404, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify(
        totals
          ? {
              page: 1,
              total_pages: 1,
              totals: Object.values(totals).map((t) => ({
                ...t,
                bets: formatAmount(t.bets, 2),
                wins: formatAmount(t.wins, 2),
              })),
            }
          : { error: 'unknown partner' },
      ),
    );
  });
  await new Promise<void>((r) => aggregator.listen(0, '127.0.0.1', r));
  const aggregatorUrl = `http://127.0.0.1:${(aggregator.address() as AddressInfo).port}`;

  const env = {
    ...process.env,
    NODE_ENV: 'development', // a benchmark runs on the development defaults
    DATABASE_URL: services.databaseUrl,
    TEMPORAL_ADDRESS: services.temporalAddress,
    LOG_LEVEL: 'warn',
    DATABASE_POOL_MAX: '12',
  };
  const apiPort = await freePort();
  children.push(
    spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'api/main.ts')], {
      env: { ...env, API_PORT: String(apiPort), API_HOST: '127.0.0.1' },
      stdio: 'inherit',
    }),
  );
  // BENCH_WORKER_PROFILE=<dir>: a V8 CPU profile of the worker, written when it stops.
  const profile = process.env.BENCH_WORKER_PROFILE
    ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(process.env.BENCH_WORKER_PROFILE)}`]
    : [];
  // BENCH_WORKER_FLAGS: V8 flags for the worker (e.g. --max-old-space-size=256), to see its live set.
  const workerFlags = (process.env.BENCH_WORKER_FLAGS ?? '').split(' ').filter(Boolean);
  // The workflow bundle is built ahead, in its own process, as a deployment builds it at image
  // build (WORKFLOW_BUNDLE_PATH): the worker measured is the one that runs, not webpack.
  const bundlePath = path.join(services.workDir, 'workflow-bundle.js');
  await new Promise<void>((resolve, reject) =>
    spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'scripts/bundle-workflows.ts'), bundlePath], {
      stdio: ['ignore', 'ignore', 'inherit'],
    }).once('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`bundle:workflows exited ${code}`)),
    ),
  );
  children.push(
    spawn(
      process.execPath,
      [
        ...profile,
        ...workerFlags,
        ...(process.env.BENCH_WORKER_DIST
          ? [path.join(path.resolve(process.env.BENCH_WORKER_DIST), 'workers/main.js')]
          : ['--import', 'tsx', path.join(ROOT, 'workers/main.ts')]),
      ],
      {
        env: { ...env, WORKER_METRICS_PORT: String(await freePort()), WORKFLOW_BUNDLE_PATH: bundlePath },
        stdio: 'inherit',
      },
    ),
  );
  const [apiProcess, workerProcess] = children as [ChildProcess, ChildProcess];
  // The transaction-level mode's providers, started now: they build their pages while ingest runs.
  const providers =
    REPORT === 'aggregator-totals'
      ? null
      : spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'scripts/bench/report-providers.ts')], {
          env: {
            ...process.env,
            BENCH_REPORT: REPORT,
            BENCH_PARTNERS: String(PARTNERS),
            BENCH_TX: String(TX_PER_PARTNER),
            BENCH_DAY: DAY,
            BENCH_PARTNER_PREFIX: 'bench-big',
            BENCH_PAGE_ROWS: String(PAGE_ROWS),
          },
          stdio: ['ignore', 'pipe', 'inherit'],
        });
  const providerUrls = providers
    ? new Promise<Record<string, string>>((resolve, reject) => {
        let buffered = '';
        providers.stdout.on('data', (chunk: Buffer) => {
          buffered += chunk.toString();
          const m = /^ready (.*)$/m.exec(buffered);
          if (m) resolve(JSON.parse(m[1]!) as Record<string, string>);
        });
        providers.once('exit', (code) => reject(new Error(`the report providers exited (${code})`)));
      })
    : null;
  // Not an unhandled rejection while ingest runs: awaited (and thrown) where it is needed.
  providerUrls?.catch(() => undefined);
  const apiUrl = `http://127.0.0.1:${apiPort}`;
  for (
    let i = 0;
    !(await fetch(`${apiUrl}/readyz`).then(
      (r) => r.ok,
      () => false,
    ));
    i++
  ) {
    if (i > 300) throw new Error('API not ready');
    await new Promise((r) => setTimeout(r, 200));
  }
  const connection = await Connection.connect({ address: services.temporalAddress! });
  const client = new Client({ connection });

  async function createPartners(
    prefix: string,
    n: number,
    withAggregator = true,
  ): Promise<{ id: string; key: string }[]> {
    const out: { id: string; key: string }[] = [];
    for (let i = 0; i < n; i++) {
      const id = `${prefix}-${i}`;
      const key = issueApiKey();
      await registerPartner(db, {
        id,
        name: id,
        kind: 'provider',
        timezone: 'UTC',
        settlementCurrency: 'EUR',
      });
      await storeApiKeyHash(db, id, key.keyId, key.hash);
      await activatePartner(db, id);
      // In force at once (as an approved application's version 1 is): only approved versions
      // settle. No grace and no payout approval, so that every cycle runs straight through.
      await recordContractVersion(db, {
        partnerId: id,
        version: 1,
        effectiveFrom: '2026-01-01',
        terms: {
          base: 'ggr',
          tiers: [{ upToMinor: null, rate: '0.10' }],
          tierMode: 'marginal',
          minimumGuaranteeMinor: '0',
          fixedFeeMinor: '0',
          categoryRates: {},
          negativeBase: 'carry_forward',
          jackpots: 'exclude',
          taxWithholdingRate: '0',
          settlement: {
            period: 'daily',
            cutoffGraceMinutes: 0,
            payoutApprovalThresholdMinor: '100000000000000',
          },
        },
      });
      if (withAggregator)
        await db.query(
          `INSERT INTO partner_providers (partner_id, format, base_url, options) VALUES ($1, 'aggregator-totals', $2, '{"timezone": "UTC"}')`,
          [id, `${aggregatorUrl}/p/${id}`],
        );
      out.push({ id, key: key.plaintext });
    }
    return out;
  }

  async function ingest(partners: { id: string; key: string }[], txPerPartner: number): Promise<number> {
    let sent = 0;
    const queue = partners.slice();
    await Promise.all(
      Array.from({ length: INGEST_CONCURRENCY }, async () => {
        for (let p = queue.shift(); p; p = queue.shift()) {
          const txs = generateDay(p.id, DAY, txPerPartner);
          const totals: Totals = {};
          for (const t of txs) {
            const k = `${t.gameId}|${t.currency}`;
            const agg = (totals[k] ??= {
              date: DAY,
              game: t.gameId,
              currency: t.currency,
              bet_count: 0,
              bets: 0n,
              wins: 0n,
            });
            if (t.type === 'bet') {
              agg.bet_count++;
              agg.bets += t.amountMinor;
            } else agg.wins += t.amountMinor;
          }
          totalsByPartner.set(p.id, totals);
          for (let i = 0; i < txs.length; i += BATCH) {
            const res = await fetch(`${apiUrl}/v1/transactions`, {
              method: 'POST',
              headers: { 'content-type': 'application/json', authorization: `Bearer ${p.key}` },
              body: JSON.stringify({
                batchId: `bench-${i / BATCH}`,
                transactions: txs.slice(i, i + BATCH).map((t) => toIngestItem(t)),
              }),
            });
            if (res.status !== 200) throw new Error(`ingest ${p.id}: ${res.status} ${await res.text()}`);
            sent += Math.min(BATCH, txs.length - i);
          }
        }
      }),
    );
    return sent;
  }

  async function settle(partners: { id: string }[]): Promise<number> {
    const t0 = Date.now();
    const handles = await Promise.all(
      partners.map(async (p) => {
        // Planned, then started, as the API starts a cycle (the workflow refuses one without a plan).
        return startPlannedCycle(
          { db, temporal: client, currencies, taskQueue: 'settlement' },
          {
            partnerId: p.id,
            periodStart: DAY,
            requester: REQUESTER,
            process: { reminderIntervalMs: 3_600_000 },
          },
        );
      }),
    );
    const results = await Promise.all(handles.map((h) => h.result()));
    const notCompleted = results.filter((r) => r.status !== 'Completed' || r.exceptions.length > 0).length;
    if (notCompleted) throw new Error(`${notCompleted} cycles did not complete cleanly`);
    return (Date.now() - t0) / 1000;
  }

  /**
   * The transaction-level benchmark: ingest as in the large mode, then every cycle fetching,
   * storing and reconciling its provider's whole report, transaction by transaction.
   */
  async function transactionLevel(format: 'json-cursor' | 'csv-daily'): Promise<void> {
    log(`transaction-level mode (${format}): ${PARTNERS} partners × ${TX_PER_PARTNER} transactions`);
    const big = await createPartners('bench-big', PARTNERS, false);
    const t = Date.now();
    const transactions = await ingest(big, TX_PER_PARTNER);
    const ingestSeconds = (Date.now() - t) / 1000;
    log(
      `ingested ${transactions} transactions in ${ingestSeconds.toFixed(1)} s (${Math.round(transactions / ingestSeconds)} tx/s)`,
    );

    // What must be found: the planted differences, computed as the providers planted them.
    const expected = new Set<string>();
    let reportRows = 0;
    for (const p of big) {
      const txs = generateDay(p.id, DAY, TX_PER_PARTNER);
      const { expected: planted } = plantDifferences(p.id, txs);
      for (const d of planted) expected.add(differenceKey(d));
      // Their report: every row, less the missing, plus the extra.
      reportRows += txs.length;
    }
    // What ingest leaves behind (10M fresh rows for autovacuum, dirty buffers for the next
    // checkpoint) is done now, not inside the timed phase: through the day it would be.
    log(`vacuum and checkpoint after ingest`);
    await db.query('VACUUM (ANALYZE) game_transactions, positions');
    await db.query('CHECKPOINT');
    log(`waiting for the providers to have built their pages`);
    const urls = await providerUrls!;
    for (const p of big)
      await db.query(
        `INSERT INTO partner_providers (partner_id, format, base_url, options) VALUES ($1, $2, $3, $4)`,
        [p.id, format, urls[p.id], format === 'csv-daily' ? '{"timezone": "UTC"}' : '{}'],
      );
    const providerPid = providers!.pid!;
    // Peaks of the whole run so far (the worker's start bundles the workflow code), then reset:
    // the figures reported are the timed phase's own peaks.
    const startPeaks = { worker: peakRssMb(workerProcess.pid!), api: peakRssMb(apiProcess.pid!) };
    const peaksReset = resetPeakRss(workerProcess.pid!) && resetPeakRss(apiProcess.pid!);
    const cpuBefore = {
      provider: cpuSeconds(providerPid),
      worker: cpuSeconds(workerProcess.pid!),
      api: cpuSeconds(apiProcess.pid!),
      byPid: descendantCpu(process.pid),
    };

    // The timed phase: started as the API starts cycles, ended when every cycle waits for operators.
    const t0 = Date.now();
    const handles = await Promise.all(
      big.map((p) =>
        startPlannedCycle(
          { db, temporal: client, currencies, taskQueue: 'settlement' },
          {
            partnerId: p.id,
            periodStart: DAY,
            requester: REQUESTER,
            process: { reminderIntervalMs: 3_600_000 },
          },
        ),
      ),
    );
    const cycleIds = handles.map((h) => h.workflowId);
    let lastLog = 0;
    for (;;) {
      const { rows } = await db.query<{ status: string; n: number }>(
        'SELECT status, count(*)::int AS n FROM settlement_cycles WHERE id = ANY ($1) GROUP BY status ORDER BY status',
        [cycleIds],
      );
      const by = Object.fromEntries(rows.map((r) => [r.status, r.n]));
      if ((by.AwaitingResolution ?? 0) === cycleIds.length) break;
      const wrong = Object.keys(by).filter((s) => ['Completed', 'Failed', 'Cancelled'].includes(s));
      if (wrong.length)
        throw new Error(`cycles ended instead of waiting for operators: ${JSON.stringify(by)}`);
      if (Date.now() - t0 > SETTLE_TIMEOUT_MS)
        throw new Error(`cycles still running after 30 min: ${JSON.stringify(by)}`);
      if (Date.now() - lastLog > 5_000) {
        lastLog = Date.now();
        log(
          `${((Date.now() - t0) / 1000).toFixed(0)} s: ${JSON.stringify(by)}; worker RSS ${peakRssMb(workerProcess.pid!, 'VmRSS')} MB`,
        );
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    const settleSeconds = (Date.now() - t0) / 1000;
    const cpuAfter = {
      provider: cpuSeconds(providerPid),
      worker: cpuSeconds(workerProcess.pid!),
      api: cpuSeconds(apiProcess.pid!),
      byPid: descendantCpu(process.pid),
    };
    log(`every cycle awaits resolution after ${settleSeconds.toFixed(1)} s`);

    // Exactly the planted set, compared as (partner, transaction, kind).
    const { rows: found } = await db.query<{ partner_id: string; tx_id: string | null; kind: string }>(
      `SELECT c.partner_id, e.tx_id, e.kind FROM settlement_exceptions e JOIN settlement_cycles c ON c.id = e.cycle_id
        WHERE e.cycle_id = ANY ($1)`,
      [cycleIds],
    );
    const foundKeys = new Set(
      found.map((r) => differenceKey({ partnerId: r.partner_id, txId: r.tx_id, kind: r.kind })),
    );
    const unexpected = [...foundKeys].filter((k) => !expected.has(k));
    const notFound = [...expected].filter((k) => !foundKeys.has(k));
    if (unexpected.length || notFound.length || found.length !== foundKeys.size)
      throw new Error(
        `exceptions differ from the planted set: ${found.length} found (${foundKeys.size} distinct), ${expected.size} planted; ` +
          `unexpected ${JSON.stringify(unexpected.slice(0, 10))}; not found ${JSON.stringify(notFound.slice(0, 10))}`,
      );
    log(`found exactly the ${expected.size} planted differences`);
    const stored = await db.query<{ n: string }>(
      'SELECT count(*)::text AS n FROM provider_report_rows WHERE cycle_id = ANY ($1)',
      [cycleIds],
    );
    const storedRows = Number(stored.rows[0]!.n);
    const partitions = await reportPartitions(db);
    const reportBytes = partitions.reduce((sum, p) => sum + p.bytes, 0);
    const split = await db.query<{ heap: string; indexes: string }>(
      `SELECT coalesce(sum(pg_table_size(i.inhrelid)), 0)::text AS heap, coalesce(sum(pg_indexes_size(i.inhrelid)), 0)::text AS indexes
         FROM pg_inherits i WHERE i.inhparent = 'provider_report_rows'::regclass`,
    );
    const workerPeakRssMb = peakRssMb(workerProcess.pid!);
    const apiPeakRssMb = peakRssMb(apiProcess.pid!);

    // BENCH_EXPLAIN=1: each read reconciliation makes of one cycle, timed on its own after the
    // phase, with its plan (auto_explain's notices): what the Postgres side of a cycle costs.
    if (process.env.BENCH_EXPLAIN) await explainOneCycle(services.databaseUrl, cycleIds[0]!, big[0]!.id);

    // The cycles wait for operators: ended here (resolving them is not what this measures).
    for (let i = 0; i < handles.length; i += 20)
      await Promise.all(
        handles.slice(i, i + 20).map((h) => h.terminate('bench:settle done').catch(() => undefined)),
      );

    const cpu = (k: 'provider' | 'worker' | 'api') => Number((cpuAfter[k] - cpuBefore[k]).toFixed(1));
    const spent = cpuSpentByCommand(cpuBefore.byPid, cpuAfter.byPid);
    const byCommand = (name: string) => Number((spent[name] ?? 0).toFixed(1));
    process.stdout.write(
      `${JSON.stringify({
        report: format,
        settleSeconds: Number(settleSeconds.toFixed(1)),
        reportRowsPerSec: Math.round(storedRows / settleSeconds),
        reportRowsStored: storedRows,
        exceptionsExpected: expected.size,
        exceptionsFound: found.length,
        workerPeakRssMb,
        apiPeakRssMb,
        // Peaks of the phase only when the reset worked; else of the whole process life.
        peakRssOfPhaseOnly: peaksReset,
        workerPeakRssMbBeforePhase: startPeaks.worker,
        apiPeakRssMbBeforePhase: startPeaks.api,
        providerCpuSeconds: cpu('provider'),
        workerCpuSeconds: cpu('worker'),
        apiCpuSeconds: cpu('api'),
        postgresCpuSeconds: byCommand('postgres'),
        temporalCpuSeconds: byCommand('temporal'),
        reportDiskBytes: reportBytes,
        reportHeapBytes: Number(split.rows[0]!.heap),
        reportIndexBytes: Number(split.rows[0]!.indexes),
        reportPartitions: partitions.map((p) => p.name),
        pageRows: PAGE_ROWS,
        workerFlags: workerFlags.join(' '),
        transactions,
        partners: PARTNERS,
        ingestSeconds: Number(ingestSeconds.toFixed(1)),
        ourRowsInReport: reportRows,
      })}\n`,
    );
  }

  try {
    if (REPORT !== 'aggregator-totals') return await transactionLevel(REPORT);
    log(`large mode: ${PARTNERS} partners × ${TX_PER_PARTNER} transactions`);
    const big = await createPartners('bench-big', PARTNERS);
    let t = Date.now();
    const transactions = await ingest(big, TX_PER_PARTNER);
    const ingestSeconds = (Date.now() - t) / 1000;
    log(
      `ingested ${transactions} transactions in ${ingestSeconds.toFixed(1)} s (${Math.round(transactions / ingestSeconds)} tx/s)`,
    );
    const settleSeconds = await settle(big);
    log(`settled ${PARTNERS} cycles in ${settleSeconds.toFixed(1)} s`);

    log(`small mode: ${SMALL_PARTNERS} partners × ${SMALL_TX} transactions`);
    const small = await createPartners('bench-small', SMALL_PARTNERS);
    t = Date.now();
    await ingest(small, SMALL_TX);
    log(`ingested in ${((Date.now() - t) / 1000).toFixed(1)} s`);
    const cycles1000Seconds = await settle(small);
    log(`settled ${SMALL_PARTNERS} cycles in ${cycles1000Seconds.toFixed(1)} s`);

    const ledger = await db.query<{ d: string; c: string }>(
      'SELECT sum(debits_minor)::text AS d, sum(credits_minor)::text AS c FROM ledger_accounts',
    );
    log(`ledger Σdebits=${ledger.rows[0]!.d} Σcredits=${ledger.rows[0]!.c}`);
    process.stdout.write(
      `${JSON.stringify({
        settleSeconds: Number(settleSeconds.toFixed(1)),
        partners: PARTNERS,
        transactions,
        ingestSeconds: Number(ingestSeconds.toFixed(1)),
        cycles1000Seconds: Number(cycles1000Seconds.toFixed(1)),
        smallPartners: SMALL_PARTNERS,
      })}\n`,
    );
  } finally {
    await connection.close();
    for (const c of children) {
      const exited = new Promise((r) => c.once('exit', r));
      c.kill('SIGTERM');
      await exited;
    }
    if (providers && providers.exitCode === null) {
      const exited = new Promise((r) => providers.once('exit', r));
      providers.kill('SIGTERM');
      await exited;
    }
    aggregator.close();
    await db.end();
    await services.stop();
  }
}

/** Times (and explains) the reads reconciliation makes of one cycle's report, on a quiet database. */
async function explainOneCycle(databaseUrl: string, cycleId: string, partnerId: string): Promise<void> {
  const pool = createPool({ db: { url: databaseUrl, poolMax: 1 } });
  pool.on('connect', (client) => {
    client.on('notice', (n) => log(`plan:\n${n.message}`));
    void client.query(
      `LOAD 'auto_explain'; SET auto_explain.log_min_duration = 0; SET auto_explain.log_analyze = on;
       SET auto_explain.log_buffers = on; SET auto_explain.log_level = notice; SET auto_explain.log_nested_statements = on`,
    );
  });
  try {
    const c = {
      cycleId,
      partnerId,
      periodStart: DAY,
      periodEnd: DAY,
      currency: 'EUR',
      frozenAt: new Date().toISOString(),
    };
    const timed = async <T>(what: string, f: () => Promise<T>): Promise<T> => {
      const t = process.hrtime.bigint();
      const r = await f();
      log(`${what}: ${(Number(process.hrtime.bigint() - t) / 1e6).toFixed(1)} ms`);
      return r;
    };
    const ours = await timed('our totals (settlement_sources)', () => sourceAggregates(pool, cycleId));
    const theirs = await timed('their totals (GROUP BY over the report rows)', () =>
      theirAggregates(pool, cycleId),
    );
    const keys = differingKeys(ours, theirs);
    const txs = await timed('transactions that differ (hash join on tx_id) and their rows', () =>
      transactionsForKeys(pool, c, keys),
    );
    await timed('transaction types of the exceptions', () =>
      transactionTypes(pool, c, [...new Set([...txs.ours, ...txs.theirs].map((t) => t.id))]),
    );
    await timed('report totals (count, sum)', () => reportTotals(pool, cycleId));
  } finally {
    await pool.end();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:settle failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
