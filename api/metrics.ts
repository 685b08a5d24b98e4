import type { RequestHandler } from 'express';
import { collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import { activeAlertCounts, ALERT_KINDS, alertKinds } from '../db/alerts';
import type { Db } from '../db/pool';

/**
 * One registry per app instance, so tests can build several apps in one process. With `db`, the
 * watch's active alerts are collected from Postgres at each scrape (the one source of truth: the
 * API holds no alert state of its own).
 */
export function createMetrics(deps: { db?: Db } = {}) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'clearhouse_api_' });
  const httpDuration = new Histogram({
    name: 'clearhouse_http_request_duration_seconds',
    help: 'HTTP request duration by route and status',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  const { db } = deps;
  if (db) {
    // One read per scrape, shared by both gauges (prom-client collects them concurrently).
    let pending: Promise<Awaited<ReturnType<typeof activeAlertCounts>> | null> | null = null;
    const read = () =>
      (pending ??= activeAlertCounts(db)
        .catch(() => null)
        .finally(() => {
          pending = null;
        }));
    new Gauge({
      name: 'clearhouse_alerts_active',
      help: 'Active watch alerts (anomalies, integrity signals, late reports) by kind and severity',
      labelNames: ['kind', 'severity'] as const,
      registers: [registry],
      async collect() {
        const rows = await read();
        this.reset();
        if (rows === null) return; // no series rather than wrong zeros: see clearhouse_alerts_scrape_failed
        // Every kind and severity the watch raises is a series, 0 when quiet (alert rules see it).
        for (const kind of alertKinds)
          for (const severity of ALERT_KINDS[kind].severities) this.set({ kind, severity }, 0);
        for (const row of rows) this.set({ kind: row.kind, severity: row.severity }, row.count);
      },
    });
    new Gauge({
      name: 'clearhouse_alerts_scrape_failed',
      help: '1 when the active alerts could not be read from Postgres at this scrape',
      registers: [registry],
      async collect() {
        this.set((await read()) === null ? 1 : 0);
      },
    });
  }
  const middleware: RequestHandler = (req, res, next) => {
    const end = httpDuration.startTimer();
    res.on('finish', () => {
      // The route pattern, not the raw URL, keeps label cardinality bounded.
      const route = (req.route as { path?: string } | undefined)?.path ?? 'unmatched';
      end({ method: req.method, route: `${req.baseUrl}${route}`, status: String(res.statusCode) });
    });
    next();
  };
  return { registry, middleware };
}
