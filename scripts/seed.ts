import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { ScheduleNotFoundError, type Client } from '@temporalio/client';
import type { NewPartner } from '../domain/partner';
import { loadConfigOrExit } from '../platform/config';
import { mintOperatorToken } from '../platform/operators';
import { connectTemporalClient } from '../platform/temporal';
import { toIngestItem } from '../providers/simulated/generator';
import { settlementScheduleId } from '../services/schedules';
import { DEMO_TX_PER_PARTNER, demoDay, demoProviders } from './providers-server';
import { seedWatch, watchPartners } from './seed-watch';
import { watchScanScheduleId } from '../activities/watch';

/**
 * Seeds demo data through the public API (the same path a real operator takes), so it is
 * idempotent by construction: onboarding an existing partner again changes nothing.
 * API keys are shown once by the API; the seed keeps them in .data/demo-credentials.json
 * (git-ignored) so a newcomer can call the partner endpoints.
 *
 * Every `npm run dev` runs it again, over whatever operators made of the demo partners since:
 * suspended one, rotated its key, recorded other contract terms, paused or changed its
 * Schedule, settled its day. The seed undoes none of it: what it cannot or must not do for a
 * partner is one line of its output and the rest goes on. It fails only on what should have
 * worked (the API answering 5xx, an onboarding that never ends), since then the demo is broken.
 */
export const demoPartners: NewPartner[] = [
  {
    id: 'nova-slots',
    name: 'Nova Slots',
    kind: 'provider',
    timezone: 'Europe/Malta',
    settlementCurrency: 'EUR',
  },
  {
    id: 'aurora-live',
    name: 'Aurora Live Casino',
    kind: 'provider',
    timezone: 'Europe/London',
    settlementCurrency: 'GBP',
  },
  {
    id: 'orbit-hub',
    name: 'Orbit Aggregation Hub',
    kind: 'aggregator',
    timezone: 'America/Sao_Paulo',
    settlementCurrency: 'USD',
  },
];

// Beside dev's other data (CLEARHOUSE_DEV_DATA moves both, as the start-up tests do).
const CREDENTIALS_FILE = path.join(
  process.env.CLEARHOUSE_DEV_DATA
    ? path.resolve(process.env.CLEARHOUSE_DEV_DATA)
    : path.join(__dirname, '..', '.data'),
  'demo-credentials.json',
);
const ONBOARDING_WAIT_MS = 60_000;

/** The few fields of an API answer the seed reads. */
interface SeedBody {
  status?: string;
  apiKey?: string;
  format?: string;
  baseUrl?: string;
  credentials?: unknown;
  connectivity?: { error?: string } | null;
  error?: { message?: string };
}
interface Answer {
  status: number;
  body: SeedBody | null;
}

