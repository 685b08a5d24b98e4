import { activityInfo, heartbeat } from '@temporalio/activity';
import type { Db } from '../db/pool';
import * as q from '../db/settlement';
import * as reports from '../db/reports';
import * as accruals from '../db/accruals';
import { providerConnectionOf } from '../db/partners';
import { ConflictError, NotFoundError } from '../domain/errors';
import { defaultCurrencies, type CurrencyRegistry } from '../domain/money';
import {
  aggregateDiscrepancies,
  controlTotalsDiscrepancy,
  differingKeys,
  reconcileTransactions,
  type Discrepancy,
} from '../domain/reconciliation';
import type { SettlementException } from '../domain/settlement';
import type { SecretBox } from '../platform/secrets';
import { outboundFailure } from './failures';
import { openProviderConnection } from '../providers/connection';
import { adapters } from '../providers/registry';
import { localDay } from '../providers/timezone';
import {
  ProviderReportError,
  ProviderUnavailableError,
  ReportCapExceededError,
  reportCapProblem,
  reportCapsInForce,
  reportLimitProblem,
  reportPages,
} from '../providers/types';
import { REPORT_CAP_DEFAULTS, type Config } from '../platform/config';
import type { CycleArgs } from './settlement';
import { resolveBeforePeople, type AutoResolution } from './auto-resolution';
import { recordWatchExceptions } from './watch-gate';

// The provider's report of a cycle: fetched page by page (each page stored with where the fetch
// stands), then reconciled against our frozen sources. Every write is keyed by the cycle id.

/** Where a report fetch stands after its last stored page (saved with that page). */
interface FetchState {
  /** The cursor of the next page; null after the last page (or before the first, when pages is 0). */
  cursor: string | null;
  /** Row number of the next page's first row. */
  ord: number;
  pages: number;
  aggregateKeys: number;
  /** Bytes of the provider's answers behind the pages stored (toward the byte cap). */
  bytes: number;
  control: { recordCount: number; sumMinor: bigint } | null;
  /**
   * Σ amount of the rows stored, kept with each page (so the control totals are checked without
   * reading the report back); null in progress saved before it was kept: then it is read back.
   */
  rowsSum: bigint | null;
  fileChecked: boolean;
  fileMismatch: Discrepancy | null;
}
const FETCH_HEARTBEAT_MS = 2_000;
/** Rows the stored pages brought (toward the row cap): transactions and totals alike. */
const rowsStored = (s: FetchState) => s.ord - 1 + s.aggregateKeys;
const freshFetch = (): FetchState => ({
  cursor: null,
  ord: 1,
  pages: 0,
  aggregateKeys: 0,
  bytes: 0,
  control: null,
  rowsSum: 0n,
  fileChecked: false,
  fileMismatch: null,
});
/** JSON for the progress row and the heartbeat: each bigint as a decimal string. */
const big = (v: bigint | null) => (v === null ? null : v.toString());
const unbig = (v: string | null) => (v === null ? null : BigInt(v));
const encodeFetchState = (s: FetchState) => ({
  ...s,
  rowsSum: big(s.rowsSum),
  control: s.control && { recordCount: s.control.recordCount, sumMinor: s.control.sumMinor.toString() },
  fileMismatch: s.fileMismatch && {
    ...s.fileMismatch,
    oursMinor: big(s.fileMismatch.oursMinor),
    theirsMinor: big(s.fileMismatch.theirsMinor),
    differenceMinor: s.fileMismatch.differenceMinor.toString(),
  },
});
const decodeFetchState = (json: unknown): FetchState => {
  const s = json as ReturnType<typeof encodeFetchState>;
  return {
    ...s,
    // Progress saved before bytes were counted: they count from the pages still to come.
    bytes: s.bytes ?? 0,
    rowsSum: unbig(s.rowsSum ?? null),
    control: s.control && { recordCount: s.control.recordCount, sumMinor: BigInt(s.control.sumMinor) },
    fileMismatch: s.fileMismatch && {
      ...s.fileMismatch,
      oursMinor: unbig(s.fileMismatch.oursMinor),
      theirsMinor: unbig(s.fileMismatch.theirsMinor),
      differenceMinor: BigInt(s.fileMismatch.differenceMinor),
    },
  };
};

