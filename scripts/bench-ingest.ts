import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { activatePartner, registerPartner, storeApiKeyHash } from '../db/partners';
import { createPool } from '../db/pool';
import { issueApiKey } from '../platform/credentials';
import { freePort, log, ROOT, startServices } from './bench/services';

// `npm run bench:ingest`: the real API and Postgres under load from a separate process.
// 1. API phase: realistic batches of BENCH_BATCH (1,000) at BENCH_CONCURRENCY, BENCH_SECONDS.
// 2. Ceiling phase: the same kind of rows straight into game_transactions (UNNEST), no API.
// Last line: one JSON object with the figures.
const DURATION_MS = Number(process.env.BENCH_SECONDS ?? 20) * 1000;
// 8 batches in flight is the knee on 2 cores (BENCHMARKS.md has the sweep): fewer leaves
// the CPU idle while commits flush, more only adds latency.
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 8);
const BATCH = Number(process.env.BENCH_BATCH ?? 1000);
// Operators settle with dozens of partners; 16 push concurrently here.
const PARTNERS = Number(process.env.BENCH_PARTNERS ?? 16);

interface LoadResult {
  tx: number;
  errors: number;
  seconds: number;
  txPerSec: number;
  p50Ms: number;
  p99Ms: number;
  batches: number;
}

function runLoad(
  mode: 'api' | 'raw' | 'fn',
  url: string,
  partners: unknown[],
  runId: string,
): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        path.join(__dirname, 'bench', 'ingest-load.ts'),
        JSON.stringify({
          mode,
          url,
          partners,
          durationMs: DURATION_MS,
          concurrency: CONCURRENCY,
          batchSize: BATCH,
          runId,
        }),
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.once('exit', (code) =>
      code === 0
        ? resolve(JSON.parse(out.trim().split('\n').pop()!) as LoadResult)
        : reject(new Error(`load generator exited ${code}`)),
    );
  });
}

/** Busy share of all CPUs between two /proc/stat readings. */
function cpuTimes(): { busy: number; total: number } {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const idle = f[3]! + f[4]!;
  const total = f.reduce((a, b) => a + b, 0);
  return { busy: total - idle, total };
}
const busyPct = (a: ReturnType<typeof cpuTimes>, b: ReturnType<typeof cpuTimes>) =>
  Math.round((100 * (b.busy - a.busy)) / (b.total - a.total));

function peakRssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return Math.round(kb / 1024);
}

