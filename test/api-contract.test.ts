import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BACKFILL_MAX_DAYS } from '../api/routes/settlements';
import { MAX_HOURLY_DAYS, MAX_REVENUE_DAYS_ALL_PARTNERS } from '../api/routes/insights';
import { MAX_POSITION_DAYS } from '../api/routes/transactions';
import { createCurrencyRegistry, type CurrencyRegistry } from '../domain/money';
import { schemathesisCommand } from '../scripts/lib/schemathesis.mjs';
import { onboardPartner, type TestPartner } from './support/partners';
import { startStack, type Stack } from './support/stack';

// An independent fuzzer holds the API to its published contract: Schemathesis (pinned in
// scripts/lib/schemathesis.mjs, installed by .ci/run from PyPI) reads /openapi.json and runs
// every check it has — valid requests must be accepted, invalid ones refused, every status,
// header and body must be the one documented, undeclared methods answered 405 with Allow —
// once with an operator token holding every role and once with a partner's key. Seeded and
// time-boxed: SCHEMATHESIS_SEED and SCHEMATHESIS_MAX_TIME (seconds per credential) run it
// longer by hand. What the run is told to skip, and why, is in test/schemathesis/ and the
// README ("The API contract").
const SEED = Number(process.env.SCHEMATHESIS_SEED ?? 20261206);
const MAX_TIME_S = Number(process.env.SCHEMATHESIS_MAX_TIME ?? 45);

const ARTIFACTS = path.resolve(__dirname, '..', 'test-artifacts');
const HOOKS_DIR = path.resolve(__dirname, 'schemathesis');

let stack: Stack;
let partner: TestPartner;
let operator: string;
let currencies: CurrencyRegistry;

beforeAll(async () => {
  // Rate limits off for this run: the fuzzer sends thousands of requests a minute with one
  // credential and thousands without any (every "missing credentials → 401" probe), from one
  // address; the limiters would rightly answer 429, which the checks count as a pass, and the
  // run would test nothing. test/rate-limits.test.ts holds the limiters' behaviour.
  stack = await startStack({
    overrides: { RATE_LIMIT_FAILURES_PER_ADDRESS_PER_MINUTE: '0', RATE_LIMIT_PER_CREDENTIAL_PER_MINUTE: '0' },
  });
  partner = await onboardPartner(stack);
  operator = await stack.tokenFor('contract-fuzzer', 'admin', 'resolver', 'approver', 'viewer');
  currencies = createCurrencyRegistry(stack.config.currencies.extraAssets);
}, 120_000);

afterAll(async () => {
  await stack?.close();
});

interface Run {
  code: number;
  output: string;
  /** How many answers had each status (from the run's HAR report). */
  statuses: Map<number, number>;
}

