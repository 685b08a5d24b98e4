import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { loadConfigOrExit } from '../platform/config';
import type { NewPartner } from '../domain/partner';

/**
 * Seeds demo data through the public API (the same path a real operator takes), so it is
 * idempotent by construction: onboarding an existing partner again changes nothing.
 * API keys are shown once by the API; the seed keeps them in .data/demo-credentials.json
 * (git-ignored) so a newcomer can call the partner endpoints.
 */
export const demoPartners: NewPartner[] = [
  { id: 'nova-slots', name: 'Nova Slots', kind: 'provider', timezone: 'Europe/Malta', settlementCurrency: 'EUR' },
  { id: 'aurora-live', name: 'Aurora Live Casino', kind: 'provider', timezone: 'Europe/London', settlementCurrency: 'GBP' },
  { id: 'orbit-hub', name: 'Orbit Aggregation Hub', kind: 'aggregator', timezone: 'America/Sao_Paulo', settlementCurrency: 'USD' },
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
}

main().catch((err: unknown) => {
  process.stderr.write(`seed failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