async function main(): Promise<void> {
  log(`bench:ingest — ${CONCURRENCY} concurrent batches of ${BATCH}, ${DURATION_MS / 1000}s per phase`);
  const services = await startServices({ temporal: true });
  const db = createPool({ db: { url: services.databaseUrl, poolMax: 4 } });
  const partners: { id: string; apiKey: string; timezone: string }[] = [];
  const zones = ['Europe/Malta', 'Europe/London', 'America/Sao_Paulo', 'Asia/Manila'];
  for (let i = 0; i < PARTNERS; i++) {
    const id = `bench-partner-${i}`;
    const key = issueApiKey();
    await registerPartner(db, {
      id,
      name: `Bench ${i}`,
      kind: 'provider',
      timezone: zones[i % zones.length]!,
      settlementCurrency: 'EUR',
    });
    await storeApiKeyHash(db, id, key.keyId, key.hash);
    await activatePartner(db, id);
    partners.push({ id, apiKey: key.plaintext, timezone: zones[i % zones.length]! });
  }

  const port = await freePort();
  // BENCH_API_PROFILE=dir writes a V8 CPU profile of the API process there (see BENCHMARKS.md).
  const profile = process.env.BENCH_API_PROFILE
    ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_API_PROFILE}`]
    : [];
  const api = spawn(
    process.execPath,
    [
      ...profile,
      ...(process.env.BENCH_API_NODE_FLAGS ?? '').split(' ').filter(Boolean),
      '--import',
      'tsx',
      path.join(ROOT, 'api', 'main.ts'),
    ],
    {
      env: {
        ...process.env,
        NODE_ENV: 'development', // a benchmark runs on the development defaults
        DATABASE_URL: services.databaseUrl,
        TEMPORAL_ADDRESS: services.temporalAddress,
        API_PORT: String(port),
        API_HOST: '127.0.0.1',
        LOG_LEVEL: 'warn',
        DATABASE_POOL_MAX: String(CONCURRENCY + 2),
      },
      stdio: ['ignore', 'inherit', 'inherit'],
    },
  );
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    const ok = await fetch(`${url}/readyz`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) break;
    if (i > 200) throw new Error('API did not become ready');
    await new Promise((r) => setTimeout(r, 200));
  }

  try {
    log('warm-up (3 s) …');
    await runLoadShort(url, partners);
    // Each phase starts from empty transaction tables, so none runs against a bigger index
    // than another (the ledger is append-only and keeps growing; only the API phase posts to it).
    const reset = () => db.query('TRUNCATE game_transactions, positions, ingest_batches');
    await reset();
    log('API phase …');
    let cpu0 = cpuTimes();
    const viaApi = await runLoad('api', url, partners, 'api');
    const apiCpuPct = busyPct(cpu0, cpuTimes());
    log(
      `API: ${viaApi.txPerSec} tx/s, p50 ${viaApi.p50Ms} ms, p99 ${viaApi.p99Ms} ms per batch, ${viaApi.errors} errors, CPU ${apiCpuPct}% busy`,
    );
    const stored = await db.query<{ n: string }>('SELECT count(*)::text AS n FROM game_transactions');
    log(`stored by the API phase: ${stored.rows[0]!.n} rows`);
    const apiPeakRssMb = peakRssMb(api.pid!);

    await reset();
    log('database-function phase (ingest_batch called directly, no HTTP, no validation) …');
    const fn = await runLoad('fn', services.databaseUrl, partners, 'fn');
    log(`ingest_batch alone: ${fn.txPerSec} tx/s, p50 ${fn.p50Ms} ms, p99 ${fn.p99Ms} ms per batch`);

    await reset();
    log('ceiling phase (UNNEST straight into game_transactions) …');
    cpu0 = cpuTimes();
    const raw = await runLoad('raw', services.databaseUrl, partners, 'raw');
    log(
      `ceiling: ${raw.txPerSec} tx/s, p50 ${raw.p50Ms} ms, p99 ${raw.p99Ms} ms per batch, CPU ${busyPct(cpu0, cpuTimes())}% busy`,
    );

    const check = await db.query<{ d: string; c: string }>(
      'SELECT sum(debits_minor)::text AS d, sum(credits_minor)::text AS c FROM ledger_accounts',
    );
    log(`ledger after the run: Σdebits=${check.rows[0]!.d} Σcredits=${check.rows[0]!.c}`);

    const result = {
      txPerSec: viaApi.txPerSec,
      ceilingTxPerSec: raw.txPerSec,
      dbFunctionTxPerSec: fn.txPerSec,
      ratio: Number((viaApi.txPerSec / raw.txPerSec).toFixed(2)),
      p50Ms: viaApi.p50Ms,
      p99Ms: viaApi.p99Ms,
      apiPeakRssMb,
      apiPhaseCpuBusyPct: apiCpuPct,
      errors: viaApi.errors,
      concurrency: CONCURRENCY,
      batchSize: BATCH,
      seconds: DURATION_MS / 1000,
    };
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } finally {
    api.kill('SIGTERM');
    await new Promise((r) => api.once('exit', r));
    await db.end();
    await services.stop();
  }

  async function runLoadShort(u: string, p: typeof partners) {
    await new Promise<void>((resolve, reject) => {
      const child = spawn(
        process.execPath,
        [
          '--import',
          'tsx',
          path.join(__dirname, 'bench', 'ingest-load.ts'),
          JSON.stringify({
            mode: 'api',
            url: u,
            partners: p,
            durationMs: 3000,
            concurrency: CONCURRENCY,
            batchSize: BATCH,
            runId: 'warm',
          }),
        ],
        { stdio: ['ignore', 'ignore', 'inherit'] },
      );
      child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`warm-up exited ${code}`))));
    });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:ingest failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
