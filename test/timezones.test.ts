import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { Client, ServiceError, WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { NativeConnection } from '@temporalio/worker';
import { dataError, toFailure } from '../activities/failures';
import { registerPartner } from '../db/partners';
import { ValidationError } from '../domain/errors';
import { timezoneSchema } from '../domain/partner';
import { acceptedTimezones, checkTimezone } from '../domain/timezones';
import { settlementScheduleId, upsertSettlementSchedule } from '../services/schedules';
import { tableFrom } from '../scripts/timezones-generate';
import { decideApplication, onboardingStatus } from '../workflows/onboarding';
import { startStoredApplication } from './support/applications';
import { sendSealed } from './support/decisions';
import { createTestDatabase, uniqueId } from './support/env';
import { application, waitForApplication } from './support/partners';
import { startStack, type Stack } from './support/stack';

// One time-zone rule for every component: the API accepts a zone only if Intl, Postgres and
// Temporal all do, in its one canonical spelling; what Temporal refuses anyway is a 422 or a
// Failed onboarding, never a 500 or an endless retry.
describe('one time-zone rule for the API, Postgres and Temporal', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack();
  });
  afterAll(async () => {
    await stack?.close();
  });

  /** Whether the real Temporal creates a settlement Schedule in `tz` (through our service). */
  const temporalTakes = async (tz: string): Promise<boolean> => {
    const partnerId = uniqueId('tz');
    try {
      await upsertSettlementSchedule(stack.temporal, stack.config, {
        partnerId,
        timezone: tz,
        hourLocal: 1,
        paused: true,
        cadence: 'daily',
      });
    } catch (err) {
      // Temporal's refusal reaches callers as a ValidationError naming the field.
      expect(err).toBeInstanceOf(ValidationError);
      expect((err as ValidationError).details).toEqual([
        { path: 'timezone', message: expect.stringContaining(`unknown time zone ${tz}`) },
      ]);
      return false;
    }
    const handle = stack.temporal.schedule.getHandle(settlementScheduleId(partnerId));
    expect((await handle.describe()).spec.timezone).toBe(tz);
    await handle.delete();
    return true;
  };

  it('agrees with Temporal on each kind of name: what Temporal refuses, the API refuses first', async () => {
    const kinds: { tz: string; api: boolean; temporal: boolean; use?: string }[] = [
      { tz: 'Europe/Malta', api: true, temporal: true },
      { tz: 'UTC', api: true, temporal: true },
      { tz: 'America/Sao_Paulo', api: true, temporal: true },
      // Another letter case: Intl and Postgres take it, Temporal does not.
      { tz: 'europe/malta', api: false, temporal: false, use: 'Europe/Malta' },
      // ICU's System V names: Intl takes them, Temporal does not.
      { tz: 'SystemV/EST5EDT', api: false, temporal: false },
      // Old names and System V zones: every component takes them; the API stores one spelling.
      { tz: 'US/Eastern', api: false, temporal: true, use: 'America/New_York' },
      { tz: 'Asia/Calcutta', api: false, temporal: true, use: 'Asia/Kolkata' },
      { tz: 'EST5EDT', api: false, temporal: true, use: 'America/New_York' },
      { tz: 'Etc/UTC', api: false, temporal: true, use: 'UTC' },
    ];
    for (const k of kinds) {
      const api = timezoneSchema.safeParse(k.tz).success;
      const temporal = await temporalTakes(k.tz);
      expect({ tz: k.tz, api, temporal }).toEqual({ tz: k.tz, api: k.api, temporal: k.temporal });
      // Every refusal names the zone to use when there is one, and Temporal takes that one.
      const verdict = checkTimezone(k.tz);
      if (!verdict.accepted) {
        expect(verdict.suggestion).toBe(k.use ?? null);
        if (k.use) {
          expect(verdict.message).toContain(k.use);
          expect(timezoneSchema.safeParse(k.use).success).toBe(true);
        }
      }
    }
  });

  it('has Temporal create a Schedule in every zone the API accepts', async () => {
    // One Schedule per lane, its zone changed by updates (each one is validated like a create).
    const lanes = 8;
    const ids = Array.from({ length: lanes }, () => settlementScheduleId(uniqueId('tz-all')));
    const refused: string[] = [];
    await Promise.all(
      ids.map(async (scheduleId, lane) => {
        const zones = acceptedTimezones.filter((_, i) => i % lanes === lane);
        await stack.temporal.schedule.create({
          scheduleId,
          spec: { calendars: [{ hour: 1 }], timezone: zones[0]! },
          action: { type: 'startWorkflow', workflowType: 'scheduledSettlement', taskQueue: 'none', args: [] },
          state: { paused: true },
        });
        const handle = stack.temporal.schedule.getHandle(scheduleId);
        for (const tz of zones.slice(1))
          await handle
            .update((prev) => ({ ...prev, spec: { ...prev.spec, timezone: tz } }))
            .catch(() => refused.push(tz));
        await handle.delete();
      }),
    );
    expect(refused).toEqual([]);
  }, 180_000);

  it('refuses names it does not store at the API, saying which name to use', async () => {
    const res = await stack.api('/v1/partner-applications', {
      body: application({
        timezone: 'europe/malta',
        providerConnection: {
          format: 'csv-daily',
          baseUrl: 'https://reports.partner.example',
          options: { timezone: 'Asia/Calcutta' },
        },
      }),
    });
    expect(res.status).toBe(422);
    expect(res.body.error.details).toEqual(
      expect.arrayContaining([
        { path: 'timezone', message: expect.stringContaining('did you mean Europe/Malta?') },
        {
          path: 'providerConnection.options.timezone',
          message: 'Asia/Calcutta is an old name: use Asia/Kolkata',
        },
      ]),
    );
    for (const [tz, message] of [
      ['SystemV/EST5EDT', 'not an IANA time zone such as Europe/Malta'],
      ['US/Eastern', 'US/Eastern is an old name: use America/New_York'],
    ] as const) {
      const refused = await stack.api('/v1/partner-applications', { body: application({ timezone: tz }) });
      expect(refused.status).toBe(422);
      expect(refused.body.error.details).toEqual([
        { path: 'timezone', message: expect.stringContaining(message) },
      ]);
    }

    // The OpenAPI document says exactly what is accepted: one component, referenced.
    const spec = (await stack.api('/openapi.json', { token: null })).body;
    expect(spec.components.schemas.Timezone).toMatchObject({ type: 'string', example: 'Europe/Malta' });
    expect(spec.components.schemas.Timezone.enum).toEqual(acceptedTimezones);
    expect(spec.components.schemas.PartnerApplication.properties.timezone).toEqual({
      $ref: '#/components/schemas/Timezone',
    });
  });

  it('answers 422 naming timezone, not 500, when Temporal refuses a stored zone for the Schedule', async () => {
    // A partner stored before the rule, in a spelling Postgres takes (it ignores case) and
    // Temporal does not.
    const id = uniqueId('tz-stored');
    await stack.db.pool.query(
      `INSERT INTO partners (id, name, kind, timezone, settlement_currency, status, activated_at)
       VALUES ($1, 'Stored Partner', 'provider', 'europe/malta', 'EUR', 'active', now())`,
      [id],
    );
    const put = () =>
      stack.api(`/v1/partners/${id}/settlement-schedule`, { method: 'PUT', body: { hourLocal: 2 } });
    const refused = await put();
    expect(refused.status).toBe(422);
    expect(refused.body.error).toMatchObject({
      code: 'validation_failed',
      details: [{ path: 'timezone', message: expect.stringContaining('unknown time zone europe/malta') }],
    });
    // Stored in its canonical spelling, the same partner gets its Schedule.
    await stack.db.pool.query(`UPDATE partners SET timezone = 'Europe/Malta' WHERE id = $1`, [id]);
    expect(await put()).toMatchObject({ status: 200, body: { timezone: 'Europe/Malta' } });
    await stack.temporal.schedule.getHandle(settlementScheduleId(id)).delete();
  });

  it("makes Temporal's invalid-argument answer a non-retryable DataError in activities", async () => {
    // The gRPC error as Temporal sends it, over the API's connection (grpc-js) and over a
    // worker's (native), which activities use: they carry the reason in different fields.
    const refusedSchedule = (client: Client) =>
      client.workflowService
        .createSchedule({
          namespace: stack.config.temporal.namespace,
          scheduleId: uniqueId('tz-raw'),
          requestId: uniqueId('req'),
          schedule: {
            spec: { timezoneName: 'europe/malta', calendar: [{ hour: '1' }] },
            action: {
              startWorkflow: {
                workflowId: uniqueId('wf'),
                workflowType: { name: 'x' },
                taskQueue: { name: 'q' },
              },
            },
          },
        })
        .catch((err: unknown) => err);
    const raw = await refusedSchedule(stack.temporal);
    const native = await NativeConnection.connect({ address: stack.config.temporal.address });
    const rawNative = await refusedSchedule(
      new Client({ connection: native, namespace: stack.config.temporal.namespace }),
    ).finally(() => native.close());
    // And as the SDK wraps it: a ServiceError caused by it.
    const wrapped = await stack.temporal.workflow
      .start('scheduledSettlement', { taskQueue: 'none', workflowId: uniqueId('wf'), cronSchedule: 'never' })
      .catch((err: unknown) => err);
    expect(wrapped).toBeInstanceOf(ServiceError);
    for (const [err, reason] of [
      [raw, /unknown time zone europe\/malta/],
      [rawNative, /unknown time zone europe\/malta/],
      [wrapped, /invalid CronSchedule/],
    ] as const) {
      const failure = toFailure(err);
      expect(failure).toBeInstanceOf(ApplicationFailure);
      expect(failure).toMatchObject({ type: 'DataError', nonRetryable: true });
      expect((failure as ApplicationFailure).message).toMatch(/^data error INVALID_ARGUMENT \(Temporal\): /);
      expect((failure as ApplicationFailure).message).toMatch(reason);
    }
    // Other answers (here NOT_FOUND) are not data errors: they keep the retry policy's say.
    const missing = await stack.temporal.workflowService
      .describeWorkflowExecution({
        namespace: stack.config.temporal.namespace,
        execution: { workflowId: uniqueId('nobody') },
      })
      .catch((err: unknown) => err);
    expect(dataError(missing)).toBeNull();
    expect(toFailure(missing)).toBe(missing);
    // What services/schedules.ts throws is non-retryable too.
    expect(toFailure(new ValidationError('Temporal refused the settlement schedule'))).toMatchObject({
      type: 'ValidationError',
      nonRetryable: true,
    });
  });

  it('ends an onboarding whose Schedule Temporal refuses as Failed, with its id free again', async () => {
    // Past the API's rule (straight on Temporal), as an onboarding started before it could be.
    const body = application();
    const { name, kind, settlementCurrency, company, licences, contacts } = body as any;
    const id = uniqueId('tz-onboard');
    const contract = {
      effectiveFrom: '2026-01-01',
      terms: {
        base: 'ggr',
        tiers: [{ upToMinor: null, rate: '0.1' }],
        tierMode: 'marginal',
        negativeBase: 'floor',
        jackpots: 'exclude',
        settlement: { period: 'daily', cutoffGraceMinutes: 0, payoutApprovalThresholdMinor: '0' },
      },
    };
    const handle = await startStoredApplication(stack, {
      partner: { id, name, kind, timezone: 'europe/malta', settlementCurrency },
      details: { company, licences, contacts },
      webhookUrl: null,
      contract: contract as any,
    });
    for (let i = 0; i < 200 && (await handle.query(onboardingStatus)).status !== 'AwaitingDecision'; i++)
      await new Promise((r) => setTimeout(r, 50));
    await sendSealed(stack.config, handle, decideApplication, 'ana', { decision: 'approve', reason: 'ok' });
    await expect(handle.result()).rejects.toThrow(WorkflowFailedError);
    expect(await handle.query(onboardingStatus)).toMatchObject({
      status: 'Failed',
      failure: expect.stringMatching(
        /Temporal refused the settlement schedule: unknown time zone europe\/malta/,
      ),
    });
    // The partner was never activated, and the same id applies again through the API.
    expect((await stack.api(`/v1/partners/${id}`)).body.status).toBe('onboarding');
    const again = await stack.api('/v1/partner-applications', {
      body: application({ partnerId: id, timezone: 'Europe/Malta', contract }),
    });
    expect(again.status).toBe(202);
    await waitForApplication(stack, id, 'AwaitingDecision');
    const approver = await stack.tokenFor('ana', 'approver');
    const decided = await stack.api(`/v1/partner-applications/${id}/decisions`, {
      body: { decision: 'approve', reason: 'zone fixed' },
      token: approver,
    });
    expect(decided.status).toBe(200);
    await waitForApplication(stack, id, 'Active');
    const schedule = await stack.temporal.schedule.getHandle(settlementScheduleId(id)).describe();
    expect(schedule.spec.timezone).toBe('Europe/Malta');
  });

  it('has Postgres refuse a partner zone it cannot load, as a data error naming the rule', async () => {
    const err = await registerPartner(stack.db.pool, {
      id: uniqueId('tz-mars'),
      name: 'Mars Partner',
      kind: 'provider',
      timezone: 'Mars/Olympus',
      settlementCurrency: 'EUR',
    }).catch((e: unknown) => e);
    expect(dataError(err)).toMatch(
      /^data error 22023 \(constraint partners_timezone_known\): time zone "Mars\/Olympus" of partner tz-mars-\w+ is unknown to this database$/,
    );
  });
});

