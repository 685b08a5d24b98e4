import { onboardingWorkflowId } from '../../workflows/ids';
import { onboardingStatus } from '../../workflows/onboarding';
import { uniqueId } from './env';
import type { Stack } from './stack';

export interface TestPartner {
  id: string;
  apiKey: string;
  timezone: string;
}

/** A low-risk application (registry, licence and screening clear); override any field. */
export function application(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    partnerId: uniqueId('partner'),
    name: 'Test Partner',
    kind: 'provider',
    timezone: 'Europe/Malta',
    settlementCurrency: 'EUR',
    company: { legalName: 'Test Partner Ltd', registrationNumber: 'C 12345', country: 'MT' },
    licences: [{ jurisdiction: 'MT', number: 'MGA/B2B/100/2024' }],
    contacts: [{ name: 'Fiona Finance', email: 'finance@partner.example', role: 'finance' }],
    ...overrides,
  };
}

/**
 * Waits until an application reaches `status`, then reads it through the API once (or fails the
 * test with where it stands). It watches the workflow through Temporal, not the API, so that
 * waiting spends no caller's rate-limit budget.
 */
export async function waitForApplication(stack: Stack, partnerId: string, status: string): Promise<any> {
  const handle = stack.temporal.workflow.getHandle(onboardingWorkflowId(partnerId));
  let last: unknown = null;
  for (let i = 0; i < 600; i++) {
    last = await handle.query(onboardingStatus).then(
      (view) => view.status,
      () => null, // not started yet
    );
    if (last === status) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const res = await stack.api(`/v1/partner-applications/${partnerId}`);
  if (res.status === 200 && res.body.status === status) return res.body;
  throw new Error(
    `application ${partnerId} never reached ${status}: ${JSON.stringify(last)} ${JSON.stringify(res.body)}`,
  );
}

/**
 * Onboards a partner as operators do, through the real API and workflow: an application
 * (submitted by the bootstrap admin), the checks, an approver's decision, activation, and the
 * credentials collected once.
 */
export async function onboardPartner(
  stack: Stack,
  overrides: { timezone?: string; settlementCurrency?: string } = {},
): Promise<TestPartner> {
  const body = application({
    ...(overrides.timezone ? { timezone: overrides.timezone } : {}),
    ...(overrides.settlementCurrency ? { settlementCurrency: overrides.settlementCurrency } : {}),
  });
  const id = body.partnerId as string;
  const submitted = await stack.api('/v1/partner-applications', { body });
  if (submitted.status !== 202)
    throw new Error(`application failed: ${submitted.status} ${JSON.stringify(submitted.body)}`);
  await waitForApplication(stack, id, 'AwaitingDecision');
  const approver = await stack.tokenFor('test-approver', 'approver');
  const decided = await stack.api(`/v1/partner-applications/${id}/decisions`, {
    body: { decision: 'approve', reason: 'checks clear' },
    token: approver,
  });
  if (decided.status !== 200)
    throw new Error(`approval failed: ${decided.status} ${JSON.stringify(decided.body)}`);
  await waitForApplication(stack, id, 'Active');
  const credentials = await stack.api(`/v1/partner-applications/${id}/credentials`, { body: {} });
  if (credentials.status !== 201)
    throw new Error(`credentials failed: ${credentials.status} ${JSON.stringify(credentials.body)}`);
  return { id, apiKey: credentials.body.apiKey as string, timezone: body.timezone as string };
}

/**
 * Records a contract version as operators must (maker-checker): `maker` (the bootstrap
 * administrator unless given) proposes it with PUT, then a second operator with the approver
 * role (`contract-approver` unless given: another subject) approves it. Answers the approval,
 * or the PUT when that did not leave a proposal to approve (a refusal, or a version already
 * approved with the same content: 200).
 */
export async function recordContract(
  stack: Stack,
  partnerId: string,
  version: number,
  body: { effectiveFrom: string; terms: unknown },
  who: { maker?: string; approver?: string } = {},
): Promise<{ status: number; body: any }> {
  const path = `/v1/partners/${partnerId}/contracts/${version}`;
  const proposed = await stack.api(path, { method: 'PUT', body, ...(who.maker ? { token: who.maker } : {}) });
  if (proposed.status !== 202) return proposed;
  const approver = who.approver ?? (await stack.tokenFor('contract-approver', 'approver'));
  return stack.api(`${path}/approval`, { body: {}, token: approver });
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
