import fc from 'fast-check';
import {
  bigWinCheck,
  DEFAULT_RTP_SETTINGS,
  DEFAULT_VOLUME_SETTINGS,
  defaultBigWinSettings,
  fxMove,
  hourOfWeek,
  normalUpperQuantile,
  normalUpperTail,
  poissonLowerTail,
  poissonUpperTail,
  pooledRelativeSpread,
  rateSignal,
  rtpTest,
  spinsToDetect,
  volumeTest,
  type GameMaths,
  type RtpSample,
} from './anomalies';

// Every simulation draws from a seeded generator, so a run is reproducible to the last spin and
// a failure can be replayed. The rates asserted are measured, not assumed: each bound states its
// tolerance, and the figures measured with these seeds are noted beside it.

// Hoisted: a global looked up in a hot loop is slow inside jest's vm sandbox (tens of times).
const imul = Math.imul;

/** mulberry32: small, fast and good enough for Monte Carlo of this size. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = imul(a ^ (a >>> 15), 1 | a);
    t = (t + imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function normalSampler(rand: () => number): () => number {
  return () => {
    let u = 0;
    while (u === 0) u = rand();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand());
  };
}

/** ln Γ(x) for x ≥ 1, independently of the module's (shift up, then Stirling). */
function lnGamma(x: number): number {
  let shift = 0;
  while (x < 10) shift -= Math.log(x++);
  return (
    shift + (x - 0.5) * Math.log(x) - x + 0.5 * Math.log(2 * Math.PI) + 1 / (12 * x) - 1 / (360 * x ** 3)
  );
}

/** Exact Poisson draws: Knuth's product below 30, Hörmann's PTRS (transformed rejection) above. */
function poissonSampler(rand: () => number): (lambda: number) => number {
  return (lambda) => {
    if (lambda < 30) {
      const limit = Math.exp(-lambda);
      let k = -1;
      let p = 1;
      do {
        k++;
        p *= rand();
      } while (p > limit);
      return k;
    }
    const sq = Math.sqrt(lambda);
    const b = 0.931 + 2.53 * sq;
    const a = -0.059 + 0.02483 * b;
    const invAlpha = 1.1239 + 1.1328 / (b - 3.4);
    const vr = 0.9277 - 3.6224 / (b - 2);
    for (;;) {
      const u = rand() - 0.5;
      const v = rand();
      const us = 0.5 - Math.abs(u);
      const k = Math.floor(((2 * a) / us + b) * u + lambda + 0.43);
      if (us >= 0.07 && v <= vr) return k;
      if (k < 0 || (us < 0.013 && v > us)) continue;
      if (
        Math.log(v) + Math.log(invAlpha) - Math.log(a / (us * us) + b) <=
        -lambda + k * Math.log(lambda) - lnGamma(k + 1)
      )
        return k;
    }
  };
}

/** Negative binomial as a gamma–Poisson mixture: mean m, extra relative spread cv (0: Poisson). */
function negativeBinomialSampler(rand: () => number): (mean: number, cv: number) => number {
  const normal = normalSampler(rand);
  const poisson = poissonSampler(rand);
  const gamma = (shape: number): number => {
    // Marsaglia–Tsang, shape ≥ 1 (the shapes used here are 1/cv² ≥ 25).
    const d = shape - 1 / 3;
    const c = 1 / Math.sqrt(9 * d);
    for (;;) {
      let x: number;
      let v: number;
      do {
        x = normal();
        v = 1 + c * x;
      } while (v <= 0);
      v = v * v * v;
      if (Math.log(rand()) < 0.5 * x * x + d - d * v + d * Math.log(v)) return d * v;
    }
  };
  return (mean, cv) => (cv === 0 ? poisson(mean) : poisson(mean * gamma(1 / (cv * cv)) * cv * cv));
}

// ---------------------------------------------------------------------------------------------
// RTP drift

/** A game as its outcomes: multipliers of the stake and their probabilities. */
interface Game {
  multipliers: number[];
  probabilities: number[];
}

function gameStats(g: Game): { mean: number; sd: number } {
  let m1 = 0;
  let m2 = 0;
  g.multipliers.forEach((x, i) => {
    m1 += x * g.probabilities[i]!;
    m2 += x * x * g.probabilities[i]!;
  });
  return { mean: m1, sd: Math.sqrt(m2 - m1 * m1) };
}

function mathsOf(g: Game, jackpotContributionRate = '0'): GameMaths {
  const { mean, sd } = gameStats(g);
  return {
    theoreticalRtp: (mean + Number(jackpotContributionRate)).toFixed(6),
    stdDev: sd.toFixed(6),
    jackpotContributionRate,
  };
}

/** Simulates one window of n spins: stakes from `stake`, outcomes from the game, in minor units. */
function simulateWindow(g: Game, n: number, rand: () => number, stake: () => number): RtpSample {
  const cumulative: number[] = [];
  g.probabilities.reduce((c, p) => (cumulative.push(c + p), c + p), 0);
  let bets = 0;
  let wins = 0;
  let squares = 0;
  for (let i = 0; i < n; i++) {
    const b = stake();
    const u = rand();
    let k = 0;
    while (k < cumulative.length - 1 && u >= cumulative[k]!) k++;
    bets += b;
    squares += b * b;
    wins += b * g.multipliers[k]!; // integer multipliers: whole minor units
  }
  return { spins: n, betMinor: BigInt(bets), winMinor: BigInt(wins), betSquaredMinor: BigInt(squares) };
}

