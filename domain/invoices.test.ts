import { ValidationError } from './errors';
import {
  checkInvoice,
  invoiceBodySchema,
  invoiceDigest,
  invoiceId,
  invoiceLineTotals,
  ourLineTotals,
  varianceRestatement,
  type InvoiceBody,
} from './invoices';
import { feeVariance } from './reconciliation';

const body = (over: Partial<InvoiceBody> = {}): InvoiceBody => ({
  reference: 'INV-2026-11',
  period: { start: '2026-11-01', end: '2026-11-30' },
  currency: 'EUR',
  lines: [
    { line: 'fixed_fee', amount: '500' },
    { line: 'tier_fee', amount: '1234.50' },
  ],
  ...over,
});
const opts = { settlementCurrency: 'EUR', scale: 2 };

/** The fields a ValidationError names. */
function fieldsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    if (err instanceof ValidationError) return err.details.map((d) => d.path);
    throw err;
  }
  throw new Error('no ValidationError');
}

describe('partner invoices', () => {
  it('reads a body into minor units, lines in statement line order', () => {
    const c = checkInvoice(invoiceBodySchema.parse(body()), opts);
    expect(c).toEqual({
      reference: 'INV-2026-11',
      periodStart: '2026-11-01',
      periodEnd: '2026-11-30',
      currency: 'EUR',
      lines: [
        { line: 'tier_fee', amountMinor: 123_450n },
        { line: 'fixed_fee', amountMinor: 50_000n },
      ],
    });
    expect(invoiceLineTotals(c)).toEqual({ tier_fee: 123_450n, fixed_fee: 50_000n });
  });

  it('the schema names the field at fault', () => {
    const issues = (b: unknown) =>
      invoiceBodySchema.safeParse(b).error?.issues.map((i) => i.path.join('.')) ?? [];
    expect(issues({ ...body(), reference: '' })).toEqual(['reference']);
    expect(issues({ ...body(), reference: ' padded' })).toEqual(['reference']);
    expect(issues({ ...body(), reference: 'x'.repeat(101) })).toEqual(['reference']);
    expect(issues({ ...body(), reference: 'tab\there' })).toEqual(['reference']);
    expect(issues({ ...body(), period: { start: '2026-02-30', end: '2026-03-01' } })).toEqual([
      'period.start',
    ]);
    expect(issues({ ...body(), lines: [{ line: 'bonus', amount: '1' }] })).toEqual(['lines.0.line']);
    expect(issues({ ...body(), lines: [{ line: 'tier_fee', amount: '1,00' }] })).toEqual(['lines.0.amount']);
    expect(issues({ ...body(), lines: [] })).toEqual(['lines']);
    expect(issues({ ...body(), extra: 1 })).toEqual(['']);
    expect(issues(body({ reference: 'A reference with spaces / and #1' }))).toEqual([]);
  });

  it('refuses what only the whole body shows, naming every field', () => {
    expect(
      fieldsOf(() => checkInvoice(body({ period: { start: '2026-11-30', end: '2026-11-01' } }), opts)),
    ).toEqual(['period.end']);
    expect(
      fieldsOf(() => checkInvoice(body({ period: { start: '2026-01-01', end: '2026-06-30' } }), opts)),
    ).toEqual(['period.end']);
    expect(fieldsOf(() => checkInvoice(body({ currency: 'USD' }), { ...opts }))).toEqual(['currency']);
    expect(
      fieldsOf(() =>
        checkInvoice(
          body({
            lines: [
              { line: 'tier_fee', amount: '1.005' },
              { line: 'tier_fee', amount: '2' },
            ],
          }),
          opts,
        ),
      ),
    ).toEqual(['lines.0.amount', 'lines.1.line']);
  });

  it('the same reference is the same id; the content decides "the same invoice" (10 = 10.00)', () => {
    expect(invoiceId('p1', 'INV-1')).toBe(invoiceId('p1', 'INV-1'));
    expect(invoiceId('p1', 'INV-1')).not.toBe(invoiceId('p2', 'INV-1'));
    expect(invoiceId('p1', 'INV-1')).toMatch(/^inv-[0-9a-f]{24}$/);
    const a = checkInvoice(body({ lines: [{ line: 'tier_fee', amount: '10' }] }), opts);
    const b = checkInvoice(body({ lines: [{ line: 'tier_fee', amount: '10.00' }] }), opts);
    const c = checkInvoice(body({ lines: [{ line: 'tier_fee', amount: '10.01' }] }), opts);
    expect(invoiceDigest(a)).toBe(invoiceDigest(b));
    expect(invoiceDigest(a)).not.toBe(invoiceDigest(c));
  });

  it('within tolerance: no variance; beyond: one per line (the contract default of 1.00)', () => {
    const tolerance = { absoluteMinor: '100', percent: '0', base: 'larger', rounding: 'half_up' } as const;
    const theirs = invoiceLineTotals(
      checkInvoice(
        body({
          lines: [
            { line: 'tier_fee', amount: '1001.00' },
            { line: 'fixed_fee', amount: '480.00' },
          ],
        }),
        opts,
      ),
    );
    const run = (ours: Record<string, bigint>) =>
      feeVariance({ invoiceId: 'inv-x', currency: 'EUR', scale: 2, ours, theirs, tolerance });
    expect(run({ tier_fee: 100_000n, fixed_fee: 48_000n })).toEqual([]);
    expect(run({ tier_fee: 100_000n, fixed_fee: 50_000n })).toEqual([
      expect.objectContaining({ id: 'fee_variance:inv-x:fixed_fee', differenceMinor: -2_000n }),
    ]);
  });

  it('a resolution asks for the restatement of the difference it accepts, keyed by the change', () => {
    const v = { invoiceId: 'inv-x', line: 'tier_fee' as const, differenceMinor: 2_000n, detail: 'd' };
    expect(varianceRestatement(v, 'accept_ours', null, 'ours stands')).toBeNull();
    expect(varianceRestatement(v, 'adjust', 0n, 'nothing')).toBeNull();
    expect(varianceRestatement(v, 'accept_theirs', null, 'agreed')).toEqual({
      reason: { kind: 'invoice', invoiceId: 'inv-x', line: 'tier_fee', amountMinor: '2000', note: 'agreed' },
      changeKey: 'fee_variance:inv-x:tier_fee:accept_theirs:2000',
    });
    expect(varianceRestatement(v, 'adjust', -500n, 'half')?.reason.amountMinor).toBe('-500');
  });

  it("our side sums every statement's lines per key; a restatement's adjustment counts on the line it corrects", () => {
    const line = (code: string, amount: string) => ({ code, description: '', base: '0', rate: null, amount });
    const v1 = {
      statement: { lines: [line('tier', '100.00'), line('fixed_fee', '50.00')] },
      adjustments: [],
    };
    const v2 = {
      statement: { lines: [line('tier', '10.00'), line('tier', '5.00'), line('adjustment', '24.50')] },
      adjustments: [
        { line: 'tier_fee', amountMinor: '2500' },
        { line: 'adjustment', amountMinor: '-50' },
      ],
    };
    expect(ourLineTotals([v1, v2], 2)).toEqual({
      tier_fee: 14_000n,
      category_fee: 0n,
      minimum_guarantee_top_up: 0n,
      fixed_fee: 5_000n,
      adjustment: -50n,
    });
  });
});
