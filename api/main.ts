import { createPool } from '../db/pool';
import { startupRoleRefusal } from '../db/roles';
import { loadConfigOrExit } from '../platform/config';
import { createLogger } from '../platform/logger';
import { connectTemporalClient } from '../platform/temporal';
import { createApp } from './app';

const SHUTDOWN_GRACE_MS = 10_000;

async function main(): Promise<void> {
  const config = loadConfigOrExit();
  const logger = createLogger(config, 'api');
  const db = createPool(config);
  // In production the connected role must be the application's: neither a superuser nor the
  // owner of the audit and ledger history, which it could otherwise rewrite unseen.
  const roleRefusal = await startupRoleRefusal(config, db, 'api');
  if (roleRefusal) {
    process.stderr.write(`${roleRefusal}\n`);
    await db.end();
    process.exit(78); // EX_CONFIG
  }
  const temporal = await connectTemporalClient(config, (m) => logger.warn(m));
  const app = createApp({ config, db, temporal, logger });

  const server = app.listen(config.api.port, config.api.host, () => {
    logger.info({ url: config.api.publicUrl, docs: `${config.api.publicUrl}/docs` }, 'api listening');
  });
  server.keepAliveTimeout = 65_000;

  const shutdown = (signal: string) => {
    logger.info({ signal }, 'api shutting down');
    const force = setTimeout(() => process.exit(1), SHUTDOWN_GRACE_MS).unref();
    server.close(() => {
      void Promise.allSettled([db.end(), temporal.connection.close()]).then(() => {
        clearTimeout(force);
        process.exit(0);
      });
    });
    server.closeIdleConnections();
  };
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
}

main().catch((err: unknown) => {
  process.stderr.write(
    `api failed to start: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  process.exit(1);
});