/** Two outcomes, high volatility: 100× with probability 0.96 %, else nothing (σ ≈ 9.75, skewed). */
const LOTTERY: Game = { multipliers: [0, 100], probabilities: [1 - 0.0096, 0.0096] };
/** A few outcomes, medium volatility: RTP 0.98, σ ≈ 3.90. */
const SLOT: Game = {
  multipliers: [0, 1, 2, 5, 20, 100],
  probabilities: [1 - 0.4672, 0.3, 0.12, 0.04, 0.006, 0.0012],
};
/** SLOT paying 0.1 less: half the 2× wins became losses. */
const SLOT_DRIFTED: Game = {
  multipliers: SLOT.multipliers,
  probabilities: [1 - 0.4172, 0.3, 0.07, 0.04, 0.006, 0.0012],
};

const NOMINAL_TWO_SIDED = 2 * normalUpperTail(3); // 0.27 %
/**
 * The false-positive bound: nominal, plus three binomial standard errors of the measured rate
 * over `windows`, plus 0.1 point for the skew the CLT minimum still allows (a high-volatility
 * game's window mean is skewed: its upper tail is heavier, the lower lighter).
 */
const fpBound = (windows: number) =>
  NOMINAL_TWO_SIDED + 3 * Math.sqrt((NOMINAL_TWO_SIDED * (1 - NOMINAL_TWO_SIDED)) / windows) + 0.001;

function runWindows(
  game: Game,
  maths: GameMaths,
  windows: number,
  spins: number,
  seed: number,
  stake: (rand: () => number) => () => number,
) {
  const rand = prng(seed);
  const stakeOf = stake(rand);
  const results = [];
  for (let i = 0; i < windows; i++) results.push(rtpTest(simulateWindow(game, spins, rand, stakeOf), maths));
  return results;
}

const equalStakes = () => () => 100;
/** 85 % small, 14 % medium and 1 % large stakes: n_eff ≈ 0.37·n. */
const mixedStakes = (rand: () => number) => () => {
  const u = rand();
  return u < 0.85 ? 100 : u < 0.99 ? 500 : 2_000;
};