const say = (partnerId: string, line: string): void => {
  process.stdout.write(`${partnerId}: ${line}\n`);
};
/** What the API said, for a line of the seed's output. */
const why = (a: Answer) => a.body?.error?.message ?? `HTTP ${a.status}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function main(): Promise<void> {
  const config = loadConfigOrExit();
  const apiUrl = process.env.API_URL ?? config.api.publicUrl;
  const credentials: Record<string, string> = existsSync(CREDENTIALS_FILE)
    ? (JSON.parse(readFileSync(CREDENTIALS_FILE, 'utf8')) as Record<string, string>)
    : {};
  // Written as soon as a key is collected: the API shows it only once.
  const saveCredentials = () => {
    mkdirSync(path.dirname(CREDENTIALS_FILE), { recursive: true });
    writeFileSync(CREDENTIALS_FILE, `${JSON.stringify(credentials, null, 2)}\n`, { mode: 0o600 });
  };
  const operatorToken = config.api.operatorToken;
  const call = async (
    method: string,
    route: string,
    body?: unknown,
    token = operatorToken,
  ): Promise<Answer> => {
    const res = await fetch(`${apiUrl}${route}`, {
      method,
      headers: {
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...(token ? { authorization: `Bearer ${token}` } : {}),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    let parsed: SeedBody | null = null;
    try {
      parsed = text ? (JSON.parse(text) as SeedBody) : null;
    } catch {
      /* not JSON: `why` falls back to the status */
    }
    // An answer that is the API's fault means the demo is broken, whatever the partner's state.
    if (res.status >= 500)
      throw new Error(`${method} ${route} answered ${res.status}: ${text.slice(0, 300)}`);
    return { status: res.status, body: parsed };
  };
  // A named approver of the demo (the embedded issuer's token), as an operator would be.
  const approver = await mintOperatorToken(config.api.operatorTokens, {
    name: 'demo-approver',
    roles: ['approver'],
  });

  /** The key handed out once at activation, if the file does not hold one yet. */
  const collectKey = async (id: string, status: string | undefined) => {
    if (credentials[id] || status !== 'active') return;
    const issued = await call('POST', `/v1/partner-applications/${id}/credentials`);
    if (issued.status === 201 && issued.body?.apiKey) {
      credentials[id] = issued.body.apiKey;
      saveCredentials();
    }
  };

  /**
   * Takes a demo partner through onboarding from wherever it stands (not applied, checking,
   * awaiting the decision, active, an earlier application expired or failed) and collects its
   * key. Its status once onboarded, or null when it is not (and why, in one line).
   */
  const onboard = async (partner: NewPartner): Promise<'active' | 'suspended' | null> => {
    const id = partner.id;
    const known = await call('GET', `/v1/partners/${id}`);
    if (known.status === 200 && known.body?.status !== 'onboarding') {
      say(id, `already onboarded${known.body?.status === 'suspended' ? ' (suspended)' : ''}`);
      await collectKey(id, known.body?.status);
      return known.body?.status === 'suspended' ? 'suspended' : 'active';
    }
    let submitted = false;
    let approved = false;
    for (const deadline = Date.now() + ONBOARDING_WAIT_MS; Date.now() < deadline; await sleep(100)) {
      const application = await call('GET', `/v1/partner-applications/${id}`);
      const status = application.status === 200 ? application.body?.status : undefined;
      if (status === 'Active') {
        say(id, 'onboarded');
        await collectKey(id, 'active');
        return 'active';
      }
      // The decision is the seed's once: its view may show AwaitingDecision a moment longer.
      if (status === 'AwaitingDecision' && !approved) {
        const decided = await call(
          'POST',
          `/v1/partner-applications/${id}/decisions`,
          { decision: 'approve', reason: 'demo: checks clear' },
          approver,
        );
        if (decided.status !== 200) {
          say(id, `not onboarded: approving its application was refused (${why(decided)})`);
          return null;
        }
        approved = true;
        continue;
      }
      if (status === 'Checking' || status === 'Activating' || status === 'AwaitingDecision') continue;
      // Closed without an operator's refusal (or never submitted): apply (again), once.
      if (!submitted && (status === undefined || status === 'Expired' || status === 'Failed')) {
        const answer = await call('POST', '/v1/partner-applications', demoApplication(partner));
        if (answer.status !== 202 && answer.status !== 409) {
          say(id, `not onboarded: its application was refused (${why(answer)})`);
          return null;
        }
        submitted = true;
        continue;
      }
      // Rejected, waiting for information an operator asked for, a failing connectivity test, or
      // our own application closed: an operator's business, left as it is.
      say(id, `not onboarded: its application is ${status ?? 'gone'} (GET /v1/partner-applications/${id})`);
      return null;
    }
    throw new Error(`the demo application of ${id} did not finish within ${ONBOARDING_WAIT_MS / 1000}s`);
  };

  const statuses = new Map<string, 'active' | 'suspended' | null>();
  for (const partner of [...demoPartners, ...watchPartners]) statuses.set(partner.id, await onboard(partner));

  // One application left for an operator to decide in the Temporal UI or the API: high risk
  // (an expired licence and a possible sanctions match), so it needs two different approvers.
  // Submitted once; whatever operators did with it since stays.
  const comet = await call('GET', '/v1/partner-applications/comet-play');
  if (comet.status === 200) {
    say('comet-play', `application already submitted, now ${comet.body?.status ?? 'unknown'}`);
  } else {
    const pending = await call('POST', '/v1/partner-applications', {
      ...demoApplication({
        id: 'comet-play',
        name: 'Comet Play',
        kind: 'provider',
        timezone: 'Europe/Malta',
        settlementCurrency: 'EUR',
      }),
      licences: [{ jurisdiction: 'MT', number: 'EXP/2019/77' }],
      contacts: [{ name: 'Rita Similar', email: 'finance@comet-play.example', role: 'finance' }],
    });
    say(
      'comet-play',
      pending.status === 202 ? 'application waiting for two approvers' : `not submitted (${why(pending)})`,
    );
  }
  saveCredentials();

  const day = process.env.DEMO_DAY;
  if (!day) return;
  let temporal: Client | undefined;
  try {
    for (const provider of demoProviders) {
      const status = statuses.get(provider.partnerId);
      if (!status) continue; // not onboarded: said above
      temporal ??= await connectTemporalClient(config);
      await seedDay(provider, status, day, temporal);
    }
  } finally {
    await temporal?.connection.close();
  }
  // The watch's demo: weeks of baseline and the planted anomalies (scripts/seed-watch.ts).
  await seedWatch(
    async (method, route, body, token) => {
      const answer = await call(method, route, body, token === undefined ? operatorToken : token);
      return { status: answer.status, body: answer.body as Record<string, unknown> | null };
    },
    Object.fromEntries(
      watchPartners
        .filter((p) => statuses.get(p.id) === 'active')
        .map((p) => [p.id, credentials[p.id] ?? '']),
    ),
    (name, secret) => {
      credentials[name] = secret;
      saveCredentials();
    },
    say,
  );
  // The watch looks at what was just planted now, not at its next minute: a newcomer sees the
  // alerts as soon as dev is ready. (No Schedule, e.g. WATCH_SCAN_SECONDS=0: nothing to trigger.)
  const client = await connectTemporalClient(config);
  try {
    await client.schedule.getHandle(watchScanScheduleId(config)).trigger();
    say('watch', 'scan started (alerts on the console within seconds)');
  } catch (err) {
    if (!(err instanceof ScheduleNotFoundError)) throw err;
  } finally {
    await client.connection.close();
  }

  /**
   * The demo day of one onboarded partner: its reference data, then the day's transactions
   * pushed with its key, its Schedule, and the day settled now.
   */
  async function seedDay(
    provider: (typeof demoProviders)[number],
    status: 'active' | 'suspended',
    day: string,
    client: Client,
  ): Promise<void> {
    const id = provider.partnerId;
    // Contract v1: immutable, so the same terms again are a no-op and other terms a 409. An
    // operator records a change as a later version, which then governs (the seed adds none).
    // Maker-checker: the bootstrap admin proposes (202), the demo approver approves; a version
    // already approved answers 200.
    const contract = await call('PUT', `/v1/partners/${id}/contracts/1`, {
      effectiveFrom: '2026-01-01',
      terms: demoTerms,
    });
    if (contract.status === 409) say(id, `contract version 1 kept as recorded (${why(contract)})`);
    else if (contract.status === 202) {
      const approved = await call('POST', `/v1/partners/${id}/contracts/1/approval`, {}, approver);
      if (approved.status !== 200)
        throw new Error(`contract approval of ${id}: ${approved.status} ${why(approved)}`);
    } else if (contract.status !== 200)
      throw new Error(`contract of ${id}: ${contract.status} ${why(contract)}`);

    await connectProvider(provider);

    const games = await call('PUT', `/v1/partners/${id}/games`, {
      games: Array.from({ length: 8 }, (_, i) => ({
        gameId: `game-${i}`,
        category: i < 6 ? 'slots' : 'live',
      })),
    });
    if (games.status !== 200) throw new Error(`game catalogue of ${id}: ${games.status} ${why(games)}`);

    await ensureSchedule(client, id, status === 'suspended');

    if (status === 'suspended') {
      say(
        id,
        `suspended: its ${day} transactions not pushed, no cycle started (POST /v1/partners/${id}/reactivate resumes it)`,
      );
      return;
    }
    // The demo day, pushed through the API in deterministic batches (replays are no-ops).
    const txs = demoDay(id, day, DEMO_TX_PER_PARTNER, provider.currency);
    const key = credentials[id];
    const noKey = `its ${day} transactions not pushed, no cycle started (a key: POST /v1/partners/${id}/api-keys, into ${CREDENTIALS_FILE})`;
    if (!key) return say(id, `no API key in ${CREDENTIALS_FILE}: ${noKey}`);
    for (let i = 0; i < txs.length; i += 200) {
      const pushed = await call(
        'POST',
        '/v1/transactions',
        {
          batchId: `demo-${day}-${i / 200}`,
          transactions: txs.slice(i, i + 200).map((t) => toIngestItem(t)),
        },
        key,
      );
      if (pushed.status === 401)
        return say(id, `its API key is no longer accepted (rotated or revoked): ${noKey}`);
      // Suspended since it was read above.
      if (pushed.status === 403) return say(id, `transactions refused (${why(pushed)}): no cycle started`);
      if (pushed.status !== 200) throw new Error(`demo ingest for ${id}: ${pushed.status} ${why(pushed)}`);
    }
    // The demo day settled now (the Schedule settles the days after it): nova-slots' provider
    // disagrees, so that cycle waits for an operator.
    const started = await call('POST', '/v1/settlements', { partnerId: id, periodStart: day });
    const exists = started.status === 409 && /already started/.test(why(started));
    if (started.status === 202 || exists) {
      const cycle = started.status === 202 ? 'started' : 'already exists';
      return say(id, `${txs.length} transactions on ${day}, settlement:${id}:${day} ${cycle}`);
    }
    // E.g. a later contract with a weekly or monthly cadence (409: the demo day starts no period).
    if (started.status === 409 || started.status === 422 || started.status === 404)
      return say(id, `${txs.length} transactions on ${day}; no cycle started (${why(started)})`);
    throw new Error(`starting settlement for ${id}: ${started.status} ${why(started)}`);
  }

  /**
   * Points the partner at its simulated report server, unless it already is, or an operator
   * connected it elsewhere (another format, a URL that is not a local simulator, a credential):
   * that connection is theirs and stays. A simulator on another port (its variable changed
   * since) is followed.
   */
  async function connectProvider(provider: (typeof demoProviders)[number]): Promise<void> {
    const id = provider.partnerId;
    const baseUrl = simulatorUrl(provider);
    const stored = await call('GET', `/v1/partners/${id}/provider-connection`);
    if (stored.status === 200) {
      const { format, baseUrl: storedUrl, credentials: secret } = stored.body ?? {};
      if (format === provider.format && storedUrl === baseUrl) return;
      const simulator =
        format === provider.format && !secret && /^http:\/\/127\.0\.0\.1:\d+$/.test(storedUrl ?? '');
      if (!simulator)
        return say(id, `provider connection kept as an operator set it (${format} at ${storedUrl})`);
    } else if (stored.status !== 404) {
      throw new Error(`provider connection of ${id}: ${stored.status} ${why(stored)}`);
    }
    const set = await call('PUT', `/v1/partners/${id}/provider-connection`, {
      format: provider.format,
      baseUrl,
      options: provider.options,
    });
    if (set.status !== 200) throw new Error(`provider connection of ${id}: ${set.status} ${why(set)}`);
    const error = set.body?.connectivity?.error;
    say(id, `provider report at ${baseUrl}${error ? `; its connectivity test failed: ${error}` : ''}`);
  }

  /**
   * Its daily Schedule (02:00 local settles the day before), created once: one that exists was
   * set up (or paused, or moved) by an operator or by a suspension, and stays so. A suspended
   * partner's new Schedule starts paused, as suspending would have left it.
   */
  async function ensureSchedule(client: Client, id: string, suspended: boolean): Promise<void> {
    try {
      const schedule = await client.schedule.getHandle(settlementScheduleId(id)).describe();
      if (schedule.state.paused && !suspended)
        say(id, `its settlement Schedule stays paused (${schedule.state.note ?? 'no note'})`);
      return;
    } catch (err) {
      if (!(err instanceof ScheduleNotFoundError)) throw err;
    }
    const schedule = await call('PUT', `/v1/partners/${id}/settlement-schedule`, {
      hourLocal: 2,
      paused: suspended,
    });
    // Temporal refusing it (e.g. a timezone it does not know) is the partner's data, not the demo's.
    if (schedule.status === 422) say(id, `no settlement Schedule (${why(schedule)})`);
    else if (schedule.status !== 200)
      throw new Error(`schedule of ${id}: ${schedule.status} ${why(schedule)}`);
  }
}

/** Where dev's simulator of this provider listens (its port variable, scripts/lib/net.mjs). */
const simulatorUrl = (provider: (typeof demoProviders)[number]) => `http://127.0.0.1:${provider.port}`;

