import type { SettlementInput } from '../../domain/settlement';
import { toIngestItem } from '../../providers/simulated/generator';
import type { SimulatedProvider, SimulatedTx } from '../../providers/simulated/json-cursor-server';
import { uniqueId } from './env';
import { onboardPartner, type TestPartner } from './partners';
import type { Stack } from './stack';

/**
 * A partner ready to settle: onboarded through the API, its transactions pushed through the
 * API, its provider report served by `provider` (the caller sets what it reports), a 10% GGR
 * contract from 2026-01-01 (with `settlement` terms of the caller's, if given).
 */
export async function settlingPartner(
  stack: Stack,
  provider: SimulatedProvider,
  txs: SimulatedTx[],
  settlement?: { period: 'daily'; cutoffGraceMinutes: number; payoutApprovalThresholdMinor: string },
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
  await stack.db.pool.query(
    `INSERT INTO partner_contracts (partner_id, version, effective_from, terms) VALUES ($1, 1, '2026-01-01', $2)`,
    [
      p.id,
      JSON.stringify({
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
      }),
    ],
  );
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