describe('rtpTest', () => {
  it('follows the formulas: expected = theoretical − jackpot, SE = σ·√Σb²/Σb, z, band, n_eff', () => {
    // Two spins staking 1.00 and 3.00: Σb = 400, Σb² = 100² + 300² = 100,000.
    const r = rtpTest(
      { spins: 2, betMinor: 400n, winMinor: 380n, betSquaredMinor: 100_000n },
      { theoreticalRtp: '0.97', stdDev: '2', jackpotContributionRate: '0.01' },
    );
    const se = (2 * Math.sqrt(100_000)) / 400; // 1.5811…
    expect(r.expectedRtp).toBeCloseTo(0.96, 15);
    expect(r.observedRtp).toBeCloseTo(0.95, 15);
    expect(r.standardError).toBeCloseTo(se, 12);
    expect(r.z).toBeCloseTo(-0.01 / se, 12);
    expect(r.band!.low).toBeCloseTo(0.96 - 3 * se, 12);
    expect(r.band!.high).toBeCloseTo(0.96 + 3 * se, 12);
    expect(r.effectiveSpins).toBeCloseTo(1.6, 12);
    expect(r.minimumEffectiveSpins).toBe(10_000);
    expect(r).toMatchObject({ meaningful: false, alert: false, direction: null });
    expect(r.explanation).toMatch(/^Not meaningful yet: 2 effective spins .* of the 10,000 needed/);
  });

  it('computes SE and n_eff from the stake sums as from the stakes themselves', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 10_000_000 }), { minLength: 1, maxLength: 200 }),
        fc.double({ min: 0.1, max: 50, noNaN: true }),
        (stakes, sigma) => {
          const sum = stakes.reduce((a, b) => a + b, 0);
          const squares = stakes.reduce((a, b) => a + BigInt(b) * BigInt(b), 0n);
          const r = rtpTest(
            { spins: stakes.length, betMinor: BigInt(sum), winMinor: 0n, betSquaredMinor: squares },
            { theoreticalRtp: '0.95', stdDev: sigma.toFixed(6), jackpotContributionRate: '0' },
          );
          // Var(Σ b_i X_i)/(Σb)² term by term: Σ (b_i σ)² / (Σb)².
          const variance = stakes.reduce((a, b) => a + (b * Number(sigma.toFixed(6))) ** 2, 0) / sum ** 2;
          expect(r.standardError! / Math.sqrt(variance)).toBeCloseTo(1, 9);
          expect(r.effectiveSpins).toBeLessThanOrEqual(stakes.length * (1 + 1e-12));
          if (stakes.every((s) => s === stakes[0])) expect(r.effectiveSpins).toBeCloseTo(stakes.length, 9); // equal stakes: SE = σ/√n
        },
      ),
      { numRuns: 300, seed: 101 },
    );
  });

  it('has an SE that matches the spread of simulated windows with unequal stakes', () => {
    // One fixed set of 4,000 mixed stakes, replayed over 1,500 windows: the empirical standard
    // deviation of the observed RTP is an estimate of SE independent of the formula.
    const rand = prng(7);
    const stakes = Array.from({ length: 4_000 }, mixedStakes(rand));
    let i = 0;
    const replay = () => stakes[i++ % stakes.length]!;
    const observed: number[] = [];
    let se = 0;
    for (let w = 0; w < 1_500; w++) {
      const r = rtpTest(simulateWindow(SLOT, stakes.length, rand, replay), mathsOf(SLOT));
      observed.push(r.observedRtp!);
      se = r.standardError!;
    }
    const mean = observed.reduce((a, b) => a + b, 0) / observed.length;
    const sd = Math.sqrt(observed.reduce((a, b) => a + (b - mean) ** 2, 0) / (observed.length - 1));
    // The SD of 1,500 draws is itself uncertain by ~1/√3000 ≈ 1.8 %: allow 3 of those (and more
    // for the game's kurtosis). Equal stakes would give σ/√4000 = 0.0617: the whales show.
    expect(sd / se).toBeGreaterThan(0.92);
    expect(sd / se).toBeLessThan(1.08);
    expect(se).toBeGreaterThan(1.4 * (gameStats(SLOT).sd / Math.sqrt(stakes.length)));
  });

  it('keeps false alarms at the nominal 0.27 % on a skewed two-outcome game, equal stakes, at the minimum', () => {
    const maths = mathsOf(LOTTERY);
    const results = runWindows(LOTTERY, maths, 2_000, 10_000, 11, equalStakes);
    expect(results.every((r) => r.meaningful && r.effectiveSpins === 10_000)).toBe(true);
    const rate = results.filter((r) => r.alert).length / results.length;
    expect(rate).toBeLessThanOrEqual(fpBound(results.length)); // measured 0.35 %: 6 above, 1 below (bound 0.72 %)
    // Calibration, not only the tail: null z-scores are standard normal (mean 0, SD 1 ± 5 %).
    const zs = results.map((r) => r.z!);
    const zMean = zs.reduce((a, b) => a + b, 0) / zs.length;
    const zSd = Math.sqrt(zs.reduce((a, b) => a + (b - zMean) ** 2, 0) / (zs.length - 1));
    expect(Math.abs(zMean)).toBeLessThan(0.07);
    expect(zSd).toBeGreaterThan(0.95);
    expect(zSd).toBeLessThan(1.05);
  });

  it('keeps false alarms at the nominal rate on a few-outcome game with unequal stakes and a jackpot', () => {
    // The maths sheet's RTP includes a 1 % jackpot contribution the base game never pays out:
    // compared like for like (expected = theoretical − contribution), the base game is not "low".
    const maths = mathsOf(SLOT, '0.01');
    expect(maths.theoreticalRtp).toBe('0.990000');
    // One set of 30,000 mixed stakes, replayed in every window (the null holds whatever the
    // stakes, and drawing them once keeps the test fast).
    const stakes = Array.from({ length: 30_000 }, mixedStakes(prng(14)));
    const replayed = () => {
      let i = 0;
      return () => stakes[i++ % stakes.length]!;
    };
    const results = runWindows(SLOT, maths, 800, stakes.length, 12, replayed);
    expect(results.every((r) => r.meaningful && r.effectiveSpins < stakes.length / 2)).toBe(true);
    const rate = results.filter((r) => r.alert).length / results.length;
    expect(rate).toBeLessThanOrEqual(fpBound(results.length)); // measured 0.5 %, 4 of 800 (bound 0.92 %)
    // The windows centre on theoretical − contribution (0.98), not on the sheet's 0.99.
    expect(results[0]!.expectedRtp).toBeCloseTo(0.98, 12);
    const meanObserved = results.reduce((a, r) => a + r.observedRtp!, 0) / results.length;
    const seOfMean = results[0]!.standardError! / Math.sqrt(results.length);
    expect(Math.abs(meanObserved - 0.98)).toBeLessThan(3 * seOfMean * 1.1);
    expect(0.99 - meanObserved).toBeGreaterThan(5 * seOfMean);
  });

  it('catches a planted drift of the size spinsToDetect gives, in the share of windows its power says', () => {
    const { sd } = gameStats(SLOT);
    const drift = gameStats(SLOT).mean - gameStats(SLOT_DRIFTED).mean;
    expect(drift).toBeCloseTo(0.1, 12);
    // Power 0.9: ((3 + 1.2816)·σ/0.1)² ≈ 27,901 spins.
    const n90 = spinsToDetect(drift, sd, 3, 0.9);
    expect(n90).toBe(27_901);
    const caught90 = runWindows(SLOT_DRIFTED, mathsOf(SLOT), 400, n90, 21, equalStakes);
    const rate90 = caught90.filter((r) => r.alert).length / caught90.length;
    expect(rate90).toBeGreaterThanOrEqual(0.85); // measured 90.5 % of 400; SE of the rate ≈ 1.5 points
    expect(caught90.filter((r) => r.alert).every((r) => r.direction === 'below')).toBe(true);
    // DOMAIN.md's n = (z·σ/drift)² is where the EXPECTED z reaches 3: caught about half the time.
    const n50 = spinsToDetect(drift, sd);
    const caught50 = runWindows(SLOT_DRIFTED, mathsOf(SLOT), 400, n50, 22, equalStakes);
    const rate50 = caught50.filter((r) => r.alert).length / caught50.length;
    expect(rate50).toBeGreaterThan(0.4); // measured 51.3 %
    expect(rate50).toBeLessThan(0.65);
  });

  it('says what DOMAIN.md says about spins: a 1-point drift at σ ≈ 10 needs ~9 million', () => {
    expect(spinsToDetect(0.01, 10)).toBe(9_000_000);
    expect(spinsToDetect(-0.01, 10)).toBe(9_000_000);
    expect(spinsToDetect(0.01, 10, 3, 0.8)).toBe(Math.ceil(((3 + normalUpperQuantile(0.2)) * 1000) ** 2));
    expect(spinsToDetect(0.01, 10, 3, 0.8)).toBeGreaterThan(14_700_000);
    expect(() => spinsToDetect(0, 10)).toThrow(RangeError);
  });

  it('is never meaningful (nor alerts) below max(minSpins, cltFactor·σ²) effective spins', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 2_000_000 }), // spins
        fc.integer({ min: 1, max: 100_000 }), // stake of each ordinary spin
        fc.bigInt({ min: 0n, max: 10n ** 10n }), // one extra stake: a whale, or nothing
        fc.double({ min: 0.2, max: 40, noNaN: true }), // σ
        fc.double({ min: 0, max: 3, noNaN: true }), // observed RTP
        (spins, stake, whale, sigma, rtp) => {
          const bets = BigInt(spins) * BigInt(stake) + whale;
          const squares = BigInt(spins) * BigInt(stake) ** 2n + whale * whale;
          const sample = {
            spins: spins + 1,
            betMinor: bets,
            winMinor: BigInt(Math.round(Number(bets) * rtp)),
            betSquaredMinor: squares,
          };
          const r = rtpTest(sample, {
            theoreticalRtp: '0.96',
            stdDev: sigma.toFixed(3),
            jackpotContributionRate: '0',
          });
          const min = Math.max(10_000, 100 * Number(sigma.toFixed(3)) ** 2);
          expect(r.minimumEffectiveSpins).toBeCloseTo(min, 6);
          expect(r.meaningful).toBe(r.effectiveSpins >= r.minimumEffectiveSpins);
          if (!r.meaningful) {
            expect(r.alert).toBe(false);
            expect(r.explanation).toMatch(/^Not meaningful yet/);
          } else {
            expect(r.alert).toBe(Math.abs(r.z!) > 3);
          }
        },
      ),
      { numRuns: 500, seed: 102 },
    );
    // A whale makes a million spins worth a handful: 1,000,000 × 1.00 and one 1,000,000.00 stake.
    const whale = rtpTest(
      { spins: 1_000_001, betMinor: 2n * 10n ** 8n, winMinor: 0n, betSquaredMinor: 10n ** 10n + 10n ** 16n },
      mathsOf(SLOT),
    );
    expect(whale.effectiveSpins).toBeLessThan(5);
    expect(whale).toMatchObject({ meaningful: false, alert: false });
    // σ = 20: the CLT term (100·400 = 40,000) is the binding minimum, and it is said.
    const volatile = rtpTest(
      { spins: 30_000, betMinor: 3_000_000n, winMinor: 0n, betSquaredMinor: 300_000_000n },
      { theoreticalRtp: '0.95', stdDev: '20', jackpotContributionRate: '0' },
    );
    expect(volatile.minimumEffectiveSpins).toBe(40_000);
    expect(volatile.meaningful).toBe(false);
    expect(volatile.z!).toBeLessThan(-8); // nothing won at all: still no alert before the minimum
    expect(volatile.explanation).toMatch(/100·σ² for σ = 20/);
  });

  it('alerts above the band with its direction once meaningful', () => {
    const r = rtpTest(
      { spins: 1_000_000, betMinor: 100_000_000n, winMinor: 97_000_000n, betSquaredMinor: 10_000_000_000n },
      { theoreticalRtp: '0.96', stdDev: '2', jackpotContributionRate: '0' },
    );
    // SE = 2/1000 = 0.002; z = 0.01/0.002 = 5.
    expect(r.z).toBeCloseTo(5, 9);
    expect(r).toMatchObject({ meaningful: true, alert: true, direction: 'above' });
    expect(r.explanation).toMatch(/^RTP above the ±3-SE band \[95\.40%, 96\.60%\]: observed 97\.00%/);
    const noBets = rtpTest({ spins: 0, betMinor: 0n, winMinor: 0n, betSquaredMinor: 0n }, mathsOf(SLOT));
    expect(noBets).toMatchObject({ observedRtp: null, z: null, band: null, meaningful: false, alert: false });
  });

  it('refuses sums that cannot come from one set of stakes, and malformed maths', () => {
    const maths = mathsOf(SLOT);
    // Σb² below (Σb)²/n: 10 spins of Σb = 1,000 need Σb² ≥ 100,000.
    expect(() =>
      rtpTest({ spins: 10, betMinor: 1_000n, winMinor: 0n, betSquaredMinor: 99_999n }, maths),
    ).toThrow(/inconsistent/);
    // Σb² above (Σb)².
    expect(() => rtpTest({ spins: 10, betMinor: 10n, winMinor: 0n, betSquaredMinor: 101n }, maths)).toThrow(
      /inconsistent/,
    );
    expect(() => rtpTest({ spins: 1, betMinor: -1n, winMinor: 0n, betSquaredMinor: 1n }, maths)).toThrow(
      RangeError,
    );
    const sample = { spins: 1, betMinor: 1n, winMinor: 0n, betSquaredMinor: 1n };
    expect(() => rtpTest(sample, { ...maths, stdDev: '0' })).toThrow(/stdDev/);
    expect(() => rtpTest(sample, { ...maths, theoreticalRtp: '96%' })).toThrow(/theoreticalRtp/);
    expect(() => rtpTest(sample, { ...maths, jackpotContributionRate: '1' })).toThrow(/jackpot/);
    expect(() => rtpTest(sample, maths, { ...DEFAULT_RTP_SETTINGS, zThreshold: 0 })).toThrow(/zThreshold/);
  });
});

