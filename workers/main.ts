import { DefaultLogger, NativeConnection, Runtime, type LogLevel } from '@temporalio/worker';
import { createPool } from '../db/pool';
import { startupRoleRefusal } from '../db/roles';
import { loadConfigOrExit } from '../platform/config';
import { createLogger } from '../platform/logger';
import { connectTemporalClient, connectWhenReachable, temporalConnectOptions } from '../platform/temporal';
import { upsertExceptionSlaSweepSchedule, upsertTemporalSweepSchedule } from '../services/schedules';
import { upsertWatchScanSchedule } from '../activities/watch';
import { createWorkers } from './create';

async function main(): Promise<void> {
  const config = loadConfigOrExit();
  const logger = createLogger(config, 'worker');

  // SDK and workflow/activity logs go through pino; core metrics are exposed for Prometheus.
  Runtime.install({
    logger: new DefaultLogger('INFO', (entry) => {
      const level = entry.level.toLowerCase() as Lowercase<LogLevel>;
      const method =
        level === 'trace'
          ? 'trace'
          : level === 'debug'
            ? 'debug'
            : level === 'warn'
              ? 'warn'
              : level === 'error'
                ? 'error'
                : 'info';
      logger[method](entry.meta ?? {}, entry.message);
    }),
    telemetryOptions: {
      metrics: { prometheus: { bindAddress: `0.0.0.0:${config.worker.metricsPort}` } },
      logging: { filter: { core: 'WARN', other: 'ERROR' }, forward: {} },
    },
    // Graceful shutdown: on these signals the runtime stops polling, lets running
    // activities finish (up to shutdownGraceTime) and resolves worker.run().
    shutdownSignals: ['SIGINT', 'SIGTERM'],
  });

  const db = createPool(config);
  // In production the connected role must be the application's: neither a superuser nor the
  // owner of the audit and ledger history, which it could otherwise rewrite unseen.
  const roleRefusal = await startupRoleRefusal(config, db, 'worker');
  if (roleRefusal) {
    process.stderr.write(`${roleRefusal}\n`);
    await db.end();
    process.exit(78); // EX_CONFIG
  }
  const { connectionOptions } = temporalConnectOptions(config);
  const connection = await connectWhenReachable(() => NativeConnection.connect(connectionOptions), {
    address: String(connectionOptions.address),
    warn: (m) => logger.warn(m),
  });
  const workers = await createWorkers({
    config,
    db,
    connection,
    ...(config.worker.workflowBundlePath
      ? { workflowBundle: { codePath: config.worker.workflowBundlePath } }
      : {}),
  });
  // What happens on Temporal with no workflow code running is audited by a Schedule's sweep.
  // Exceptions past their SLA are escalated by another (never a timer per exception), and the
  // money is watched by a third (anomaly alerts, never a workflow per transaction).
  if (
    config.worker.temporalSweepSeconds > 0 ||
    config.exceptionQueue.sweepSeconds > 0 ||
    config.watch.scanSeconds > 0
  ) {
    const client = await connectTemporalClient(config, (m) => logger.warn(m));
    try {
      if (config.worker.temporalSweepSeconds > 0)
        await upsertTemporalSweepSchedule(client, config, config.worker.temporalSweepSeconds);
      if (config.exceptionQueue.sweepSeconds > 0) await upsertExceptionSlaSweepSchedule(client, config);
      if (config.watch.scanSeconds > 0) await upsertWatchScanSchedule(client, config);
    } finally {
      await client.connection.close();
    }
  }
  logger.info(
    {
      taskQueues: workers.map((w) => w.options.taskQueue),
      metrics: `http://localhost:${config.worker.metricsPort}/metrics`,
    },
    'worker started',
  );
  try {
    await Promise.all(workers.map((w) => w.run()));
  } finally {
    await connection.close();
    await db.end();
    logger.info('worker stopped');
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`worker failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
