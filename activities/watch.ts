import { log } from '@temporalio/activity';
import { ScheduleAlreadyRunning, type Client } from '@temporalio/client';
import {
  ALERT_KINDS,
  alertsToNotify,
  markNotified,
  raiseAlert,
  resolveCleared,
  type Alert,
  type AlertInput,
  type AlertKind,
} from '../db/alerts';
import { activePairs, pairKey, referenceRates, storeReferenceRate } from '../db/fx-reference';
import type { Db } from '../db/pool';
import {
  bigWinsAfterPayout,
  bucketHistories,
  heldWinsUnderReview,
  fxLockMoves,
  hourlyVolume,
  ingestFigures,
  lateReports,
  rollbackFigures,
  rtpFigures,
  rtpSettingsOf,
  utcDay,
  type HourVolume,
} from '../db/watch';
import {
  DEFAULT_VOLUME_SETTINGS,
  fxMove,
  normalUpperTail,
  pooledRelativeSpread,
  rateSignal,
  volumeTest,
  type VolumeResult,
  type VolumeSettings,
} from '../domain/anomalies';
import { defaultCurrencies, parseDecimal, type CurrencyRegistry } from '../domain/money';
import type { Config } from '../platform/config';
import { callUpstream } from '../platform/outbound-http';
import { taskQueue } from '../platform/temporal';
import { SIGNATURE_HEADER, signWebhook, TIMESTAMP_HEADER } from '../platform/webhooks';
import { jsonBody } from '../providers/types';

// Watching the money (DOMAIN.md): one scan, run by the `watch-scan` Schedule, reads every signal
// set-based from Postgres (db/watch.ts), judges it with the pure tests of domain/anomalies.ts and
// keeps one alert per crossing (db/alerts.ts): raised when a condition starts, refreshed while it
// holds, resolved when it clears. Then each alert not yet delivered is POSTed, signed, to the
// operations webhook. Nothing here is per transaction: the scan's cost follows partners, games
// and hours, not volume.

/** Limits of one scan, named. */
export const WATCH_LIMITS = {
  /** Rollback rate over today and yesterday; fewer bets than this are no verdict. */
  rollbackRateDays: 2,
  rollbackMinBets: 1_000,
  /** Orphan rollbacks left on the days that ended in the last week. */
  orphanDays: 7,
  /** Duplicate rate over the last hour; fewer transactions received than this are no verdict. */
  duplicateMinReceived: 1_000,
  /** FX locks of the last week are compared with the lock before each. */
  fxLockDays: 7,
  /** Reference rates fetched per scan at most (the rest next scan). */
  fxFetchesPerScan: 50,
  /** Alerts delivered per scan at most, seen within the last day. */
  notificationsPerScan: 100,
  notifyWithinHours: 24,
  /** A spike this many times the usual count (or more) is critical. */
  criticalSpikeRatio: 5,
} as const;

export interface WatchScanResult {
  at: string;
  referenceRates: { pairs: number; stored: number; failed: number };
  /** Per detector: what it found, or why it failed (its alerts are then left as they were). */
  detectors: Record<string, { found: number } | { failed: string }>;
  raised: number;
  refreshed: number;
  resolved: number;
  notified: number;
  notifyFailed: number;
}

type Finding = Omit<AlertInput, 'disclosure'>;

interface Detector {
  name: string;
  kinds: AlertKind[];
  run: () => Promise<Finding[]>;
}

const pct = (r: number) => `${(100 * r).toFixed(2)}%`;
const dayStart = (day: string) => `${day}T00:00:00.000Z`;
const dayEnd = (day: string) => new Date(Date.parse(dayStart(day)) + 86_400_000).toISOString();
const hourEnd = (hour: string) => new Date(Date.parse(hour) + 3_600_000).toISOString();

/** How long after an hour ends its count is taken as final (late batches arrive within it). */
const VOLUME_SETTLE_MS = 10 * 60_000;