// ---------------------------------------------------------------------------------------------
// Volume

describe('Poisson tails', () => {
  it('match a brute-force sum for small λ and add up to one for λ up to a million', () => {
    const brute = (k: number, lambda: number) => {
      let term = Math.exp(-lambda);
      let below = 0;
      for (let j = 0; j <= k; j++) {
        below += term;
        term *= lambda / (j + 1);
      }
      return below;
    };
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 120 }),
        fc.double({ min: 0.5, max: 60, noNaN: true }),
        (k, lambda) => {
          const below = brute(k, lambda);
          expect(poissonLowerTail(k, lambda)).toBeCloseTo(below, 12);
          expect(poissonUpperTail(k + 1, lambda)).toBeCloseTo(1 - below, 12);
        },
      ),
      { numRuns: 300, seed: 201 },
    );
    // Either side of the mode the two tails are two different sums: they must meet.
    fc.assert(
      fc.property(fc.double({ min: 1, max: 1e6, noNaN: true }), (lambda) => {
        const k = Math.floor(lambda);
        expect(poissonLowerTail(k, lambda) + poissonUpperTail(k + 1, lambda)).toBeCloseTo(1, 8);
      }),
      { numRuns: 200, seed: 202 },
    );
    // Large λ against an independent sum (the test's own ln Γ), out to 15 σ.
    const pmf = (j: number, lambda: number) => Math.exp(j * Math.log(lambda) - lambda - lnGamma(j + 1));
    for (const lambda of [1_000, 100_000, 1_000_000]) {
      const sd = Math.sqrt(lambda);
      for (const d of [-6, -4.5, -1, 0, 1, 4.5, 6]) {
        const k = Math.round(lambda + d * sd);
        let upper = 0;
        for (let j = k; j <= lambda + 15 * sd; j++) upper += pmf(j, lambda);
        let lower = 0;
        for (let j = Math.max(0, Math.floor(lambda - 15 * sd)); j <= k; j++) lower += pmf(j, lambda);
        expect(poissonUpperTail(k, lambda) / upper).toBeCloseTo(1, 6);
        expect(poissonLowerTail(k, lambda) / lower).toBeCloseTo(1, 6);
      }
    }
    expect(poissonLowerTail(0, 20)).toBeCloseTo(Math.exp(-20), 20);
    expect(poissonUpperTail(1, 1e6)).toBe(1);
    // λ = 10⁶, 4.5 σ out: the normal tail would say 3.4e-6; the exact Poisson tail is a little
    // heavier above (skew), lighter below.
    const above = poissonUpperTail(1_004_500, 1e6);
    const below = poissonLowerTail(995_500, 1e6);
    expect(above).toBeGreaterThan(normalUpperTail(4.5));
    expect(below).toBeLessThan(normalUpperTail(4.5));
    expect(above / normalUpperTail(4.5)).toBeLessThan(1.1);
  });

  it('defaults the tail probability to the normal tail at z = 4', () => {
    expect(DEFAULT_VOLUME_SETTINGS.tailProbability).toBeCloseTo(3.167124e-5, 10);
    expect(normalUpperTail(3)).toBeCloseTo(1.349898e-3, 9);
    expect(normalUpperQuantile(normalUpperTail(4))).toBeCloseTo(4, 9);
  });
});

