import type { Client, WorkflowHandle } from '@temporalio/client';
import { createCurrencyRegistry } from '../../domain/money';
import type { SettlementInput } from '../../domain/settlement';
import { taskQueue } from '../../platform/temporal';
import { startPlannedCycle as startCycle, type CycleProcessSettings } from '../../services/cycles';
import type { settlementCycleV2 } from '../../workflows/settlement';
import { toIngestItem } from '../../providers/simulated/generator';
import type { SimulatedProvider, SimulatedTx } from '../../providers/simulated/json-cursor-server';
import { uniqueId } from './env';
import { onboardPartner, recordContract, type TestPartner } from './partners';
import type { Stack } from './stack';

/**
 * A partner ready to settle: onboarded through the API, its transactions pushed through the
 * API, its provider report served by `provider` (the caller sets what it reports), a 10% GGR
 * contract from 2026-01-01 proposed and approved through the API (with `settlement` terms of the caller's, if given).
 */
export async function settlingPartner(
  stack: Stack,
  provider: SimulatedProvider,
  txs: SimulatedTx[],
  settlement?: { period: 'daily'; cutoffGraceMinutes: number; payoutApprovalThresholdMinor: string },
  /** Other contract terms of the caller's (e.g. `reconciliation` rules). */
  more: Record<string, unknown> = {},
): Promise<TestPartner> {
  const p = await onboardPartner(stack, { timezone: 'UTC' });
  for (let i = 0; i < txs.length; i += 1000) {
    const body = { batchId: uniqueId('b'), transactions: txs.slice(i, i + 1000).map((t) => toIngestItem(t)) };
    const res = await stack.api('/v1/transactions', { body, token: p.apiKey });
    if (res.status !== 200) throw new Error(`ingest failed: ${res.status} ${JSON.stringify(res.body)}`);
  }
  await stack.db.pool.query(
    `INSERT INTO partner_providers (partner_id, format, base_url) VALUES ($1, 'json-cursor', $2)`,
    [p.id, provider.url],
  );
  // Through the API, under maker-checker: proposed by the bootstrap admin, approved by another.
  const contract = await recordContract(stack, p.id, 1, {
    effectiveFrom: '2026-01-01',
    terms: {
      base: 'ggr',
      tiers: [{ upToMinor: null, rate: '0.10' }],
      tierMode: 'marginal',
      minimumGuaranteeMinor: '0',
      fixedFeeMinor: '0',
      categoryRates: {},
      negativeBase: 'carry_forward',
      jackpots: 'exclude',
      taxWithholdingRate: '0',
      ...(settlement ? { settlement } : {}),
      ...more,
    },
  });
  if (contract.status !== 200)
    throw new Error(`contract failed: ${contract.status} ${JSON.stringify(contract.body)}`);
  return p;
}

/** Transactions of one day, in EUR, a second apart from 08:00 UTC. */
export function dayOfTransactions(prefix: string, day: string, n: number): SimulatedTx[] {
  return Array.from({ length: n }, (_, i) => ({
    id: `${prefix}-${i}`,
    type: i % 3 === 2 ? 'win' : 'bet',
    roundId: `${prefix}r-${i >> 1}`,
    gameId: `game-${i % 4}`,
    currency: 'EUR',
    amountMinor: BigInt(100 + ((i * 37) % 900)),
    occurredAtMs: Date.parse(`${day}T08:00:00Z`) + i * 1000,
  }));
}

/** A daily cycle's input for `partnerId` and `day` (EUR, no payout approval). */
export function cycleInput(
  partnerId: string,
  day: string,
  over: Partial<SettlementInput> = {},
): SettlementInput {
  const next = new Date(Date.parse(`${day}T00:00:00Z`) + 86_400_000).toISOString();
  return {
    partnerId,
    periodStart: day,
    periodEnd: day,
    currency: 'EUR',
    currencyScale: 2,
    cutoffAt: next,
    graceMs: 0,
    payoutApprovalThresholdMinor: '100000000',
    reminderIntervalMs: 60_000,
    ...over,
  };
}

/** Who starts cycles in tests that start them on Temporal themselves (an operator's actor key). */
export const TEST_REQUESTER = {
  actor: 'clearhouse#cycle-starter',
  name: 'cycle-starter',
  plannedBy: 'api' as const,
};

/**
 * Starts a cycle as the API does (services/cycles.ts), requested by `requester`; `over` sets
 * process settings only (a later cut-off, the reminder interval, report attempts).
 */
export function startPlannedCycle(
  stack: Stack,
  partnerId: string,
  periodStart: string,
  opts: {
    client?: Client;
    taskQueue?: string;
    over?: CycleProcessSettings;
    requester?: typeof TEST_REQUESTER;
    workflowIdReusePolicy?: 'REJECT_DUPLICATE' | 'ALLOW_DUPLICATE_FAILED_ONLY';
  } = {},
): Promise<WorkflowHandle<typeof settlementCycleV2>> {
  return startCycle(
    {
      db: stack.db.pool,
      temporal: opts.client ?? stack.temporal,
      currencies: createCurrencyRegistry(stack.config.currencies.extraAssets),
      taskQueue: opts.taskQueue ?? taskQueue(stack.config, 'settlement'),
    },
    {
      partnerId,
      periodStart,
      requester: opts.requester ?? TEST_REQUESTER,
      ...(opts.over ? { process: opts.over } : {}),
      workflowIdReusePolicy: opts.workflowIdReusePolicy ?? 'ALLOW_DUPLICATE_FAILED_ONLY',
    },
  );
}
