import { createServer, type Server } from 'node:http';
import { listenSimulated, reportedRows, transportFault } from './faults';
import { checkVolumeFaults } from './volume-faults';

// A real HTTP server that plays a format-(a) provider: per-transaction JSON, cursor
// pagination, minor units, UTC epoch milliseconds, control totals on the last page. It
// serves the transactions it is given (the same generator drives ingest) and injects faults
// on demand, so tests and the demo exercise the adapter over the wire.

export interface SimulatedTx {
  id: string;
  type: string;
  roundId: string;
  gameId: string;
  currency: string;
  amountMinor: bigint;
  occurredAtMs: number;
  roundStatus?: 'completed' | 'open' | 'cancelled';
}

export interface Faults {
  /** Added latency per request. */
  latencyMs?: number;
  /** The next N requests answer 503. */
  failNext?: number;
  /** The next N requests answer 429 with Retry-After (`retryAfter`, default 1 second). */
  rateLimitNext?: number;
  /** The Retry-After those 429s carry: delay-seconds or an HTTP-date. */
  retryAfter?: string;
  /** Ids left out of the report (missing on theirs). */
  missing?: string[];
  /** Rows only the provider has (missing on ours). */
  extra?: SimulatedTx[];
  /** Ids reported with another amount. */
  altered?: Record<string, bigint>;
  /** Ids reported twice. */
  duplicated?: string[];
  /** Control totals that do not match the rows (a broken export). */
  wrongControlTotals?: boolean;
  /** Every request fails (a provider that is down for good). */
  down?: boolean;
  /** The next N report pages are cut off half-way through the body (the connection drops). */
  cutNext?: number;
  /** The next N requests answer only after `slowMs` (default 12 s: past the client's timeout). */
  slowNext?: number;
  slowMs?: number;

  // Volume faults (volume-faults.ts): how a provider's report differs from ours at volume with
  // no money lost. Each is applied by reportedRows, so json-cursor and csv-daily (and the
  // aggregator's totals) serve them; which transactions each touches is chosen by a stable
  // hash of the transaction id (round id for aggregateRounds), about one in `everyNth`
  // (1: all). Transactions named by missing, altered or duplicated are left out of them;
  // volumeFaultEffects lists exactly what they did.

  /**
   * Wins the provider rounds its own way: about one win in `everyNth` (wins of 0 excepted) is
   * reported, under its own id, `deltaMinor` minor units or less away from ours (never equal:
   * ±1..deltaMinor, the size and sign from the hash; never below zero).
   */
  roundOwnWay?: { everyNth: number; deltaMinor: bigint };
  /**
   * Rounds just before midnight dated the next day: every transaction of ours within
   * `withinMinutes` before the end of its business day (local midnight in `timezone`, the
   * partner's, UTC by default) is reported `shiftMinutes` later. Windows select rows by the
   * reported time, so with shiftMinutes ≥ withinMinutes the row leaves day D's report and
   * appears in day D+1's. Rows aggregated by aggregateRounds are not shifted.
   */
  lateRoundsAfterMidnight?: { withinMinutes: number; shiftMinutes: number; timezone?: string };
  /**
   * Wins paid out in several rows: about one win in `everyNth` (of at least `parts` minor
   * units) is reported as `parts` (≥ 2) rows `<id>#1` … `<id>#<parts>`, with the same round,
   * game, currency, type and time as ours, amounts ⌊ours / parts⌋ and the remainder on the
   * last, so they sum exactly to ours. Takes precedence over roundOwnWay.
   */
  splitWins?: { everyNth: number; parts: number };
  /**
   * Rounds reported as totals: in about one round in `everyNth`, each type with two or more
   * of our transactions (all of one game and currency) is reported as one row
   * `<roundId>:<type>` with their sum, at the time of the latest of them.
   */
  aggregateRounds?: { everyNth: number };
}

export interface SimulatedProvider {
  url: string;
  requests: number;
  setTransactions(txs: SimulatedTx[]): void;
  setFaults(f: Faults): void;
  /**
   * Builds every answer for the report window in advance (the provider's own work, kept out of
   * a benchmark's measurement) and then lets go of the transactions: from then on the provider
   * serves exactly those answers, until setTransactions or setFaults. `pageSize` is the page the
   * client will ask for (json-cursor).
   */
  prepare?(window: { fromMs: number; toMs: number; timezone?: string }, opts?: { pageSize?: number }): void;
  close(): Promise<void>;
}

/** The page this provider serves when the client asks for none (and its default maximum). */
const PAGE_SIZE = 500;