describe('npm run timezones:check', () => {
  const check = (databaseUrl: string) =>
    spawnSync(
      process.execPath,
      ['--import', 'tsx', path.join(__dirname, '..', 'scripts', 'timezones-check.ts')],
      {
        env: { ...process.env, DATABASE_URL: databaseUrl },
        encoding: 'utf8',
      },
    );

  it('passes when every stored zone is canonical and this Postgres knows every accepted zone', async () => {
    const db = await createTestDatabase();
    try {
      await db.pool.query(
        `INSERT INTO partners (id, name, kind, timezone, settlement_currency)
         VALUES ('fine-eu', 'Fine', 'provider', 'Europe/Malta', 'EUR'), ('fine-utc', 'Fine', 'provider', 'UTC', 'EUR')`,
      );
      const run = check(db.url);
      expect(run.stderr).toBe('');
      expect(run.status).toBe(0);
      expect(run.stdout).toContain('time zones agree: 2 partner(s)');
    } finally {
      await db.drop();
    }
  });

  it('reports each stored zone the API would refuse, with the zone to store, and fails', async () => {
    const db = await createTestDatabase();
    try {
      await db.pool.query(
        `INSERT INTO partners (id, name, kind, timezone, settlement_currency) VALUES
           ('old-name', 'Old', 'provider', 'US/Eastern', 'EUR'),
           ('lower-case', 'Lower', 'provider', 'europe/malta', 'EUR'),
           ('fine', 'Fine', 'provider', 'Europe/Malta', 'EUR')`,
      );
      await db.pool.query(
        `INSERT INTO partner_providers (partner_id, format, base_url, options)
         VALUES ('fine', 'csv-daily', 'https://p.example', '{"timezone": "Asia/Calcutta"}')`,
      );
      // A row from before the database refused zones it cannot load.
      await db.pool.query('ALTER TABLE partners DISABLE TRIGGER partners_timezone_known');
      await db.pool.query(
        `INSERT INTO partners (id, name, kind, timezone, settlement_currency)
         VALUES ('nowhere', 'Nowhere', 'provider', 'Mars/Olympus', 'EUR')`,
      );
      const run = check(db.url);
      expect(run.status).toBe(2);
      const lines = run.stdout.trim().split('\n');
      expect(lines).toEqual(
        expect.arrayContaining([
          'partner lower-case: "europe/malta" is not spelt as IANA names it (names are case-sensitive): did you mean Europe/Malta?; store Europe/Malta',
          'partner nowhere: "Mars/Olympus" is not an IANA time zone such as Europe/Malta; choose its zone with the partner (this database cannot load it: every ingest batch is refused)',
          'partner old-name: US/Eastern is an old name: use America/New_York; store America/New_York',
          'provider connection of fine: Asia/Calcutta is an old name: use Asia/Kolkata; store Asia/Kolkata',
        ]),
      );
      const report = JSON.parse(lines.at(-1)!);
      expect(report).toMatchObject({
        ok: false,
        checked: { partners: 4, providerConnections: 1 },
        missingInPostgres: [],
      });
      expect(report.stored).toHaveLength(4);
      // Reported, never rewritten.
      const stored = await db.pool.query(`SELECT timezone FROM partners WHERE id = 'old-name'`);
      expect(stored.rows[0].timezone).toBe('US/Eastern');
    } finally {
      await db.drop();
    }
  });
});

