import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import type { NewPartner } from '../domain/partner';
import { loadConfigOrExit } from '../platform/config';
import { mintOperatorToken } from '../platform/operators';
import { generateDay, toIngestItem } from '../providers/simulated/generator';
import { DEMO_TX_PER_PARTNER, demoProviders } from './providers-server';

/**
 * Seeds demo data through the public API (the same path a real operator takes), so it is
 * idempotent by construction: onboarding an existing partner again changes nothing.
 * API keys are shown once by the API; the seed keeps them in .data/demo-credentials.json
 * (git-ignored) so a newcomer can call the partner endpoints.
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

const CREDENTIALS_FILE = path.join(__dirname, '..', '.data', 'demo-credentials.json');

async function main(): Promise<void> {
  const config = loadConfigOrExit();
  const apiUrl = process.env.API_URL ?? config.api.publicUrl;
  const credentials: Record<string, string> = existsSync(CREDENTIALS_FILE)
    ? (JSON.parse(readFileSync(CREDENTIALS_FILE, 'utf8')) as Record<string, string>)
    : {};
  const bootstrap = {
    'content-type': 'application/json',
    authorization: `Bearer ${config.api.operatorToken}`,
  };
  const call = async (method: string, route: string, body?: unknown, headers = bootstrap) => {
    const res = await fetch(`${apiUrl}${route}`, {
      method,
      headers,
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : null) as SeedBody };
  };
  const waitFor = async (id: string, status: string) => {
    for (let i = 0; i < 600; i++) {
      const res = await call('GET', `/v1/partner-applications/${id}`);
      if (res.status === 200 && res.body?.status === status) return;
      if (res.status === 200 && ['Rejected', 'Expired', 'Failed'].includes(res.body?.status ?? ''))
        throw new Error(`the demo application of ${id} ended ${res.body?.status}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`the demo application of ${id} never reached ${status}`);
  };
  // A named approver of the demo (the embedded issuer's token), as an operator would be.
  const approver = {
    ...bootstrap,
    authorization: `Bearer ${await mintOperatorToken(config.api.operatorTokens, { name: 'demo-approver', roles: ['approver'] })}`,
  };
  for (const partner of demoPartners) {
    if ((await call('GET', `/v1/partners/${partner.id}`)).status === 200) {
      process.stdout.write(`${partner.id} already onboarded\n`);
      continue;
    }
    // The operators' path: an application, the automated checks, an approver's decision,
    // activation (with its connectivity test), then the key collected once.
    const provider = demoProviders.find((p) => p.partnerId === partner.id);
    const submitted = await call('POST', '/v1/partner-applications', {
      ...demoApplication(partner),
      ...(provider
        ? {
            providerConnection: {
              format: provider.format,
              baseUrl: `http://127.0.0.1:${provider.port}`,
              options: provider.options,
            },
          }
        : {}),
    });
    if (submitted.status !== 202 && submitted.status !== 409)
      throw new Error(
        `application of ${partner.id} failed: ${submitted.status} ${JSON.stringify(submitted.body)}`,
      );
    await waitFor(partner.id, 'AwaitingDecision');
    const decided = await call(
      'POST',
      `/v1/partner-applications/${partner.id}/decisions`,
      { decision: 'approve', reason: 'demo: checks clear' },
      approver,
    );
    if (decided.status !== 200)
      throw new Error(`approving ${partner.id} failed: ${JSON.stringify(decided.body)}`);
    await waitFor(partner.id, 'Active');
    const issued = await call('POST', `/v1/partner-applications/${partner.id}/credentials`);
    if (issued.status !== 201)
      throw new Error(`credentials of ${partner.id}: ${JSON.stringify(issued.body)}`);
    credentials[partner.id] = issued.body?.apiKey ?? '';
    process.stdout.write(`onboarded ${partner.id}\n`);
  }
  // One application left for an operator to decide in the Temporal UI or the API: high risk
  // (an expired licence and a possible sanctions match), so it needs two different approvers.
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
  if (pending.status === 202) process.stdout.write('comet-play: application waiting for two approvers\n');
  mkdirSync(path.dirname(CREDENTIALS_FILE), { recursive: true });
  writeFileSync(CREDENTIALS_FILE, `${JSON.stringify(credentials, null, 2)}\n`, { mode: 0o600 });

  const day = process.env.DEMO_DAY;
  if (!day) return;
  const operator = async (method: string, route: string, body: unknown) =>
    fetch(`${apiUrl}${route}`, {
      method,
      headers: { 'content-type': 'application/json', authorization: `Bearer ${config.api.operatorToken}` },
      body: JSON.stringify(body),
    });
  for (const provider of demoProviders) {
    // Contract v1 (immutable: a second seed gets 409 for the same version), the provider's
    // report connection and the game catalogue, all through the API.
    const contract = await operator('PUT', `/v1/partners/${provider.partnerId}/contracts/1`, {
      effectiveFrom: '2026-01-01',
      terms: demoTerms,
    });
    if (contract.status !== 200 && contract.status !== 409)
      throw new Error(
        `contract for ${provider.partnerId} failed: ${contract.status} ${await contract.text()}`,
      );
    const connection = await operator('PUT', `/v1/partners/${provider.partnerId}/provider-connection`, {
      format: provider.format,
      baseUrl: `http://127.0.0.1:${provider.port}`,
      options: provider.options,
    });
    if (connection.status !== 200)
      throw new Error(
        `provider connection for ${provider.partnerId} failed: ${connection.status} ${await connection.text()}`,
      );
    const games = await operator('PUT', `/v1/partners/${provider.partnerId}/games`, {
      games: Array.from({ length: 8 }, (_, i) => ({
        gameId: `game-${i}`,
        category: i < 6 ? 'slots' : 'live',
      })),
    });
    if (games.status !== 200)
      throw new Error(`game catalogue for ${provider.partnerId} failed: ${games.status}`);
    // The demo day, pushed through the API in deterministic batches (replays are no-ops).
    const key = credentials[provider.partnerId];
    if (!key) continue;
    const txs = generateDay(provider.partnerId, day, DEMO_TX_PER_PARTNER, provider.currency);
    for (let i = 0; i < txs.length; i += 200) {
      const res = await fetch(`${apiUrl}/v1/transactions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
        body: JSON.stringify({
          batchId: `demo-${day}-${i / 200}`,
          transactions: txs.slice(i, i + 200).map((t) => toIngestItem(t)),
        }),
      });
      if (res.status !== 200)
        throw new Error(`demo ingest for ${provider.partnerId} failed: ${res.status} ${await res.text()}`);
    }
    // Its daily Schedule (02:00 local settles the day before), and the demo day settled now:
    // nova-slots' provider disagrees, so that cycle waits for an operator.
    const schedule = await fetch(`${apiUrl}/v1/partners/${provider.partnerId}/settlement-schedule`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${config.api.operatorToken}` },
      body: JSON.stringify({ hourLocal: 2 }),
    });
    if (schedule.status !== 200)
      throw new Error(`schedule for ${provider.partnerId} failed: ${schedule.status}`);
    const started = await fetch(`${apiUrl}/v1/settlements`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${config.api.operatorToken}` },
      body: JSON.stringify({ partnerId: provider.partnerId, periodStart: day }),
    });
    if (started.status !== 202 && started.status !== 409)
      throw new Error(`starting settlement for ${provider.partnerId} failed: ${started.status}`);
    process.stdout.write(
      `${provider.partnerId}: ${txs.length} transactions on ${day}, settlement:${provider.partnerId}:${day} ${started.status === 202 ? 'started' : 'already exists'}\n`,
    );
  }
}

/** The few fields of an API answer the seed reads. */
interface SeedBody {
  status?: string;
  apiKey?: string;
}

function demoApplication(p: NewPartner): Record<string, unknown> {
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
