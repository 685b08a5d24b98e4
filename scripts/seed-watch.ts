import { randomBytes } from 'node:crypto';
import type { NewPartner } from '../domain/partner';

// The watch's demo (README, "Watching the money"): weeks of baseline activity and three planted
// anomalies a newcomer sees as alerts within a minute of `npm run dev`, at the production
// thresholds. Everything goes through the public API, deterministic by hour, so running the
// seed again replays the same batches (no-ops) and adds only the hours since.
//
// Planted:
//   * lumen-games' game lm-pharaoh (canonical `pharaoh-gold`, maths sheet RTP 96.00 %, σ 1.47)
//     pays 86.0 % of its stakes: about 13,000 spins a week (11,600 effective), so the observed RTP sits ~7 standard
//     errors below the theoretical one (|z| > 3 alerts; the minimum is 10,000 effective spins).
//   * pulse-bingo plays ~50 transactions an hour, every hour, for four weeks, then goes silent
//     three hours before the seed runs: silence during expected activity.
//   * aurora-live's demo day holds a round with a 100.00 GBP bet and a 42,000.00 GBP win (420×,
//     above 40,000 GBP and 350×): held at ingest, an exception of that day's cycle
//     (scripts/providers-server.ts plants it on both sides, so the report agrees).

export const watchPartners: NewPartner[] = [
  {
    id: 'lumen-games',
    name: 'Lumen Games',
    kind: 'provider',
    timezone: 'Europe/Malta',
    settlementCurrency: 'EUR',
  },
  {
    id: 'pulse-bingo',
    name: 'Pulse Bingo',
    kind: 'provider',
    timezone: 'Europe/Dublin',
    settlementCurrency: 'EUR',
  },
];

/** The maths sheets of the demo's canonical games; σ is per unit stake. */
export const demoCanonicalGames = [
  {
    id: 'pharaoh-gold',
    name: "Pharaoh's Gold",
    studio: 'Lumen Games',
    theoreticalRtp: '0.9600',
    stdDev: '1.47',
    jackpotContributionRate: '0',
  },
  {
    id: 'neon-fruits',
    name: 'Neon Fruits',
    studio: 'Nova Slots',
    theoreticalRtp: '0.9650',
    stdDev: '2.00',
    jackpotContributionRate: '0',
  },
  {
    id: 'starlight-roulette',
    name: 'Starlight Roulette',
    studio: 'Aurora Live',
    theoreticalRtp: '0.9730',
    stdDev: '5.80',
    jackpotContributionRate: '0',
  },
];

const mappings: Record<string, { gameId: string; canonicalId: string }[]> = {
  'lumen-games': [
    { gameId: 'lm-pharaoh', canonicalId: 'pharaoh-gold' },
    { gameId: 'lm-neon', canonicalId: 'neon-fruits' },
  ],
  'pulse-bingo': [{ gameId: 'pb-neon', canonicalId: 'neon-fruits' }],
  'nova-slots': [{ gameId: 'game-0', canonicalId: 'neon-fruits' }],
  'aurora-live': [{ gameId: 'game-6', canonicalId: 'starlight-roulette' }],
};

const HOUR = 3_600_000;
const WEEKS = 4;

interface Tx {
  id: string;
  type: 'bet' | 'win';
  roundId: string;
  playerId: string;
  gameId: string;
  amount: string;
  currency: string;
  occurredAt: string;
}

/** A small deterministic generator per (partner, hour). */
function rng(seed: string): () => number {
  let state = [...seed].reduce((h, c) => (Math.imul(h, 31) + c.charCodeAt(0)) >>> 0, 2166136261) || 1;
  return () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 4294967296;
  };
}

/**
 * One hour of a demo partner's play. Every round is a bet of 1.00–5.00 EUR and, with the game's
 * hit probability, a win of `multiplier` × the bet: RTP = p·m, σ = √(p·m² − RTP²).
 *   lm-pharaoh: p 0.2688 × m 3.2 = RTP 0.860 (the sheet says 0.96: p 0.30); σ ≈ 1.47
 *   lm-neon, pb-neon: p 0.193 × m 5 = RTP 0.965; σ ≈ 1.97 (the sheet's 2.00: no alert)
 */