/**
 * At most `size` holders at once, the others queued in arrival order: bounds what one worker
 * spends on reports (memory, database connections, CPU) whatever the number of cycles started
 * together. One per worker process (activities are created once per process).
 */
class Limiter {
  private active = 0;
  private readonly waiting: (() => void)[] = [];
  constructor(private readonly size: number) {}
  async acquire(): Promise<() => void> {
    if (this.active >= this.size) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.active++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiting.shift();
      if (next) next();
      else this.active--;
    };
  }
}

/** Defaults of REPORT_FETCH_CONCURRENCY and REPORT_PAGE_ROWS (platform/config.ts), without a config. */
const REPORT_DEFAULTS = { fetchConcurrency: 4, pageRows: 10_000 } as const;

/** What the rule of a resolution's GGR effect reads of an exception besides its difference. */
type ExceptionFacts = Pick<Required<SettlementException>, 'txType' | 'isAggregate'>;
/** An exception about the report as a whole: no transaction and no totals key. */
const REPORT_LEVEL: ExceptionFacts = { txType: null, isAggregate: false };

const toException = (d: Discrepancy, facts: ExceptionFacts): SettlementException => ({
  exceptionId: d.id,
  kind: d.kind,
  txId: d.txId,
  differenceMinor: d.differenceMinor.toString(),
  detail: d.detail,
  txType: facts.txType,
  isAggregate: facts.isAggregate,
});

