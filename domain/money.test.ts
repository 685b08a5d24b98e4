import fc from 'fast-check';
import {
  allocate,
  convert,
  createCurrencyRegistry,
  defaultCurrencies,
  divideHalfEven,
  formatAmount,
  MAX_MINOR,
  multiplyHalfEven,
  parseAmount,
  parseDecimal,
  rescale,
} from './money';

const NUM_RUNS = 500;
const amount = fc.bigInt({ min: -MAX_MINOR, max: MAX_MINOR });
const scale = fc.integer({ min: 0, max: 18 });

describe('parseAmount / formatAmount', () => {
  it('round-trips every amount at every scale', () => {
    fc.assert(
      fc.property(amount, scale, (minor, s) => {
        expect(parseAmount(formatAmount(minor, s), s, { allowNegative: true })).toEqual({ ok: true, minor });
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it('parses exactly, without floats', () => {
    expect(parseAmount('12.34', 2)).toEqual({ ok: true, minor: 1234n });
    expect(parseAmount('0.1', 2)).toEqual({ ok: true, minor: 10n });
    expect(parseAmount('100', 0)).toEqual({ ok: true, minor: 100n });
    expect(parseAmount('9007199254740993.01', 2)).toEqual({ ok: true, minor: 900719925474099301n }); // beyond 2^53
    expect(parseAmount('-0.05', 2, { allowNegative: true })).toEqual({ ok: true, minor: -5n });
    expect(parseAmount('0.000001', 6)).toEqual({ ok: true, minor: 1n });
  });

  it.each([
    ['a JSON number', 12.34, 2, /decimal string/],
    ['an exponent', '1e3', 2, /decimal string/],
    ['a plus sign', '+1', 2, /decimal string/],
    ['a leading space', ' 1', 2, /decimal string/],
    ['too many decimals', '1.234', 2, /more than 2 decimal places/],
    ['trailing zeros beyond the scale', '1.230', 2, /more than 2 decimal places/],
    ['decimals in a zero-decimal currency', '100.5', 0, /whole number/],
    ['a leading dot', '.5', 2, /decimal string/],
    ['a trailing dot', '5.', 2, /decimal string/],
    ['NaN', 'NaN', 2, /decimal string/],
    ['hex', '0x10', 2, /decimal string/],
    ['a thousands separator', '1,000', 2, /decimal string/],
    ['leading zeros', '007', 2, /decimal string/],
    ['a negative without allowNegative', '-1.00', 2, /negative/],
    ['a value beyond the bigint range', '92233720368547758.08', 2, /range/],
    ['an over-long string', '1'.repeat(65), 0, /decimal string/],
  ])('rejects %s', (_name, input, s, message) => {
    const r = parseAmount(input, s);
    expect(r.ok).toBe(false);
    expect(r.ok ? '' : r.message).toMatch(message);
  });

  it('rejects zero only when asked', () => {
    expect(parseAmount('0.00', 2)).toEqual({ ok: true, minor: 0n });
    expect(parseAmount('0.00', 2, { allowZero: false }).ok).toBe(false);
  });

  it('formats with exactly the scale', () => {
    expect(formatAmount(1230n, 2)).toBe('12.30');
    expect(formatAmount(-5n, 2)).toBe('-0.05');
    expect(formatAmount(100n, 0)).toBe('100');
    expect(formatAmount(1n, 6)).toBe('0.000001');
  });
});

describe('rounding returns its residue', () => {
  it('rounds half to even', () => {
    expect(divideHalfEven(5n, 2n).rounded).toBe(2n);
    expect(divideHalfEven(7n, 2n).rounded).toBe(4n);
    expect(divideHalfEven(-5n, 2n).rounded).toBe(-2n);
    expect(divideHalfEven(-7n, 2n).rounded).toBe(-4n);
    expect(divideHalfEven(5n, -2n).rounded).toBe(-2n);
    expect(divideHalfEven(10n, 3n)).toEqual({ rounded: 3n, residue: { num: 1n, den: 3n } });
  });

  it('property: rounded × den + residue = numerator, and |residue| ≤ den/2', () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: -(10n ** 30n), max: 10n ** 30n }),
        fc.bigInt({ min: -(10n ** 12n), max: 10n ** 12n }).filter((d) => d !== 0n),
        (n, d) => {
          const { rounded, residue } = divideHalfEven(n, d);
          expect(residue.den > 0n).toBe(true);
          expect(rounded * residue.den + residue.num).toBe(d < 0n ? -n : n);
          const abs = residue.num < 0n ? -residue.num : residue.num;
          expect(2n * abs <= residue.den).toBe(true);
          if (2n * abs === residue.den) expect(rounded % 2n).toBe(0n); // a tie went to even
        },
      ),
      { numRuns: NUM_RUNS },
    );
  });

  it('property: multiplyHalfEven is exact against rational arithmetic', () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: -(10n ** 15n), max: 10n ** 15n }),
        fc.bigInt({ min: 0n, max: 10n ** 8n }),
        fc.integer({ min: 0, max: 8 }),
        (minor, units, s) => {
          const { rounded, residue } = multiplyHalfEven(minor, { units, scale: s });
          const den = 10n ** BigInt(s);
          expect(rounded * den + residue.num).toBe(minor * units);
          expect(residue.den).toBe(den);
        },
      ),
      { numRuns: NUM_RUNS },
    );
  });

  it('applies a rate: 12.5 % of 100.01 EUR is 12.50 with 0.125 cent of residue', () => {
    const rate = parseDecimal('0.125');
    expect(rate).toEqual({ ok: true, value: { units: 125n, scale: 3 } });
    const r = multiplyHalfEven(10001n, rate.ok ? rate.value : { units: 0n, scale: 0 });
    expect(r.rounded).toBe(1250n);
    expect(r.residue).toEqual({ num: 125n, den: 1000n });
  });

  it('rescales a 6-decimal stablecoin amount to cents with the residue in micro-units', () => {
    expect(rescale(1_234_567n, 6, 2)).toEqual({ rounded: 123n, residue: { num: 4567n, den: 10000n } });
    expect(rescale(125n, 2, 6)).toEqual({ rounded: 1_250_000n, residue: { num: 0n, den: 1n } });
  });
});

