#!/usr/bin/env node
// Runs the embedded Postgres as its own process until SIGINT/SIGTERM, then stops it cleanly.
// Usage: node scripts/postgres-server.mjs <dataDir> <port> <persistent:true|false> <database>
// Prints `ready <url>` once the database accepts connections, or one line `error: <what to
// do>` and exits 1, leaving no Postgres behind. Callers: scripts/lib/postgres.mjs spawnPostgresServer.
import { rmSync } from 'node:fs';
import { ensureDatabase, startPostgres, StartupError } from './lib/postgres.mjs';

const [dataDir, port, persistent, database] = process.argv.slice(2);
if (!dataDir || !port || !database) {
  process.stderr.write('usage: postgres-server.mjs <dataDir> <port> <persistent> <database>\n');
  process.exit(2);
}
const quiet = process.env.PG_LOG_ALL !== 'true';
let pg = null;
let stopping = false;
async function stop(code) {
  if (stopping) return;
  stopping = true;
  await pg?.stop().catch(() => {});
  process.exit(code);
}
process.on('SIGINT', () => void stop(0));
process.on('SIGTERM', () => void stop(0));

try {
  pg = await startPostgres({
    dataDir,
    port: Number(port),
    persistent: persistent !== 'false',
    log: (line) => {
      if (!quiet || /ERROR|FATAL|PANIC|ready to accept/.test(line)) process.stdout.write(`${line}\n`);
    },
  });
  await ensureDatabase(pg.url('postgres'), database);
  process.stdout.write(`ready ${pg.url(database)}\n`);
} catch (err) {
  const message = err instanceof StartupError ? err.message : `Postgres could not start: ${err.message}`;
  process.stdout.write(`error: ${message}\n`);
  if (persistent === 'false') rmSync(dataDir, { recursive: true, force: true });
  await stop(1);
}