describe('hourOfWeek', () => {
  const at = (iso: string) => Date.parse(iso);
  it.each([
    // Monday 00:00 local is 0; Sunday 23:xx is 167.
    ['UTC', '2024-01-01T00:00:00Z', 0],
    ['UTC', '2023-12-31T23:59:59Z', 167],
    ['Europe/Malta', '2023-12-31T23:00:00Z', 0], // CET: Monday 00:00 local
    ['Europe/Malta', '2023-12-31T22:59:59Z', 167],
    // Malta, spring forward on Sunday 31 March 2024 at 01:00 UTC (02:00 CET → 03:00 CEST).
    ['Europe/Malta', '2024-03-31T00:59:59Z', 6 * 24 + 1], // 01:59 CET
    ['Europe/Malta', '2024-03-31T01:00:00Z', 6 * 24 + 3], // 03:00 CEST: 02:xx never happens
    // Malta, fall back on Sunday 27 October 2024 at 01:00 UTC: 02:xx happens twice.
    ['Europe/Malta', '2024-10-27T00:30:00Z', 6 * 24 + 2], // 02:30 CEST
    ['Europe/Malta', '2024-10-27T01:30:00Z', 6 * 24 + 2], // 02:30 CET
    ['Europe/Malta', '2024-10-28T00:00:00Z', 1], // Monday 01:00 CET
    // New York, spring forward on Sunday 10 March 2024 at 07:00 UTC (02:00 EST → 03:00 EDT).
    ['America/New_York', '2024-03-10T06:59:00Z', 6 * 24 + 1],
    ['America/New_York', '2024-03-10T07:00:00Z', 6 * 24 + 3],
    ['America/New_York', '2024-03-11T04:00:00Z', 0], // Monday 00:00 EDT
    // New York, fall back on Sunday 3 November 2024 at 06:00 UTC: 01:xx twice.
    ['America/New_York', '2024-11-03T05:30:00Z', 6 * 24 + 1], // 01:30 EDT
    ['America/New_York', '2024-11-03T06:30:00Z', 6 * 24 + 1], // 01:30 EST
    ['America/New_York', '2024-11-04T04:59:59Z', 167], // Sunday 23:59 EST
    ['America/New_York', '2024-11-04T05:00:00Z', 0],
    // Kolkata, UTC+05:30 all year: the half hour moves the day boundary.
    ['Asia/Kolkata', '2023-12-31T18:30:00Z', 0],
    ['Asia/Kolkata', '2023-12-31T18:29:59Z', 167],
    ['Asia/Kolkata', '2024-01-03T12:00:00Z', 2 * 24 + 17], // Wednesday 17:30
  ])('%s %s → %i', (zone, iso, expected) => {
    expect(hourOfWeek(at(iso), zone)).toBe(expected);
  });

  it('agrees with plain UTC arithmetic, and with a fixed +05:30 offset in Kolkata', () => {
    const fromUtc = (ms: number) => {
      const d = new Date(ms);
      return ((d.getUTCDay() + 6) % 7) * 24 + d.getUTCHours();
    };
    fc.assert(
      fc.property(fc.integer({ min: Date.UTC(1980, 0, 1), max: Date.UTC(2100, 0, 1) }), (ms) => {
        expect(hourOfWeek(ms, 'UTC')).toBe(fromUtc(ms));
        expect(hourOfWeek(ms, 'Asia/Kolkata')).toBe(fromUtc(ms + 5.5 * 3_600_000));
        expect(hourOfWeek(ms + 7 * 86_400_000, 'UTC')).toBe(hourOfWeek(ms, 'UTC'));
      }),
      { numRuns: 500, seed: 203 },
    );
    expect(() => hourOfWeek(0, 'Mars/Olympus_Mons')).toThrow(RangeError);
  });
});