export function reportActivities({
  db,
  currencies = defaultCurrencies,
  secrets,
  config,
}: {
  db: Db;
  currencies?: CurrencyRegistry;
  secrets?: SecretBox;
  /**
   * For the report caps (REPORT_MAX_ROWS, REPORT_MAX_BYTES), the fetches at once and the page
   * size (REPORT_FETCH_CONCURRENCY, REPORT_PAGE_ROWS); their defaults without it.
   */
  config?: Pick<Config, 'reportCaps'> & Partial<Pick<Config, 'reports'>>;
}) {
  const deploymentCaps = config?.reportCaps ?? REPORT_CAP_DEFAULTS;
  const { fetchConcurrency, pageRows } = config?.reports ?? REPORT_DEFAULTS;
  // Fetches and transaction-level comparisons each take their turn, per worker process.
  const fetching = new Limiter(fetchConcurrency);
  const comparing = new Limiter(fetchConcurrency);
  return {
    /**
     * Pages through the provider's report (streamed where the format is a file per day), at
     * most REPORT_FETCH_CONCURRENCY fetches at once per worker, one page of rows in memory each.
     * Each page is stored (COPY) in one transaction with where the fetch stands after it, so a
     * new worker resumes after the last stored page: a crash costs at most the page in flight,
     * fetched once more, and rows are stored once (db/reports.ts, storeReportPage). The
     * heartbeat (every few seconds, also while a page is in flight) only says the fetch is
     * alive. Transient provider faults throw (Temporal retries with backoff); a report that
     * cannot be read, or that would store more than its caps allow (ReportCapExceededError), is
     * non-retryable.
     */
    async fetchProviderReport(
      c: CycleArgs,
    ): Promise<{ rows: number; control: 'ok' | 'absent' | 'mismatch'; exceptions: SettlementException[] }> {
      const stored = await providerConnectionOf(db, c.partnerId);
      const provider = openProviderConnection(stored, secrets);
      if (!provider) throw new NotFoundError(`no provider report configured for partner ${c.partnerId}`);
      const caps = reportCapsInForce(deploymentCaps, stored?.limits ?? null);
      const adapter = adapters[provider.format];
      if (!adapter) throw new NotFoundError(`no adapter for report format ${provider.format}`);
      const window = await reports.periodWindowMs(db, c);
      // Always set for an activity a workflow runs (absent only for standalone activities).
      const runId = activityInfo().workflowExecution?.runId ?? c.cycleId;
      const saved = await reports.reportProgress(db, c.cycleId, runId);
      let state: FetchState = saved === null ? freshFetch() : decodeFetchState(saved);
      // Heartbeats from here on, also while this fetch waits for its turn below.
      const alive = setInterval(() => heartbeat(encodeFetchState(state)), FETCH_HEARTBEAT_MS);
      try {
        heartbeat(encodeFetchState(state));
        const release = await fetching.acquire();
        try {
          await reports.ensureReportPartition(db, c.periodStart);
          const timezone = await reports.partnerTimezone(db, c.partnerId);
          // Business days as Postgres draws them (the authority for our side too); a row dated
          // further from the period than the days drawn falls back to Node's zone data.
          const days = await reports.businessDayStarts(db, c);
          const businessDate = (ms: number): string => {
            if (days.length < 2 || ms < days[0]!.startMs || ms >= days.at(-1)!.startMs)
              return localDay(ms, timezone);
            let lo = 0;
            let hi = days.length - 1;
            while (hi - lo > 1) {
              const mid = (lo + hi) >> 1;
              if (days[mid]!.startMs <= ms) lo = mid;
              else hi = mid;
            }
            return days[lo]!.day;
          };
          const where = { ...c, runId, businessDate };
          // A retry after the last page was stored (the worker died before answering) fetches nothing.
          fetch: while (!(state.pages > 0 && state.cursor === null)) {
            const pages = reportPages(adapter, {
              baseUrl: provider.baseUrl,
              currencies,
              options: provider.options,
              headers: provider.headers,
              fromMs: window.fromMs,
              toMs: window.toMs,
              cursor: state.cursor,
              pageRows,
            });
            try {
              for await (const { page, bytes } of pages) {
                // Counted from the saved state: a resumed fetch cannot exceed the cap either.
                const pageNumber = state.pages + 1;
                const overLimit = reportLimitProblem(page, pageNumber);
                if (overLimit) throw new ConflictError(`provider report unreadable: ${overLimit}`);
                const pageRowCount = page.rows.length + (page.aggregates?.length ?? 0);
                const overCap = reportCapProblem(
                  caps,
                  { rows: rowsStored(state), bytes: state.bytes },
                  { rows: pageRowCount, bytes },
                );
                if (overCap) throw new ReportCapExceededError(overCap);
                const next: FetchState = {
                  cursor: page.nextCursor,
                  ord: state.ord + page.rows.length,
                  pages: pageNumber,
                  aggregateKeys: state.aggregateKeys + (page.aggregates?.length ?? 0),
                  bytes: state.bytes + bytes,
                  control: page.control ?? state.control,
                  rowsSum:
                    state.rowsSum === null
                      ? null
                      : page.rows.reduce((sum, r) => sum + r.amountMinor, state.rowsSum),
                  fileChecked: state.fileChecked || page.fileCheck !== undefined,
                  fileMismatch:
                    state.fileMismatch ??
                    (page.fileCheck
                      ? controlTotalsDiscrepancy(page.fileCheck.actual, page.fileCheck.declared)
                      : null),
                };
                const outcome = await reports.storeReportPage(
                  db,
                  where,
                  { pageNumber, firstOrd: state.ord, rows: page.rows, aggregates: page.aggregates ?? [] },
                  encodeFetchState(next),
                );
                if (!outcome.stored) {
                  // An earlier attempt, still running, stored this page: go on from what is stored.
                  if (outcome.progress === null) throw new Error(`report progress of ${c.cycleId} vanished`);
                  state = decodeFetchState(outcome.progress);
                  continue fetch;
                }
                state = next;
                heartbeat(encodeFetchState(state));
              }
            } catch (err) {
              if (err instanceof ProviderUnavailableError) throw outboundFailure(err, (e) => e);
              if (err instanceof ProviderReportError) throw new ConflictError(err.message);
              throw err;
            }
          }
        } finally {
          release();
        }
      } finally {
        clearInterval(alive);
      }
      const totals =
        state.rowsSum === null
          ? await reports.reportTotals(db, c.cycleId)
          : { recordCount: state.ord - 1, sumMinor: state.rowsSum };
      const mismatch =
        state.fileMismatch ?? (state.control ? controlTotalsDiscrepancy(totals, state.control) : null);
      if (mismatch) await q.storeExceptions(db, c.cycleId, [mismatch]);
      const checked = state.control !== null || state.fileChecked;
      return {
        rows: totals.recordCount + state.aggregateKeys,
        control: !checked ? 'absent' : mismatch ? 'mismatch' : 'ok',
        exceptions: mismatch ? [toException(mismatch, REPORT_LEVEL)] : [],
      };
    },

    /** Records that the report could not be fetched at all, as an exception operators resolve. */
    async recordReportUnavailable(c: CycleArgs, reason: string): Promise<SettlementException> {
      const d: Discrepancy = {
        id: 'report_unavailable:report',
        kind: 'report_unavailable',
        key: null,
        txId: null,
        oursMinor: null,
        theirsMinor: null,
        differenceMinor: 0n,
        detail: `provider report unavailable: ${reason}`,
      };
      await q.storeExceptions(db, c.cycleId, [d]);
      return toException(d, REPORT_LEVEL);
    },

    /** Totals per (day, game, currency) first; transactions only where they differ. */
    async reconcile(c: CycleArgs & { frozenAt: string }): Promise<{
      keysCompared: number;
      keysDiffering: number;
      exceptions: SettlementException[];
      auto: AutoResolution;
    }> {
      // The frozen sources (a no-op when the freeze froze them, as it does since they exist).
      await accruals.snapshotSources(db, c);
      const [ours, theirs] = await Promise.all([
        accruals.sourceAggregates(db, c.cycleId),
        reports.theirAggregates(db, c.cycleId),
      ]);
      const keys = differingKeys(ours, theirs);
      let discrepancies: Discrepancy[] = [];
      if (keys.length) {
        const aggregateOnly = await reports.hasReportAggregates(db, c.cycleId);
        if (aggregateOnly) {
          // An aggregator reports no transactions: the difference is named per key.
          discrepancies = aggregateDiscrepancies(ours, theirs, keys);
        } else {
          // Only the transactions that differ come back from Postgres (a join on the id there).
          const release = await comparing.acquire();
          let txs;
          try {
            txs = await reports.transactionsForKeys(db, c, keys);
          } finally {
            release();
          }
          // Tolerances are the contract's rules (applied below), not the comparison's.
          discrepancies = reconcileTransactions(txs.ours, txs.theirs, { frozenAt: c.frozenAt });
        }
      }
      await q.storeExceptions(db, c.cycleId, discrepancies);
      // What accepting the provider's figure would do to GGR reads each exception's transaction
      // type as the fee step does (ours, else theirs): read for these ids only.
      const types = await reports.transactionTypes(
        db,
        c,
        discrepancies.flatMap((d) => (d.txId === null ? [] : [d.txId])),
      );
      const factsOf = (d: Discrepancy): ExceptionFacts => ({
        txType: d.txId === null ? null : (types.get(d.txId) ?? null),
        isAggregate: d.txId === null && d.key !== null,
      });
      await q.storeCycleOutputs(db, c.cycleId, {
        report: {
          keysCompared: new Set(
            [...ours, ...theirs].map((k) => `${k.businessDate}|${k.gameId}|${k.currency}`),
          ).size,
          keysDiffering: keys.length,
        },
      });
      // Rules before people: what the contract decides, and what is still arriving (expected).
      const auto = await resolveBeforePeople(db, c, activityInfo().workflowExecution?.runId ?? c.cycleId);
      // Then what the watch holds for a person: big wins and volume spikes of the period.
      await recordWatchExceptions(db, c, currencies);
      return {
        keysCompared: ours.length,
        keysDiffering: keys.length,
        exceptions: discrepancies.map((d) => toException(d, factsOf(d))),
        auto,
      };
    },
  };
}
