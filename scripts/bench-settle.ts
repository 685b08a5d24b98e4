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
import { freePort, log, ROOT, startServices } from './bench/services';

// `npm run bench:settle`: BENCH_PARTNERS (100) partners × BENCH_TX (100,000) transactions pushed
// through the API, then every partner's settlement cycle run to completion on the real worker
// (reports from an aggregator simulator, format c); then a second mode with
// BENCH_SMALL_PARTNERS (1,000) small partners. Last line: one JSON object.
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
  const db = createPool({ db: { url: services.databaseUrl, poolMax: 4 } });
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
  children.push(
    spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'workers/main.ts')], {
      env: { ...env, WORKER_METRICS_PORT: String(await freePort()) },
      stdio: 'inherit',
    }),
  );
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

  async function createPartners(prefix: string, n: number): Promise<{ id: string; key: string }[]> {
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

  try {
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
    aggregator.close();
    await db.end();
    await services.stop();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:settle failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
