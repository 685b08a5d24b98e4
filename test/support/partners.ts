import { uniqueId } from './env';
import type { Stack } from './stack';

export interface TestPartner {
  id: string;
  apiKey: string;
  timezone: string;
}

/** Onboards a partner through the real API (and so the real onboarding workflow). */
export async function onboardPartner(
  stack: Stack,
  overrides: { timezone?: string; settlementCurrency?: string } = {},
): Promise<TestPartner> {
  const body = {
    id: uniqueId('partner'),
    name: 'Test Partner',
    kind: 'provider',
    timezone: overrides.timezone ?? 'Europe/Malta',
    settlementCurrency: overrides.settlementCurrency ?? 'EUR',
  };
  const res = await stack.api('/v1/partners', { body });
  if (res.status !== 201) throw new Error(`onboarding failed: ${res.status} ${JSON.stringify(res.body)}`);
  return { id: body.id, apiKey: res.body.apiKey as string, timezone: body.timezone };
}

let seq = 0;
/** A valid transaction; override any field. */
export function tx(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  seq++;
  return {
    id: `tx-${process.pid}-${Date.now().toString(36)}-${seq}`,
    type: 'bet',
    roundId: `round-${seq}`,
    playerId: 'player-1',
    gameId: 'book-of-sun',
    amount: '10.00',
    currency: 'EUR',
    occurredAt: '2026-11-23T12:00:00Z',
    ...overrides,
  };
}