describe('volumeTest', () => {
  it('uses the robust z when the history is large and spread, and judges drops only on complete hours', () => {
    // median 100; |deviations| 0,5,5,10,10,20,20 → MAD 10; scale 14.826 ≥ √100.
    const history = [100, 110, 90, 105, 95, 120, 80];
    const spike = volumeTest(160, history, false);
    expect(spike).toMatchObject({ kind: 'spike', method: 'robust_z', median: 100, mad: 10, weeks: 7 });
    expect(spike.z).toBeCloseTo(60 / 14.826, 12);
    expect(volumeTest(150, history, true).kind).toBeNull(); // z = 3.37
    expect(volumeTest(40, history, true)).toMatchObject({ kind: 'drop', method: 'robust_z' });
    expect(volumeTest(40, history, false).kind).toBeNull(); // a partial hour cannot drop
    expect(volumeTest(40, history, false).explanation).toMatch(/partial hour/);
    expect(volumeTest(0, history, true).kind).toBe('silence'); // z = −6.7, median ≥ 20
  });

  it('falls back to the Poisson test on a flat history (MAD 0) instead of dividing by zero', () => {
    const r = volumeTest(150, [100, 100, 100], true);
    expect(r).toMatchObject({ method: 'poisson', mad: 0, z: null, kind: 'spike' });
    expect(r.tailProbability!).toBeCloseTo(poissonUpperTail(150, 100), 15);
    expect(volumeTest(110, [100, 100, 100], true).kind).toBeNull();
  });

  it('uses the Poisson path for small counts, with λ = max(median, 0.5)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 29 }), { minLength: 3, maxLength: 12 }),
        fc.integer({ min: 0, max: 200 }),
        fc.boolean(),
        (history, observed, complete) => {
          const r = volumeTest(observed, history, complete);
          expect(r.method).toBe('poisson');
          expect(r.z).toBeNull();
          const lambda = Math.max(r.median, 0.5);
          const spike = poissonUpperTail(observed, lambda) < DEFAULT_VOLUME_SETTINGS.tailProbability;
          const drop =
            complete && poissonLowerTail(observed, lambda) < DEFAULT_VOLUME_SETTINGS.tailProbability;
          expect(r.kind === 'spike').toBe(spike);
          expect(r.kind === 'drop' || r.kind === 'silence').toBe(!spike && drop);
        },
      ),
      { numRuns: 500, seed: 301 },
    );
    // Median 0: λ = 0.5, so 8 bets in a usually empty hour is a spike (P ≈ 6e-8), 4 is not (0.2 %).
    expect(volumeTest(8, [0, 0, 1], true).kind).toBe('spike');
    expect(volumeTest(4, [0, 0, 1], true).kind).toBeNull();
  });

  it('judges only a spike on a partial hour, and never before minWeeks of history', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 200_000 }), { minLength: 0, maxLength: 10 }),
        fc.integer({ min: 0, max: 400_000 }),
        (history, observed) => {
          const partial = volumeTest(observed, history, false);
          const whole = volumeTest(observed, history, true);
          expect(partial.kind === null || partial.kind === 'spike').toBe(true);
          if (partial.kind === 'spike') expect(whole.kind).toBe('spike');
          if (history.length < 3) {
            expect(whole).toMatchObject({ method: 'insufficient_history', kind: null });
            expect(whole.explanation).toMatch(/3 needed/);
          }
        },
      ),
      { numRuns: 500, seed: 302 },
    );
  });

  it('calls a silent complete hour silence only when the baseline expects ≥ 20, and a zero is never judged more leniently than a one', () => {
    expect(volumeTest(0, [50, 48, 55, 52], true).kind).toBe('silence');
    expect(volumeTest(0, [100_000, 99_000, 101_500, 100_400], true).kind).toBe('silence');
    expect(volumeTest(0, [100_000, 99_000, 101_500, 100_400], false).kind).toBeNull();
    expect(volumeTest(0, [10, 10, 10], true).kind).toBeNull(); // P(X = 0 | 10) = 4.5e-5: plausible
    // Median 15: a zero is a drop like a one (P(X ≤ 1 | 15) = 4.9e-6), but too few to call silence.
    expect(volumeTest(1, [15, 15, 15], true).kind).toBe('drop');
    expect(volumeTest(0, [15, 15, 15], true).kind).toBe('drop');
  });

  it('catches a 5× spike (100,000 → 500,000 an hour) on a partial hour 30 % elapsed, and a drop only once complete', () => {
    const rand = prng(31);
    const poisson = poissonSampler(rand);
    let spikes = 0;
    let drops = 0;
    let partialDrops = 0;
    let quiet = 0;
    for (let i = 0; i < 200; i++) {
      const history = Array.from({ length: 4 }, () => poisson(100_000));
      if (volumeTest(poisson(0.3 * 500_000), history, false).kind === 'spike') spikes++;
      // A usual hour, 30 % elapsed: neither a spike nor (yet) a drop.
      if (volumeTest(poisson(0.3 * 100_000), history, false).kind === null) quiet++;
      // Traffic at a fifth: a drop once the hour is over, nothing while it runs.
      const low = poisson(20_000);
      if (volumeTest(low, history, true).kind === 'drop') drops++;
      if (volumeTest(low, history, false).kind !== null) partialDrops++;
    }
    expect(spikes).toBe(200);
    expect(quiet).toBe(200);
    expect(drops).toBe(200);
    expect(partialDrops).toBe(0);
  });

  // Two-sided on complete hours: a spike or a drop, each at tailProbability (|z| > 4).
  const nominal = 2 * DEFAULT_VOLUME_SETTINGS.tailProbability; // 6.3e-5

  it.each([
    // level, weeks, measured false-positive rate with these seeds
    [5, 4, '5.0e-4'],
    [50, 4, '2.5e-4'],
    [100_000, 4, '0'],
    [100_000, 8, '0'],
  ])(
    'keeps false alarms on Poisson traffic of %i an hour (%i weeks) under the nominal level + 0.2 point (measured %s)',
    (level, weeks) => {
      const poisson = poissonSampler(prng(400 + level + weeks));
      const trials = 4_000;
      let alarms = 0;
      for (let i = 0; i < trials; i++) {
        const history = Array.from({ length: weeks }, () => poisson(level));
        if (volumeTest(poisson(level), history, true).kind !== null) alarms++;
      }
      // The tolerance covers the median of a few weeks standing in for the true mean (a new week
      // differs from it by both noises), and the sampling error of 4,000 trials.
      expect(alarms / trials).toBeLessThanOrEqual(nominal + 0.002);
    },
  );

  it('keeps false alarms near nominal on overdispersed (negative binomial) traffic given the pooled spread', () => {
    // 168 buckets with a daily cycle, 4 weeks each, week-on-week spread 5 % and 20 % beyond
    // Poisson. The plain robust z measures 11–12 % false alarms here (4 weeks: the MAD of four
    // values is often tiny); with the partner's pooled spread, 0 to 0.12 %.
    const nb = negativeBinomialSampler(prng(501));
    for (const [level, cv] of [
      [100_000, 0.05],
      [100_000, 0.2],
      [2_000, 0.2],
    ] as const) {
      let alarms = 0;
      let plainAlarms = 0;
      let trials = 0;
      for (let rep = 0; rep < 15; rep++) {
        const means = Array.from(
          { length: 168 },
          (_, b) => level * (0.8 + 0.5 * Math.sin((Math.PI * b) / 24) ** 2),
        );
        const histories = means.map((m) => Array.from({ length: 4 }, () => nb(m, cv)));
        const spread = pooledRelativeSpread(histories);
        expect(spread).not.toBeNull();
        expect(spread!).toBeGreaterThan(cv); // the median of 3 other weeks is itself uncertain
        expect(spread!).toBeLessThan(2 * cv + 3 / Math.sqrt(level));
        means.forEach((m, b) => {
          const x = nb(m, cv);
          trials++;
          if (volumeTest(x, histories[b]!, true, DEFAULT_VOLUME_SETTINGS, spread).kind !== null) alarms++;
          if (volumeTest(x, histories[b]!, true).kind !== null) plainAlarms++;
        });
      }
      expect(alarms / trials).toBeLessThanOrEqual(nominal + 0.003); // measured 0, 0.12 %, 0.12 %
      expect(plainAlarms / trials).toBeGreaterThan(10 * (alarms / trials + 1 / trials)); // why it exists
      // …and it still sees a silence and a halving.
      const history = [level, level * (1 + cv), level * (1 - cv), level].map(Math.round);
      const spread = cv * 1.2;
      expect(volumeTest(0, history, true, DEFAULT_VOLUME_SETTINGS, spread).kind).toBe('silence');
      if (cv <= 0.1)
        expect(volumeTest(level / 2, history, true, DEFAULT_VOLUME_SETTINGS, spread).kind).toBe('drop');
      // 5× traffic seen 30 % into the hour is 1.5× a usual hour: clear against a 5 % spread; against
      // 20 % it takes 60 % of the hour (3×).
      const elapsed = cv <= 0.1 ? 0.3 : 0.6;
      expect(
        volumeTest(Math.round(5 * level * elapsed), history, false, DEFAULT_VOLUME_SETTINGS, spread).kind,
      ).toBe('spike');
    }
  });

  it('refuses what is not a count', () => {
    expect(() => volumeTest(-1, [1, 2, 3], true)).toThrow(RangeError);
    expect(() => volumeTest(1.5, [1, 2, 3], true)).toThrow(RangeError);
    expect(() => volumeTest(1, [1, Number.NaN, 3], true)).toThrow(/history\[1\]/);
    expect(() => volumeTest(1, [1, 2, 3], true, { ...DEFAULT_VOLUME_SETTINGS, tailProbability: 0 })).toThrow(
      /tailProbability/,
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Big wins

describe('bigWinCheck', () => {
  const s = defaultBigWinSettings(2); // 40,000.00 and 350×
  it('holds a win above BOTH the amount and the multiple, and exactly at either is paid', () => {
    expect(s).toEqual({ absoluteMinor: 4_000_000n, multiple: 350 });
    // 40,000.00 won on a 100.00 round: at the amount, not above it.
    expect(bigWinCheck(4_000_000n, 10_000n, s).held).toBe(false);
    expect(bigWinCheck(4_000_001n, 10_000n, s)).toMatchObject({ held: true, multiple: '400.00' });
    // 350× exactly, above the amount: not held; one minor unit more: held.
    expect(bigWinCheck(350n * 20_000n, 20_000n, s)).toMatchObject({ held: false, multiple: '350.00' });
    expect(bigWinCheck(350n * 20_000n + 1n, 20_000n, s)).toMatchObject({ held: true, multiple: '350.00' });
    // Far above the multiple but below the amount: paid.
    expect(bigWinCheck(3_999_999n, 1n, s).held).toBe(false);
    expect(bigWinCheck(4_000_001n, 10_000n, s).reason).toMatch(
      /^Held for review: .*400\.00× the round's bets, above 350×/,
    );
  });

  it('holds any win above the amount when the round had no bet (a free spin, a bonus)', () => {
    expect(bigWinCheck(4_000_001n, 0n, s)).toMatchObject({ held: true, multiple: null });
    expect(bigWinCheck(4_000_000n, 0n, s)).toMatchObject({ held: false, multiple: null });
    expect(bigWinCheck(4_000_001n, 0n, s).reason).toMatch(/no bet in the round/);
  });

  it('compares a fractional multiple exactly, where a float product would not', () => {
    // 0.57 × 100 is 56.99999999999999 in floats: a win of 57 on bets of 100 is NOT above 0.57×.
    expect(0.57 * 100 < 57).toBe(true);
    expect(bigWinCheck(57n, 100n, { absoluteMinor: 0n, multiple: 0.57 }).held).toBe(false);
    expect(bigWinCheck(58n, 100n, { absoluteMinor: 0n, multiple: 0.57 }).held).toBe(true);
    // 350.5× of 2.00 is 701.00.
    expect(bigWinCheck(70_100n, 200n, { absoluteMinor: 0n, multiple: 350.5 }).held).toBe(false);
    expect(bigWinCheck(70_101n, 200n, { absoluteMinor: 0n, multiple: 350.5 }).held).toBe(true);
  });

  it('shows the multiple rounded down to 2 places, and is monotonic in the win', () => {
    expect(bigWinCheck(2_000n, 3n, s).multiple).toBe('666.66'); // 666.666…, not .67
    fc.assert(
      fc.property(
        fc.bigInt({ min: 0n, max: 10n ** 12n }),
        fc.bigInt({ min: 1n, max: 10n ** 9n }),
        fc.integer({ min: 1, max: 100_000 }),
        fc.bigInt({ min: 0n, max: 10n ** 10n }),
        (win, bets, hundredths, absoluteMinor) => {
          const settings = { absoluteMinor, multiple: hundredths / 100 };
          const r = bigWinCheck(win, bets, settings);
          // multiple = m with m·bets ≤ win < (m + 0.01)·bets, in hundredths.
          const m = BigInt(r.multiple!.replace('.', ''));
          expect(m * bets <= win * 100n && win * 100n < (m + 1n) * bets).toBe(true);
          expect(r.held).toBe(win > absoluteMinor && win * 100n > BigInt(hundredths) * bets);
          if (r.held) expect(bigWinCheck(win + 1n, bets, settings).held).toBe(true);
        },
      ),
      { numRuns: 500, seed: 601 },
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Integrity signals

describe('rateSignal', () => {
  const base = { kind: 'rollback_rate' as const, threshold: 0.05, minDenominator: 100 };
  it('alerts strictly above the threshold, exactly', () => {
    expect(rateSignal({ ...base, numerator: 5, denominator: 100 })).toMatchObject({
      alert: false,
      rate: 0.05,
    });
    expect(rateSignal({ ...base, numerator: 6, denominator: 100 })).toMatchObject({
      alert: true,
      rate: 0.06,
    });
    expect(rateSignal({ ...base, numerator: 6, denominator: 100 }).explanation).toBe(
      'The rollback rate of 6.00% (6 of 100) is above the 5% threshold.',
    );
    // 0.57 × 100 < 57 in floats; 57 of 100 at 0.57 is exactly at the threshold.
    expect(rateSignal({ ...base, threshold: 0.57, numerator: 57, denominator: 100 }).alert).toBe(false);
    expect(
      rateSignal({ ...base, kind: 'duplicate_rate', threshold: 0.0125, numerator: 2, denominator: 100 })
        .explanation,
    ).toMatch(/duplicate rate .* above the 1\.25% threshold/);
  });

  it('gives no verdict below the minimum denominator, and no rate without one', () => {
    expect(rateSignal({ ...base, numerator: 50, denominator: 99 })).toMatchObject({
      alert: false,
      rate: 50 / 99,
    });
    expect(rateSignal({ ...base, numerator: 50, denominator: 99 }).explanation).toMatch(/100 needed/);
    expect(rateSignal({ ...base, numerator: 0, denominator: 0 })).toMatchObject({ alert: false, rate: null });
    expect(() => rateSignal({ ...base, numerator: -1, denominator: 100 })).toThrow(RangeError);
  });
});

describe('fxMove', () => {
  it('computes the move exactly: 1.0850 → 1.1393 is 5.0046 %', () => {
    expect(fxMove('1.0850', '1.1393', '5')).toMatchObject({ alert: true, movePercent: '5.0046' });
    // The exact move is 5.004608…%: above 5.0046 (the rounded figure), within 5.0047.
    expect(fxMove('1.0850', '1.1393', '5.0046').alert).toBe(true);
    expect(fxMove('1.0850', '1.1393', '5.0047').alert).toBe(false);
    expect(fxMove('1.1393', '1.0850', '5')).toMatchObject({ alert: false, movePercent: '-4.7661' });
    expect(fxMove('1.0850', '1.1393', '5').explanation).toBe(
      'The rate moved 5.0046% (1.0850 → 1.1393), more than the 5% allowed.',
    );
  });

  it('rounds half-even to 4 places, across scales', () => {
    expect(fxMove('8', '8.000004', '1').movePercent).toBe('0.0000'); // 0.00005 → even 0.0000
    expect(fxMove('8', '8.000012', '1').movePercent).toBe('0.0002'); // 0.00015 → even 0.0002
    expect(fxMove('8', '7.999996', '1').movePercent).toBe('0.0000'); // −0.00005 → 0 (shown unsigned)
    expect(fxMove('150', '151.5', '1')).toMatchObject({ movePercent: '1.0000', alert: false }); // exactly 1 %
    expect(fxMove('0.0062', '0.00651', '5')).toMatchObject({ movePercent: '5.0000', alert: false });
  });

  it('agrees with the float estimate to the last place shown', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 10 ** 9 - 1 }),
        fc.integer({ min: 1, max: 10 ** 9 - 1 }),
        (p, n) => {
          const r = fxMove(`0.${String(p).padStart(9, '0')}`, `0.${String(n).padStart(9, '0')}`, '5');
          const estimate = ((n - p) / p) * 100;
          expect(Math.abs(Number(r.movePercent) - estimate)).toBeLessThanOrEqual(
            0.00005 + Math.abs(estimate) * 1e-12,
          );
          expect(r.alert).toBe(Math.abs(n - p) * 100 > 5 * p);
        },
      ),
      { numRuns: 500, seed: 701 },
    );
    expect(() => fxMove('0', '1', '5')).toThrow(/previousRate/);
    expect(() => fxMove('1.1', '1e3', '5')).toThrow(/newRate/);
  });
});
