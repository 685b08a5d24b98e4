import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { createPool } from '../../db/pool';
import { loadConfig, type Config } from '../../platform/config';

/** Values the global setup (test/global-setup.mjs) exported for this run. */
function required(name: string): string {
  const v = process.env[name];
  if (!v)
    throw new Error(`${name} is not set: run the tests with jest (npm test), which starts the services`);
  return v;
}

export const uniqueId = (prefix: string): string => `${prefix}-${randomBytes(4).toString('hex')}`;

export interface TestDatabase {
  /** The application's role (clearhouse_app): what the stack's API, workers and child processes use. */
  url: string;
  /** The owner's URL (migrations' role; superuser of the embedded Postgres). */
  ownerUrl: string;
  /** The owner's pool: fixtures that set up or tamper as a DBA would (ALTER TABLE, disabled triggers). */
  pool: pg.Pool;
  /** The application's pool: what the product connects with (README, "Database roles"). */
  appPool: pg.Pool;
  drop: () => Promise<void>;
}

/** A fresh, migrated database for one test file: a clone of the template migrated in global setup. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const adminUrl = required('CLEARHOUSE_TEST_PG_ADMIN_URL');
  const template = required('CLEARHOUSE_TEST_TEMPLATE_DB');
  const name = `ch_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name} TEMPLATE ${template}`);
  } finally {
    await admin.end();
  }
  // Privileges are inside the database, so the clone carries the template's grants.
  const at = (base: string) => {
    const u = new URL(base);
    u.pathname = `/${name}`;
    return u.toString();
  };
  const ownerUrl = at(adminUrl);
  const url = at(required('CLEARHOUSE_TEST_PG_APP_URL'));
  const pool = createPool({ db: { url: ownerUrl, poolMax: 10 } });
  const appPool = createPool({ db: { url, poolMax: 10 } });
  return {
    url,
    ownerUrl,
    pool,
    appPool,
    drop: async () => {
      await Promise.all([pool.end(), appPool.end()]);
      const c = new pg.Client({ connectionString: adminUrl });
      await c.connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}

/** The environment a process of this test would run with: this run's Temporal, fresh task queues. */
export function testEnv(overrides: Record<string, string> = {}): Record<string, string> {
  return {
    NODE_ENV: 'test',
    // A child process given only this environment is still the test runner's (platform/config.ts).
    CLEARHOUSE_TEST_RUN: '1',
    LOG_LEVEL: 'silent',
    TEMPORAL_ADDRESS: required('TEMPORAL_ADDRESS'),
    TEMPORAL_NAMESPACE: process.env.TEMPORAL_NAMESPACE ?? 'default',
    TASK_QUEUE_PREFIX: `${uniqueId('t')}-`,
    OPERATOR_TOKEN: 'test-operator-token-0123456789',
    ...overrides,
  };
}

/** A validated Config as a process would load it, pointed at this test's database and task queues. */
export function testConfig(overrides: Record<string, string> = {}): Config {
  return loadConfig(testEnv(overrides));
}

export const workflowBundlePath = (): string => required('CLEARHOUSE_TEST_WORKFLOW_BUNDLE');