function hourOfPlay(partnerId: string, hourStart: number): Tx[] {
  const r = rng(`${partnerId}:${hourStart}`);
  const rounds = partnerId === 'lumen-games' ? 100 + Math.floor(r() * 12) : 22 + Math.floor(r() * 8);
  const out: Tx[] = [];
  for (let i = 0; i < rounds; i++) {
    const pharaoh = partnerId === 'lumen-games' && r() < 0.75;
    const gameId = pharaoh ? 'lm-pharaoh' : partnerId === 'lumen-games' ? 'lm-neon' : 'pb-neon';
    const [p, m] = pharaoh ? [0.2688, 3.2] : [0.193, 5];
    const betCents = 100 + Math.floor(r() * 401);
    const at = hourStart + Math.floor(((i + r()) / rounds) * (HOUR - 2000));
    const roundId = `${partnerId}-${hourStart}-${i}`;
    const player = `pl-${Math.floor(r() * 400)}`;
    const base = { roundId, playerId: player, gameId, currency: 'EUR' };
    out.push({ ...base, id: `${roundId}-b`, type: 'bet', amount: cents(betCents), occurredAt: iso(at) });
    if (r() < p)
      out.push({
        ...base,
        id: `${roundId}-w`,
        type: 'win',
        amount: cents(Math.round(betCents * m)),
        occurredAt: iso(at + 1000),
      });
  }
  return out;
}
const cents = (c: number) => `${Math.floor(c / 100)}.${String(c % 100).padStart(2, '0')}`;
const iso = (ms: number) => new Date(ms).toISOString();

export interface SeedCall {
  (
    method: string,
    route: string,
    body?: unknown,
    token?: string | null,
  ): Promise<{
    status: number;
    body: Record<string, unknown> | null;
  }>;
}

/**
 * Seeds the watch's demo for partners already onboarded (`active`). `keys` holds their API keys;
 * `remember` keeps a generated secret (a demo partner user's password) with them.
 */
export async function seedWatch(
  call: SeedCall,
  keys: Record<string, string>,
  remember: (name: string, secret: string) => void,
  say: (partnerId: string, line: string) => void,
  now = Date.now(),
): Promise<void> {
  // The catalogue and the mappings (admin; the same figures again change nothing).
  for (const g of demoCanonicalGames) {
    const { id, ...figures } = g;
    const put = await call('PUT', `/v1/canonical-games/${id}`, { ...figures, source: 'demo maths sheet' });
    if (put.status !== 200 && put.status !== 201)
      return say(
        'watch',
        `canonical game ${id} not recorded (HTTP ${put.status}): the watch demo stops here`,
      );
  }
  for (const [partnerId, list] of Object.entries(mappings)) {
    const put = await call('PUT', `/v1/partners/${partnerId}/game-mappings`, { mappings: list });
    if (put.status !== 200) say(partnerId, `game mappings not recorded (HTTP ${put.status})`);
  }

  // Four weeks of hours up to the last complete one; pulse-bingo stops three hours ago.
  const lastComplete = Math.floor(now / HOUR) * HOUR - HOUR;
  for (const partner of watchPartners) {
    const key = keys[partner.id];
    if (!key) {
      say(partner.id, 'no API key: its baseline is not pushed');
      continue;
    }
    const until = partner.id === 'pulse-bingo' ? lastComplete - 3 * HOUR : lastComplete;
    // One batch per hour, named by its hour: running the seed again replays the same batches
    // (no-ops, no duplicates counted) and adds only the hours since. Eight in flight.
    const first = lastComplete - WEEKS * 7 * 24 * HOUR;
    const hours: number[] = [];
    for (let h = first; h <= until; h += HOUR) hours.push(h);
    let pushed = 0;
    let next = 0;
    const worker = async () => {
      while (next < hours.length) {
        const h = hours[next++]!;
        const transactions = hourOfPlay(partner.id, h);
        const answer = await call(
          'POST',
          '/v1/transactions',
          { batchId: `watch-${partner.id}-${h}`, transactions },
          key,
        );
        if (answer.status !== 200)
          throw new Error(`watch demo ingest for ${partner.id}: HTTP ${answer.status}`);
        pushed += transactions.length;
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
    say(partner.id, `${pushed} baseline transactions over ${WEEKS} weeks`);
  }

  // A partner user for the partner's view (its password kept with the demo keys, never printed).
  const login = 'finance@nova-slots.example';
  const users = await call('GET', '/v1/partners/nova-slots/users');
  const listed = (users.body?.users as { login?: string }[] | undefined) ?? [];
  if (users.status === 200 && !listed.some((u) => u.login === login)) {
    const invited = await call('POST', '/v1/partners/nova-slots/users', {
      login,
      displayName: 'Nova Finance',
      roles: ['admin', 'finance'],
    });
    const token = (invited.body?.invitation as { token?: string } | undefined)?.token;
    if (invited.status === 201 && token) {
      const password = randomBytes(12).toString('base64url');
      const accepted = await call('POST', '/v1/console/invitations', { token, password }, null);
      if (accepted.status === 200 || accepted.status === 201) {
        remember(`nova-slots console user ${login}`, password);
        say('nova-slots', `console user ${login} (its password is in the demo credentials file)`);
      }
    }
  }
}