export function watchActivities(deps: {
  db: Db;
  config?: Config;
  currencies?: CurrencyRegistry;
  fxRatesUrl?: string;
}) {
  const { db } = deps;
  const currencies = deps.currencies ?? defaultCurrencies;
  /** Each partner's pooled week-to-week spread, with the hour it was computed in. */
  const spreads = new Map<string, { hour: number; value: number | null }>();

  function detectors(config: Config, at: Date): Detector[] {
    const today = utcDay(at);
    const w = config.watch;
    return [
      { name: 'rtp', kinds: ['rtp_drift'], run: () => rtpDrift(today) },
      {
        name: 'volume',
        kinds: ['volume_spike', 'volume_drop', 'volume_silence'],
        run: () => volume(at, w.volume),
      },
      { name: 'rollbacks', kinds: ['rollback_rate', 'orphan_rollbacks'], run: () => rollbacks(today) },
      { name: 'ingest', kinds: ['duplicate_rate', 'stale_transactions'], run: () => ingest(at) },
      { name: 'reports', kinds: ['late_report'], run: () => reports(at) },
      { name: 'fx', kinds: ['fx_move'], run: () => fx(at) },
      { name: 'heldWins', kinds: ['big_win'], run: () => heldWins(at) },
      { name: 'bigWins', kinds: ['big_win_after_payout'], run: bigWins },
    ];

    async function rtpDrift(asOf: string): Promise<Finding[]> {
      const { from, to, figures } = await rtpFigures(db, {
        asOf,
        windowDays: w.rtp.windowDays,
        settings: rtpSettingsOf(config),
      });
      return figures
        .filter((f) => f.result.alert)
        .map((f) => {
          const r = f.result;
          const where =
            f.partnerId === null ? `across ${f.partners} partner(s)` : `at partner ${f.partnerId}`;
          return {
            kind: 'rtp_drift',
            dedupKey: `rtp_drift:${f.canonicalId}:${f.currency}${f.partnerId === null ? '' : `:${f.partnerId}`}`,
            partnerId: f.partnerId,
            subject: `game:${f.canonicalId}`,
            severity: 'critical',
            title:
              `RTP of ${f.name} (${f.currency}, ${where}) ${r.direction} its band: ` +
              `${pct(r.observedRtp ?? 0)} against ${pct(r.expectedRtp)}, z = ${(r.z ?? 0).toFixed(2)}`,
            evidence: {
              explanation: r.explanation,
              canonicalId: f.canonicalId,
              maths: { version: f.version, ...f.maths },
              currency: f.currency,
              partnerId: f.partnerId,
              partners: f.partners,
              window: { from, to, days: w.rtp.windowDays },
              spins: f.spins,
              betMinor: f.betMinor.toString(),
              winMinor: f.winMinor.toString(),
              betSquaredMinor: f.betSquaredMinor.toString(),
              observedRtp: r.observedRtp,
              expectedRtp: r.expectedRtp,
              standardError: r.standardError,
              z: r.z,
              band: r.band,
              effectiveSpins: r.effectiveSpins,
              minimumEffectiveSpins: r.minimumEffectiveSpins,
              settings: rtpSettingsOf(config),
              query: f.query,
            },
            windowStart: dayStart(from),
            windowEnd: dayEnd(to),
          };
        });
    }

    async function volume(now: Date, v: Config['watch']['volume']): Promise<Finding[]> {
      const settings: VolumeSettings = {
        ...DEFAULT_VOLUME_SETTINGS,
        zThreshold: v.z,
        minWeeks: Math.min(DEFAULT_VOLUME_SETTINGS.minWeeks, v.weeks),
        tailProbability: normalUpperTail(v.z),
      };
      const found: Finding[] = [];
      const hour = Math.floor(now.getTime() / 3_600_000);
      // Hours are judged once their late batches have had time to arrive: the hour "in
      // progress" is the one 10 minutes ago, so a batch a few minutes late never reads as a drop
      // (a spike in the first minutes of an hour shows at minute 10).
      for (const p of await hourlyVolume(db, new Date(now.getTime() - VOLUME_SETTLE_MS), v.weeks)) {
        // The partner's own week-to-week spread, pooled over its 168 buckets (once an hour): a
        // bucket's three or four weeks alone make the robust z alarm on ordinary hours.
        let spread = spreads.get(p.partnerId);
        if (!spread || spread.hour !== hour) {
          const histories = await bucketHistories(db, p, now, v.weeks);
          spread = { hour, value: pooledRelativeSpread(histories) };
          spreads.set(p.partnerId, spread);
        }
        const pooled = spread.value;
        const judge = (h: HourVolume, complete: boolean) => ({
          hour: h,
          complete,
          result: volumeTest(
            h.observed,
            h.history.map((x) => x.count),
            complete,
            settings,
            pooled,
          ),
        });
        const current = judge(p.current, false);
        const previous = judge(p.previous, true);
        const evidenceOf = (j: { hour: HourVolume; complete: boolean; result: VolumeResult }) => ({
          explanation: j.result.explanation,
          partnerId: p.partnerId,
          timezone: p.timezone,
          hour: j.hour.hour,
          complete: j.complete,
          observed: j.hour.observed,
          history: j.hour.history,
          median: j.result.median,
          mad: j.result.mad,
          weeks: j.result.weeks,
          z: j.result.z,
          tailProbability: j.result.tailProbability,
          method: j.result.method,
          settings,
          query: j.hour.query,
          queryNote: 'hours without a row had no transactions (0)',
        });

        const spikes = [previous, current].filter((j) => j.result.kind === 'spike');
        if (spikes.length > 0) {
          const ratios = spikes.map((j) =>
            j.result.median > 0 ? j.result.observed / j.result.median : Number.POSITIVE_INFINITY,
          );
          const ratio = Math.max(...ratios);
          const top = spikes[ratios.indexOf(ratio)]!;
          const ratioText = Number.isFinite(ratio) ? `${ratio.toFixed(1)}×` : 'from nothing';
          found.push({
            kind: 'volume_spike',
            dedupKey: `volume_spike:${p.partnerId}`,
            partnerId: p.partnerId,
            subject: `partner:${p.partnerId}`,
            severity: ratio >= WATCH_LIMITS.criticalSpikeRatio ? 'critical' : 'warning',
            title:
              `Volume spike at ${p.partnerId}: ${top.result.observed} transactions in the hour from ${top.hour.hour}` +
              `${top.complete ? '' : ' (so far)'}, usually ${top.result.median} (${ratioText})`,
            evidence: {
              explanation: top.result.explanation,
              ratio: Number.isFinite(ratio) ? ratio : null,
              hours: spikes.map(evidenceOf),
              query: top.hour.query,
            },
            windowStart: spikes[0]!.hour.hour,
            windowEnd: hourEnd(spikes[spikes.length - 1]!.hour.hour),
          });
        }
        const quiet = previous.result.kind;
        if (quiet === 'drop' || quiet === 'silence') {
          const h = previous.hour;
          found.push({
            kind: quiet === 'drop' ? 'volume_drop' : 'volume_silence',
            dedupKey: `volume_${quiet}:${p.partnerId}`,
            partnerId: p.partnerId,
            subject: `partner:${p.partnerId}`,
            severity: 'warning',
            title:
              quiet === 'silence'
                ? `No transactions from ${p.partnerId} in the hour from ${h.hour}, usually ${previous.result.median}`
                : `Volume drop at ${p.partnerId}: ${h.observed} transactions in the hour from ${h.hour}, usually ${previous.result.median}`,
            evidence: evidenceOf(previous),
            windowStart: h.hour,
            windowEnd: hourEnd(h.hour),
          });
        }
      }
      return found;
    }

    async function rollbacks(asOf: string): Promise<Finding[]> {
      const found: Finding[] = [];
      const rows = await rollbackFigures(db, asOf, {
        rateDays: WATCH_LIMITS.rollbackRateDays,
        orphanDays: WATCH_LIMITS.orphanDays,
      });
      for (const r of rows) {
        const signal = rateSignal({
          kind: 'rollback_rate',
          numerator: r.rollbacks,
          denominator: r.bets,
          threshold: w.rollbackRate,
          minDenominator: WATCH_LIMITS.rollbackMinBets,
        });
        if (signal.alert)
          found.push({
            kind: 'rollback_rate',
            dedupKey: `rollback_rate:${r.partnerId}`,
            partnerId: r.partnerId,
            subject: `partner:${r.partnerId}`,
            severity: 'warning',
            title: `Rollback rate at ${r.partnerId}: ${pct(signal.rate ?? 0)} of bets over ${WATCH_LIMITS.rollbackRateDays} days`,
            evidence: {
              explanation: signal.explanation,
              partnerId: r.partnerId,
              rollbacks: r.rollbacks,
              bets: r.bets,
              rate: signal.rate,
              threshold: w.rollbackRate,
              minBets: WATCH_LIMITS.rollbackMinBets,
              query: r.query,
            },
            windowStart: dayStart(addDays(asOf, 1 - WATCH_LIMITS.rollbackRateDays)),
            windowEnd: dayEnd(asOf),
          });
        if (r.orphansOnEndedDays > 0)
          found.push({
            kind: 'orphan_rollbacks',
            dedupKey: `orphan_rollbacks:${r.partnerId}`,
            partnerId: r.partnerId,
            subject: `partner:${r.partnerId}`,
            severity: 'warning',
            title: `${r.orphansOnEndedDays} rollback(s) at ${r.partnerId} still cancel nothing we received, on days that have ended`,
            evidence: {
              explanation:
                `${r.orphansOnEndedDays} orphan rollback(s) on the ${WATCH_LIMITS.orphanDays} days before ${asOf}: ` +
                'the bet or win each cancels never arrived.',
              partnerId: r.partnerId,
              orphans: r.orphansOnEndedDays,
              from: r.from,
              to: addDays(asOf, -1),
              query: r.query,
            },
            windowStart: dayStart(r.from),
            windowEnd: dayStart(asOf),
          });
      }
      return found;
    }

    async function ingest(now: Date): Promise<Finding[]> {
      const found: Finding[] = [];
      for (const r of await ingestFigures(db, now)) {
        const signal = rateSignal({
          kind: 'duplicate_rate',
          numerator: r.duplicates,
          denominator: r.received,
          threshold: w.duplicateRate,
          minDenominator: WATCH_LIMITS.duplicateMinReceived,
        });
        const figures = {
          partnerId: r.partnerId,
          batches: r.batches,
          received: r.received,
          accepted: r.accepted,
          duplicates: r.duplicates,
          stale: r.stale,
          from: r.from,
          to: r.to,
          query: r.query,
        };
        if (signal.alert)
          found.push({
            kind: 'duplicate_rate',
            dedupKey: `duplicate_rate:${r.partnerId}`,
            partnerId: r.partnerId,
            subject: `partner:${r.partnerId}`,
            severity: 'warning',
            title: `Duplicate rate at ${r.partnerId}: ${pct(signal.rate ?? 0)} of transactions received in the last hour`,
            evidence: {
              explanation: signal.explanation,
              ...figures,
              rate: signal.rate,
              threshold: w.duplicateRate,
            },
            windowStart: r.from,
            windowEnd: r.to,
          });
        if (r.stale >= w.staleCount)
          found.push({
            kind: 'stale_transactions',
            dedupKey: `stale_transactions:${r.partnerId}`,
            partnerId: r.partnerId,
            subject: `partner:${r.partnerId}`,
            severity: 'warning',
            title: `${r.stale} transactions from ${r.partnerId} in the last hour were far outside their business day`,
            evidence: {
              explanation:
                `${r.stale} transactions received in the last hour occurred more than 24 hours earlier or are dated ` +
                `more than 5 minutes ahead (threshold ${w.staleCount}).`,
              ...figures,
              threshold: w.staleCount,
            },
            windowStart: r.from,
            windowEnd: r.to,
          });
      }
      return found;
    }

    async function reports(now: Date): Promise<Finding[]> {
      return (await lateReports(db, now, w.reportLateMinutes)).map((r) => ({
        kind: 'late_report',
        dedupKey: `late_report:${r.cycleId}`,
        partnerId: r.partnerId,
        subject: `cycle:${r.cycleId}`,
        severity: 'warning',
        title: r.unavailable
          ? `Provider report for ${r.periodStart}..${r.periodEnd} unavailable (cycle ${r.cycleId})`
          : `Provider report for ${r.periodStart}..${r.periodEnd} late: due by ${r.dueAt}, the cycle is still ${r.status}`,
        evidence: {
          explanation: r.unavailable
            ? 'The report fetch gave up: the cycle holds an open report_unavailable exception.'
            : `Cut-off ${r.cutoffAt}, ${r.graceMinutes} minutes' grace and ${w.reportLateMinutes} minutes allowed ` +
              `for the report: due by ${r.dueAt}; the cycle is still ${r.status}.`,
          ...r,
        },
        windowStart: dayStart(r.periodStart),
        windowEnd: dayEnd(r.periodEnd),
      }));
    }

    async function fx(now: Date): Promise<Finding[]> {
      const since = new Date(now.getTime() - WATCH_LIMITS.fxLockDays * 86_400_000);
      const found: Finding[] = [];
      for (const m of await fxLockMoves(db, since)) {
        const move = fxMove(m.previousRate, m.rate, w.fxMovePercent);
        if (!move.alert) continue;
        found.push({
          kind: 'fx_move',
          dedupKey: `fx_move:${m.cycleId}:${m.from}/${m.to}`,
          partnerId: m.partnerId,
          subject: `fx:${m.from}/${m.to}`,
          severity: 'warning',
          title: `${m.from}/${m.to} locked for ${m.cycleId} moved ${move.movePercent}% from the previous lock`,
          evidence: {
            explanation: move.explanation,
            ...m,
            movePercent: move.movePercent,
            maxPercent: w.fxMovePercent,
          },
          windowStart: m.previousLockedAt,
          windowEnd: m.lockedAt,
        });
      }
      return found;
    }

    /** Each win held at ingest is an alert while its review is open (the cycle's exception). */
    async function heldWins(now: Date): Promise<Finding[]> {
      return (await heldWinsUnderReview(db, currencies, now)).map((h) => ({
        kind: 'big_win',
        dedupKey: `big_win:${h.partnerId}:${h.txId}`,
        partnerId: h.partnerId,
        subject: `partner:${h.partnerId}`,
        severity: 'critical',
        title:
          `Big win held for review: ${h.amount} ${h.currency} at ${h.partnerId}` +
          `${h.multiple === null ? ' (no bet in its round)' : ` (${h.multiple}× its round's bets)`}, ${h.businessDate}`,
        evidence: {
          explanation:
            `Held at ingest (${h.heldAt}): above the partner's big-win amount and multiple. ` +
            (h.cycleId
              ? `It is exception big_win:${h.txId} of ${h.cycleId}, which waits for a person before payout.`
              : "It becomes an exception of its period's cycle, a gate before payout."),
          ...h,
        },
        windowStart: dayStart(h.businessDate),
        windowEnd: dayEnd(h.businessDate),
      }));
    }

    async function bigWins(): Promise<Finding[]> {
      return (await bigWinsAfterPayout(db, currencies)).map((b) => ({
        kind: 'big_win_after_payout',
        dedupKey: `big_win_after_payout:${b.partnerId}:${b.txId}`,
        partnerId: b.partnerId,
        subject: `partner:${b.partnerId}`,
        severity: 'critical',
        title:
          `Big win ${b.amount} ${b.currency} (tx ${b.txId}, ${b.businessDate}) held after period ` +
          `${b.periodStart}..${b.periodEnd} was paid (${b.cycleId})`,
        evidence: {
          explanation:
            `The win was held for review at ${b.heldAt}, after cycle ${b.cycleId} for ${b.periodStart}..${b.periodEnd} ` +
            'had completed: it was not among that payout’s gates. Review it and correct in an open period if needed.',
          ...b,
        },
        windowStart: dayStart(b.periodStart),
        windowEnd: dayEnd(b.periodEnd),
      }));
    }
  }

  /** Today's reference rate of every pair seen lately that has none yet (db/fx-reference.ts). */
  async function refreshReferenceRates(today: string): Promise<WatchScanResult['referenceRates']> {
    const pairs = await activePairs(db, addDays(today, -7));
    const known = await referenceRates(db, pairs, today);
    const missing = pairs.filter((p) => known.get(pairKey(p.from, p.to))?.day !== today);
    const out = { pairs: pairs.length, stored: 0, failed: 0 };
    if (missing.length === 0 || !deps.fxRatesUrl) return { ...out, failed: missing.length };
    for (const p of missing.slice(0, WATCH_LIMITS.fxFetchesPerScan)) {
      const url = new URL('rates', `${deps.fxRatesUrl.replace(/\/+$/, '')}/`);
      url.searchParams.set('base', p.from);
      url.searchParams.set('quote', p.to);
      try {
        const { text } = await callUpstream(url, {}, { who: 'FX rates service' });
        const body = (jsonBody(text) ?? {}) as { rate?: unknown; source?: unknown; asOf?: unknown };
        const rate = parseDecimal(body.rate, { maxScale: 12 });
        if (
          !rate.ok ||
          rate.value.units === 0n ||
          typeof body.source !== 'string' ||
          typeof body.asOf !== 'string'
        )
          throw new Error(`malformed FX rate for ${p.from}/${p.to}`);
        if (Number.isNaN(Date.parse(body.asOf)))
          throw new Error(`FX rate ${p.from}/${p.to}: asOf is not a time`);
        await storeReferenceRate(db, {
          from: p.from,
          to: p.to,
          day: today,
          rate: body.rate as string,
          source: body.source,
          asOf: body.asOf,
        });
        out.stored++;
      } catch (err) {
        out.failed++;
        warn(`reference rate ${p.from}/${p.to} not refreshed: ${(err as Error).message}`, {
          pair: pairKey(p.from, p.to),
        });
        // The service is down or refusing: the rest wait for the next scan rather than each time out.
        break;
      }
    }
    return { ...out, failed: missing.length - out.stored };
  }

  /** POSTs each alert not yet delivered to the operations webhook, signed; stops at the first failure. */
  async function notify(config: Config): Promise<{ notified: number; notifyFailed: number }> {
    const hook = config.watch.opsWebhook;
    if (!hook) return { notified: 0, notifyFailed: 0 };
    let notified = 0;
    for (const alert of await alertsToNotify(
      db,
      WATCH_LIMITS.notifyWithinHours,
      WATCH_LIMITS.notificationsPerScan,
    )) {
      const body = JSON.stringify({ type: 'clearhouse.alert', alert: webhookAlert(alert) });
      const ts = Math.floor(Date.now() / 1000);
      try {
        await callUpstream(
          hook.url,
          {
            method: 'POST',
            headers: {
              'content-type': 'application/json',
              [TIMESTAMP_HEADER]: String(ts),
              [SIGNATURE_HEADER]: signWebhook(hook.secret, ts, body),
            },
            body,
          },
          { who: 'operations webhook', maxBytes: 64 * 1024 },
        );
      } catch (err) {
        warn(
          `operations webhook: alert ${alert.id} not delivered (retried next scan): ${(err as Error).message}`,
          {
            alertId: alert.id,
          },
        );
        return { notified, notifyFailed: 1 };
      }
      await markNotified(db, alert.id);
      notified++;
    }
    return { notified, notifyFailed: 0 };
  }

  return {
    /**
     * Run by the `watch-scan` Schedule (workflows/watch-scan.ts): refreshes today's reference
     * rates, runs every detector, keeps the alerts (raise, refresh, resolve) and delivers new ones
     * to the operations webhook. A detector that fails leaves its alerts as they were (never
     * resolved by a failure to look); only when every detector failed does the scan fail, to be
     * retried. Delivery failures are retried by the next scan, never thrown. `now` pins the
     * scan's clock (tests).
     */
    async scanWatch(opts: { now?: string } = {}): Promise<WatchScanResult> {
      const config = deps.config;
      if (!config) throw new Error('scanWatch needs the configuration (ActivityDeps.config)');
      const at = opts.now ? new Date(opts.now) : new Date();
      if (Number.isNaN(at.getTime())) throw new RangeError(`scanWatch: now is not a time: ${opts.now}`);
      const result: WatchScanResult = {
        at: at.toISOString(),
        referenceRates: { pairs: 0, stored: 0, failed: 0 },
        detectors: {},
        raised: 0,
        refreshed: 0,
        resolved: 0,
        notified: 0,
        notifyFailed: 0,
      };
      try {
        result.referenceRates = await refreshReferenceRates(utcDay(at));
      } catch (err) {
        warn(`reference rates not refreshed: ${(err as Error).message}`, {});
      }
      let firstFailure: Error | null = null;
      for (const d of detectors(config, at)) {
        try {
          const found = await d.run();
          for (const f of found) {
            const { created } = await raiseAlert(db, { ...f, disclosure: ALERT_KINDS[f.kind].disclosure });
            if (created) result.raised++;
            else result.refreshed++;
          }
          for (const kind of d.kinds)
            result.resolved += await resolveCleared(
              db,
              kind,
              found.filter((f) => f.kind === kind).map((f) => f.dedupKey),
            );
          result.detectors[d.name] = { found: found.length };
        } catch (err) {
          firstFailure ??= err instanceof Error ? err : new Error(String(err));
          result.detectors[d.name] = { failed: (err as Error).message };
          warn(`watch detector ${d.name} failed: ${(err as Error).message}`, { detector: d.name });
        }
      }
      if (firstFailure !== null && Object.values(result.detectors).every((d) => 'failed' in d))
        throw firstFailure;
      Object.assign(result, await notify(config));
      if (result.raised > 0 || result.resolved > 0)
        info(
          `watch scan: ${result.raised} alert(s) raised, ${result.refreshed} refreshed, ${result.resolved} resolved`,
          {
            ...result,
          },
        );
      return result;
    },
  };
}

/** An alert as the operations webhook receives it (operators' own channel: everything). */
function webhookAlert(a: Alert) {
  return {
    id: a.id,
    kind: a.kind,
    severity: a.severity,
    disclosure: a.disclosure,
    state: a.state,
    partnerId: a.partnerId,
    subject: a.subject,
    title: a.title,
    windowStart: a.windowStart,
    windowEnd: a.windowEnd,
    firstSeen: a.firstSeen,
    lastSeen: a.lastSeen,
    occurrences: a.occurrences,
    evidence: a.evidence,
  };
}

const addDays = (day: string, n: number): string =>
  new Date(Date.parse(`${day}T00:00:00Z`) + n * 86_400_000).toISOString().slice(0, 10);

/** Temporal's activity logger; outside an activity (a test calling the function) nothing. */
function info(message: string, attrs: Record<string, unknown>): void {
  try {
    log.info(message, attrs);
  } catch {
    /* not in an activity */
  }
}

/** Temporal's activity logger; outside an activity (a test calling the function) stderr. */
function warn(message: string, attrs: Record<string, unknown>): void {
  try {
    log.warn(message, attrs);
  } catch {
    process.stderr.write(`${message}\n`);
  }
}

// ---------------------------------------------------------------------------------------------
// The Schedule (created at worker start, like the SLA sweep's; see workers/main.ts).

/** The Schedule that runs the watch scan (workflows/watch-scan.ts). */
export const watchScanScheduleId = (config: Config): string => `${config.temporal.taskQueuePrefix}watch-scan`;

/**
 * Creates (or updates) the watch scan's Schedule: every `everySeconds` (WATCH_SCAN_SECONDS), one
 * run at a time (overlap SKIP: a slow scan is not doubled; the next one reads the state then). A
 * short catch-up window: after an outage one scan sees everything that is still true.
 */
export async function upsertWatchScanSchedule(
  client: Client,
  config: Config,
  everySeconds: number = config.watch.scanSeconds,
): Promise<void> {
  const scheduleId = watchScanScheduleId(config);
  const options = {
    spec: { intervals: [{ every: `${everySeconds}s` as const }] },
    action: {
      type: 'startWorkflow' as const,
      workflowType: 'watchScan',
      taskQueue: taskQueue(config, 'settlement'),
      workflowId: scheduleId,
    },
    policies: { overlap: 'SKIP' as const, catchupWindow: '5 minutes' },
  };
  try {
    await client.schedule.create({ scheduleId, ...options });
  } catch (err) {
    if (!(err instanceof ScheduleAlreadyRunning)) throw err;
    await client.schedule.getHandle(scheduleId).update((prev) => ({ ...prev, ...options }));
  }
}