function demoApplication(p: NewPartner): Record<string, unknown> {
  const provider = demoProviders.find((d) => d.partnerId === p.id);
  return {
    partnerId: p.id,
    name: p.name,
    kind: p.kind,
    timezone: p.timezone,
    settlementCurrency: p.settlementCurrency,
    company: {
      legalName: `${p.name} Ltd`,
      registrationNumber: `C ${p.id.length}${p.name.length}001`,
      country: 'MT',
    },
    licences: p.kind === 'affiliate' ? [] : [{ jurisdiction: 'MT', number: `MGA/B2B/${p.id.length}/2024` }],
    contacts: [{ name: `${p.name} Finance`, email: `finance@${p.id}.example`, role: 'finance' }],
    // Activation tests the connection (one report page), so it is part of the application.
    ...(provider
      ? {
          providerConnection: {
            format: provider.format,
            baseUrl: simulatorUrl(provider),
            options: provider.options,
          },
        }
      : {}),
  };
}

const demoTerms = {
  base: 'ggr',
  tiers: [
    { upToMinor: '5000000', rate: '0.12' },
    { upToMinor: null, rate: '0.10' },
  ],
  tierMode: 'marginal',
  minimumGuaranteeMinor: '0',
  fixedFeeMinor: '0',
  categoryRates: { live: '0.02' },
  negativeBase: 'carry_forward',
  jackpots: 'exclude',
  taxWithholdingRate: '0',
  settlement: { cutoffGraceMinutes: 60, payoutApprovalThresholdMinor: '10000' },
};

main().catch((err: unknown) => {
  process.stderr.write(`seed failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