async function schemathesis(credential: string, label: string): Promise<Run> {
  const st = schemathesisCommand();
  if (!st)
    throw new Error('Schemathesis is not installed: run `node scripts/lib/schemathesis.mjs` (CI does)');
  const reportDir = mkdtempSync(path.join(os.tmpdir(), `schemathesis-${label}-`));
  const args = [
    ...st.args,
    'run',
    `${stack.baseUrl}/openapi.json`,
    '--checks',
    'all',
    '--seed',
    String(SEED),
    '--max-time',
    String(MAX_TIME_S),
    // One worker: Hypothesis describes its strategies with ast.parse, which is not thread-safe
    // on Python 3.11 ("AST constructor recursion depth mismatch").
    '--workers',
    '1',
    '--request-timeout',
    '20',
    '-H',
    `Authorization: Bearer ${credential}`,
    '--report',
    'har',
    '--report-dir',
    reportDir,
    '--output-truncate',
    'true',
    // A camt.053 bank statement is XML: no JSON Schema says which strings are one, so the
    // fuzzer's "valid" bodies are not, and its rejections would be findings. The route's
    // contract (415, 422 naming where, idempotent import) is tested in test/payouts.test.ts.
    '--exclude-path',
    '/v1/bank-statements',
    // By hand, to look closer: e.g. SCHEMATHESIS_ARGS='--include-path /v1/transactions --phases fuzzing'.
    ...(process.env.SCHEMATHESIS_ARGS?.split(' ').filter(Boolean) ?? []),
  ];
  return new Promise((resolve, reject) => {
    const child = spawn(st.command, args, {
      env: {
        ...process.env,
        NO_COLOR: '1',
        // The rules a JSON Schema cannot state (test/schemathesis/clearhouse_hooks.py), and the
        // server's own currency scales for them.
        PYTHONPATH: [st.env.PYTHONPATH, HOOKS_DIR].join(path.delimiter),
        SCHEMATHESIS_HOOKS: 'clearhouse_hooks',
        CLEARHOUSE_BACKFILL_MAX_DAYS: String(BACKFILL_MAX_DAYS),
        CLEARHOUSE_MAX_REVENUE_DAYS: String(MAX_REVENUE_DAYS_ALL_PARTNERS),
        CLEARHOUSE_MAX_HOURLY_DAYS: String(MAX_HOURLY_DAYS),
        CLEARHOUSE_MAX_POSITION_DAYS: String(MAX_POSITION_DAYS),
        CLEARHOUSE_THRESHOLD_CEILING: stack.config.contracts.maxPayoutApprovalThresholdMinor,
        CLEARHOUSE_CURRENCY_SCALES: JSON.stringify(
          Object.fromEntries(currencies.codes().map((c) => [c, currencies.requireScale(c)])),
        ),
      },
      cwd: path.resolve(__dirname, '..'),
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.once('error', reject);
    child.once('exit', (code) => {
      const statuses = new Map<number, number>();
      for (const file of readdirSync(reportDir).filter((f) => f.startsWith('har-'))) {
        const har = JSON.parse(readFileSync(path.join(reportDir, file), 'utf8')) as {
          log: { entries: { response: { status: number } }[] };
        };
        for (const e of har.log.entries)
          statuses.set(e.response.status, (statuses.get(e.response.status) ?? 0) + 1);
      }
      rmSync(reportDir, { recursive: true, force: true });
      // The whole report, for a person reading a failure (test-artifacts/ is not committed).
      mkdirSync(ARTIFACTS, { recursive: true });
      writeFileSync(path.join(ARTIFACTS, `schemathesis-${label}.log`), output);
      resolve({ code: code ?? -1, output, statuses });
    });
  });
}

const timeout = (MAX_TIME_S + 120) * 1000;

/**
 * A run that tested what it was given to test: exit 0, every operation tested and every case
 * passed, never a 429 (a limiter answering would make every check pass), answers that were
 * accepted (2xx), and no operation this credential may call answered it only 401/403 (a
 * credential revoked mid-run would make the rest of the run vacuous).
 */
async function expectClean(run: Run, security: 'partnerApiKey' | 'operatorToken'): Promise<void> {
  if (run.code !== 0)
    throw new Error(`Schemathesis failed (exit ${run.code}):\n${run.output.slice(-20_000)}`);
  const operations = /Selected: (\d+)\/(\d+)\s+Tested: (\d+)/.exec(run.output);
  expect(operations).not.toBeNull();
  // Every selected operation tested; the only one not selected is the XML bank statement (above).
  expect(operations![3]).toBe(operations![1]);
  if (!process.env.SCHEMATHESIS_ARGS) expect(Number(operations![2]) - Number(operations![1])).toBe(1);
  const cases = /(\d+) generated, (\d+) passed/.exec(run.output);
  expect(cases).not.toBeNull();
  expect(cases![2]).toBe(cases![1]);
  expect(run.statuses.get(429) ?? 0).toBe(0);
  expect([...run.statuses].filter(([status]) => status >= 200 && status < 300).length).toBeGreaterThan(0);

  const spec = (await stack.api('/openapi.json', { token: null })).body as {
    paths: Record<string, Record<string, { security?: Record<string, string[]>[] }>>;
  };
  const entitled = new Set(
    Object.entries(spec.paths).flatMap(([p, ops]) =>
      Object.entries(ops)
        .filter(([, op]) => op.security?.some((s) => security in s))
        .map(([method]) => `${method.toUpperCase()} ${p}`),
    ),
  );
  const warning = /Authentication failed:[\s\S]*?(?=💡|\n\n\S)/.exec(run.output)?.[0] ?? '';
  const refused = [...warning.matchAll(/^\s+- (GET|POST|PUT|DELETE) (\S+)$/gm)].map((m) => `${m[1]} ${m[2]}`);
  expect(refused.filter((op) => entitled.has(op))).toEqual([]);
}

const statusLine = (run: Run) =>
  [...run.statuses]
    .sort(([a], [b]) => a - b)
    .map(([status, n]) => `${status}×${n}`)
    .join(' ');

// The partner first: the operator's run may rotate that partner's key or suspend it (it holds
// the admin role), and must not decide what the partner's run can test.
it(
  'a partner meets the published contract',
  async () => {
    const run = await schemathesis(partner.apiKey, 'partner');
    process.stdout.write(`schemathesis partner: ${statusLine(run)}\n`);
    await expectClean(run, 'partnerApiKey');
  },
  timeout,
);

it(
  'an operator holding every role meets the published contract',
  async () => {
    const run = await schemathesis(operator, 'operator');
    process.stdout.write(`schemathesis operator: ${statusLine(run)}\n`);
    await expectClean(run, 'operatorToken');
  },
  timeout,
);
