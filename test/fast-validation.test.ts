import fc from 'fast-check';
import { pgTextArray } from '../db/ingest';
import { fastParseBatch, transactionBatchSchema, transactionTypes } from '../domain/transactions';
import { createTestDatabase } from './support/env';

// The ingest hot path validates without zod; the zod schema stays the source of truth.
// Whatever the fast path accepts, the schema must accept with the same result.
const printable = fc.stringMatching(/^[\x21-\x7e]{1,12}$/);
const maybe = <T>(a: fc.Arbitrary<T>) => fc.oneof(a, fc.constant(undefined));
const instant = fc.oneof(
  fc
    .date({
      min: new Date('1960-01-01T00:00:00Z'),
      max: new Date('3100-01-01T00:00:00Z'),
      noInvalidDate: true,
    })
    .map((d) => d.toISOString()),
  fc.constantFrom(
    '2026-02-30T00:00:00.000Z',
    '2026-02-28T23:59:59.999Z',
    '2026-11-23T24:00:00.000Z',
    '2026-04-31T00:00:00.000Z',
    '2026-11-23T12:00:00Z',
    '2026-11-23T12:00:00.000+01:00',
  ),
);
const item = fc.record(
  {
    id: fc.oneof(printable, fc.constantFrom('', 'has space', 'x'.repeat(129))),
    type: fc.oneof(fc.constantFrom(...transactionTypes), fc.constant('refund')),
    roundId: printable,
    playerId: printable,
    gameId: printable,
    amount: fc.oneof(fc.constantFrom('1.00', '-2', 'abc'), fc.integer().map(String)),
    currency: fc.constantFrom('EUR', 'JPY', 'eur', 'EURO1', 'E'),
    occurredAt: instant,
    refId: maybe(printable),
    reason: maybe(fc.string({ maxLength: 5 })),
    extra: maybe(fc.constant('x')),
  },
  { requiredKeys: ['id', 'type', 'roundId', 'playerId', 'gameId', 'amount', 'currency', 'occurredAt'] },
);
const batch = fc.record({
  batchId: fc.oneof(printable, fc.constant('')),
  transactions: fc.array(item, { minLength: 0, maxLength: 4 }),
});

describe('fast-path batch validation', () => {
  it('accepts only what the zod schema accepts, with the same result', () => {
    fc.assert(
      fc.property(batch, (b) => {
        const json = JSON.parse(JSON.stringify(b)) as unknown; // what express hands over
        const fast = fastParseBatch(json);
        if (fast !== null) {
          const viaSchema = transactionBatchSchema.safeParse(json);
          expect(viaSchema.success).toBe(true);
          expect(viaSchema.data).toEqual(fast);
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('takes the fast path for ordinary batches', () => {
    const ordinary = {
      batchId: 'b-1',
      transactions: [
        {
          id: 't1',
          type: 'bet',
          roundId: 'r',
          playerId: 'p',
          gameId: 'g',
          amount: '1.00',
          currency: 'EUR',
          occurredAt: '2026-11-23T12:00:00.000Z',
        },
      ],
    };
    expect(fastParseBatch(ordinary)).toBe(ordinary);
    expect(fastParseBatch({ ...ordinary, extra: 1 })).toBeNull();
    expect(
      fastParseBatch({
        ...ordinary,
        transactions: [{ ...ordinary.transactions[0], occurredAt: '2026-02-30T00:00:00.000Z' }],
      }),
    ).toBeNull();
  });
});

describe('Postgres text[] literals built for the ingest call', () => {
  it('round-trip any strings and nulls through Postgres', async () => {
    const db = await createTestDatabase();
    try {
      await fc.assert(
        fc.asyncProperty(
          fc.array(
            fc.oneof(
              fc.string(),
              fc.constantFrom('NULL', '', ' ', 'a,b', '{x}', '"q"', 'back\\slash'),
              fc.constant(null),
            ),
            { maxLength: 8 },
          ),
          async (values) => {
            const clean = values.map((v) => (v === null ? null : v.split('\u0000').join('')));
            const { rows } = await db.pool.query<{ a: (string | null)[] | null }>('SELECT $1::text[] AS a', [
              pgTextArray(clean),
            ]);
            expect(rows[0]!.a ?? []).toEqual(clean);
          },
        ),
        { numRuns: 200 },
      );
    } finally {
      await db.drop();
    }
  });
});
