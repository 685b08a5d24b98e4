import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import type { NewPartner } from '../domain/partner';
import { loadConfigOrExit } from '../platform/config';
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
  for (const partner of demoPartners) {
    const res = await fetch(`${apiUrl}/v1/partners`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${config.api.operatorToken}` },
      body: JSON.stringify(partner),
    });
    const body = (await res.json()) as { apiKey?: string | null; error?: { message: string } };
    if (res.status === 201 && body.apiKey) {
      credentials[partner.id] = body.apiKey;
      process.stdout.write(`onboarded ${partner.id}\n`);
    } else if (res.status === 200 || res.status === 202) {
      process.stdout.write(`${partner.id} already onboarded\n`);
    } else {
      throw new Error(`onboarding ${partner.id} failed: ${res.status} ${body.error?.message ?? ''}`);
    }
  }
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
