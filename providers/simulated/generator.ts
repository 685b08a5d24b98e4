import { defaultCurrencies, formatAmount } from '../../domain/money';
import type { SimulatedTx } from './json-cursor-server';

/** The same transaction as a partner pushes it to POST /v1/transactions. */
export function toIngestItem(t: SimulatedTx, playerId = 'demo-player') {
  return {
    id: t.id,
    type: t.type,
    roundId: t.roundId,
    playerId,
    gameId: t.gameId,
    amount: formatAmount(t.amountMinor, defaultCurrencies.requireScale(t.currency)),
    currency: t.currency,
    occurredAt: new Date(t.occurredAtMs).toISOString(),
  };
}

/**
 * The one generator behind the demo and the simulators: the same (partner, day, count)
 * always yields the same transactions, so what a partner pushes through the API and what
 * its provider reports are the same data until a fault is injected.
 */
export function generateDay(partnerId: string, day: string, count: number, currency = 'EUR'): SimulatedTx[] {
  let state =
    [...partnerId].reduce((h, c) => (h * 31 + c.charCodeAt(0)) >>> 0, 2166136261) ^
    (Date.parse(`${day}T00:00:00Z`) / 86_400_000);
  const rnd = () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 4294967296;
  };
  const start = Date.parse(`${day}T00:00:00Z`);
  const out: SimulatedTx[] = [];
  for (let i = 0; i < count; i++) {
    const isWin = rnd() < 0.42;
    out.push({
      id: `${partnerId}-${day}-${i}`,
      type: isWin ? 'win' : 'bet',
      roundId: `${partnerId}-r-${Math.floor(i / 2)}`,
      gameId: `game-${Math.floor(rnd() * 8)}`,
      currency,
      amountMinor: BigInt(100 + Math.floor(rnd() * 20_000)),
      occurredAtMs: start + 3_600_000 + Math.floor(rnd() * 18 * 3_600_000),
    });
  }
  return out;
}