export async function startJsonCursorProvider(
  opts: {
    transactions?: SimulatedTx[];
    faults?: Faults;
    port?: number;
    /** The largest page served when the client asks for more (`limit`); PAGE_SIZE by default. */
    maxPageSize?: number;
  } = {},
): Promise<SimulatedProvider> {
  let txs = opts.transactions ?? [];
  let faults: Faults = opts.faults ?? {};
  checkVolumeFaults(faults);
  const state = { requests: 0 };
  const maxPageSize = opts.maxPageSize ?? PAGE_SIZE;
  // Answers built in advance by prepare(), by window, offset and page size; forgotten when the
  // data changes. Without prepare() every answer is built from the data as it is now.
  let prepared = false;
  let rowsCache = new Map<string, { rows: SimulatedTx[]; sum: bigint }>();
  let pageCache = new Map<string, Buffer>();

  const reportRows = (fromMs: number, toMs: number) => {
    const key = `${fromMs}|${toMs}`;
    let cached = rowsCache.get(key);
    if (!cached) {
      const rows = reportedRows(txs, faults, (t) => t.occurredAtMs >= fromMs && t.occurredAtMs < toMs);
      cached = { rows, sum: rows.reduce((s, r) => s + r.amountMinor, 0n) };
      if (prepared) rowsCache.set(key, cached);
    }
    return cached;
  };

  const pageBody = (fromMs: number, toMs: number, offset: number, size: number): Buffer => {
    const key = `${fromMs}|${toMs}|${offset}|${size}`;
    const cached = pageCache.get(key);
    if (cached) return cached;
    const { rows, sum } = reportRows(fromMs, toMs);
    const pageRows = rows.slice(offset, offset + size);
    const last = offset + size >= rows.length;
    const body = Buffer.from(
      JSON.stringify({
        items: pageRows.map((r) => ({
          id: r.id,
          type: r.type,
          round_id: r.roundId,
          game_id: r.gameId,
          currency: r.currency,
          amount_minor: r.amountMinor.toString(),
          occurred_at_ms: r.occurredAtMs,
          ...(r.roundStatus ? { round_status: r.roundStatus } : {}),
        })),
        next_cursor: last ? null : String(offset + size),
        ...(last
          ? {
              control: {
                record_count: rows.length + (faults.wrongControlTotals ? 1 : 0),
                sum_minor: (faults.wrongControlTotals ? sum + 100n : sum).toString(),
              },
            }
          : {}),
      }),
    );
    if (prepared) pageCache.set(key, body);
    return body;
  };

  const server: Server = createServer((req, res) => {
    state.requests++;
    const reply = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      const text = Buffer.isBuffer(body) ? body : Buffer.from(JSON.stringify(body));
      const cut = status === 200 && (faults.cutNext ?? 0) > 0;
      if (cut) faults.cutNext!--;
      const send = () => {
        res.writeHead(status, {
          'content-type': 'application/json',
          'content-length': String(Buffer.byteLength(text)),
          ...headers,
        });
        if (!cut) return void res.end(text);
        res.write(text.slice(0, Math.floor(text.length / 2)));
        res.destroy();
      };
      const slow = (faults.slowNext ?? 0) > 0;
      if (slow) faults.slowNext!--;
      const delay = (faults.latencyMs ?? 0) + (slow ? (faults.slowMs ?? 12_000) : 0);
      if (delay > 0) setTimeout(send, delay);
      else send();
    };
    const url = new URL(req.url ?? '/', 'http://provider');
    if (url.pathname !== '/report') return reply(404, { error: 'not found' });
    const fault = transportFault(faults);
    if (fault) return reply(fault.status, { error: 'try again later' }, fault.headers);
    const fromMs = Number(url.searchParams.get('from_ms'));
    const toMs = Number(url.searchParams.get('to_ms'));
    if (!Number.isSafeInteger(fromMs) || !Number.isSafeInteger(toMs))
      return reply(400, { error: 'from_ms and to_ms required' });
    const offset = Number(url.searchParams.get('cursor') ?? 0);
    const limit = Number(url.searchParams.get('limit') ?? PAGE_SIZE);
    if (!Number.isSafeInteger(offset) || offset < 0 || !Number.isSafeInteger(limit) || limit < 1)
      return reply(400, { error: 'cursor and limit must be whole numbers' });
    reply(200, pageBody(fromMs, toMs, offset, Math.min(limit, maxPageSize)));
  });
  return listenSimulated(server, opts.port, {
    requests: () => state.requests,
    setTransactions: (t) => {
      txs = t;
      prepared = false;
      rowsCache = new Map();
      pageCache = new Map();
    },
    setFaults: (f) => {
      faults = f;
      prepared = false;
      rowsCache = new Map();
      pageCache = new Map();
    },
    prepare: ({ fromMs, toMs }, { pageSize = PAGE_SIZE } = {}) => {
      const size = Math.min(pageSize, maxPageSize);
      prepared = true;
      const { rows } = reportRows(fromMs, toMs);
      for (let offset = 0; offset === 0 || offset < rows.length; offset += size)
        pageBody(fromMs, toMs, offset, size);
      // The pages are built: the rows behind them are not needed any more.
      txs = [];
      rowsCache = new Map();
    },
  });
}