describe('scripts/timezones-generate.ts', () => {
  it('keeps zones with a place, spells Etc/UTC as UTC, and points every other name to its zone', () => {
    const zi = [
      '# version 2099z',
      'Z Europe/Malta 0:58:4 - LMT 1893 N 2',
      'Z Asia/Kolkata 5:53:28 - LMT 1854 Jun 28',
      'Z America/New_York -4:56:2 - LMT 1883 N 18 17u',
      'Z Etc/UTC 0 - UTC',
      'Z EST5EDT -5 u E%sT',
      'Z Factory 0 - -00',
      'L Asia/Kolkata Asia/Calcutta',
      'L Asia/Calcutta Asia/Older',
      'L Etc/UTC UTC',
      'L Etc/UTC Zulu',
    ].join('\n');
    expect(tableFrom(zi)).toEqual({
      version: '2099z',
      zones: ['America/New_York', 'Asia/Kolkata', 'Europe/Malta', 'UTC'],
      aliases: {
        'Asia/Calcutta': 'Asia/Kolkata',
        'Asia/Older': 'Asia/Kolkata',
        EST5EDT: 'America/New_York',
        'Etc/UTC': 'UTC',
        Zulu: 'UTC',
      },
    });
    // A name that would lead nowhere is an error, not a silent gap in the table.
    expect(() => tableFrom(`${zi}\nL Mars/Olympus Mars/Old`)).toThrow(/Mars\/Old/);
    expect(() => tableFrom('Z Europe/Malta 1 - CET')).toThrow(/version/);
  });
});