describe('convert', () => {
  it('converts across scales at an exact rate with the residue', () => {
    // 12,345 JPY at 0.006123 EUR/JPY = 75.588435 EUR → 75.59, residue −0.001565 (in cents: −0.1565)
    expect(convert(12345n, 0, { units: 6123n, scale: 6 }, 2)).toEqual({
      rounded: 7559n,
      residue: { num: -156500n, den: 1000000n },
    }); // −0.1565 cent
    expect(convert(10000n, 2, { units: 11625n, scale: 4 }, 2)).toEqual({
      rounded: 11625n,
      residue: { num: 0n, den: 1000000n },
    });
  });
});

describe('allocate', () => {
  it('property: parts add up exactly and stay within one unit of the exact share', () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: -(10n ** 15n), max: 10n ** 15n }),
        fc
          .array(fc.bigInt({ min: 0n, max: 10n ** 6n }), { minLength: 1, maxLength: 20 })
          .filter((w) => w.some((x) => x > 0n)),
        (total, weights) => {
          const parts = allocate(total, weights);
          expect(parts.reduce((a, b) => a + b, 0n)).toBe(total);
          const sum = weights.reduce((a, b) => a + b, 0n);
          parts.forEach((p, i) => {
            const exactTimesSum = total * weights[i]!;
            const diff = p * sum - exactTimesSum;
            expect((diff < 0n ? -diff : diff) < sum).toBe(true);
          });
        },
      ),
      { numRuns: NUM_RUNS },
    );
  });

  it('splits 100.00 three ways as 33.34 / 33.33 / 33.33', () => {
    expect(allocate(10000n, [1n, 1n, 1n])).toEqual([3334n, 3333n, 3333n]);
  });
});

describe('currency registry', () => {
  it('knows ISO 4217 exponents and configured assets', () => {
    expect(defaultCurrencies.scaleOf('EUR')).toBe(2);
    expect(defaultCurrencies.scaleOf('JPY')).toBe(0);
    expect(defaultCurrencies.scaleOf('BHD')).toBe(3);
    expect(defaultCurrencies.scaleOf('CLF')).toBe(4);
    expect(defaultCurrencies.scaleOf('USDC')).toBe(6);
    expect(defaultCurrencies.scaleOf('XYZ')).toBeUndefined();
  });

  it('never guesses the scale of a currency that must be known', () => {
    expect(defaultCurrencies.requireScale('KWD')).toBe(3);
    expect(() => defaultCurrencies.requireScale('XYZ')).toThrow(
      /^unknown currency XYZ: not an ISO 4217 code nor an asset configured in CURRENCY_EXTRA_ASSETS$/,
    );
  });

  it('refuses a malformed extra asset', () => {
    expect(() => createCurrencyRegistry({ usdc: 6 })).toThrow(/usdc/);
    expect(() => createCurrencyRegistry({ GOLD: 19 })).toThrow(/GOLD/);
  });
});
