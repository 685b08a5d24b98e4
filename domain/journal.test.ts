import fc from 'fast-check';
import { houseAccount, partnerAccount, type PartnerAccountName } from './accounts';
import {
  decodeJournal,
  diffJournals,
  encodeJournal,
  journalAccounts,
  journalDigest,
  JournalError,
  payoutJournal,
  settlementJournal,
  type Journal,
  type JournalEntry,
} from './journal';

const cycle = {
  cycleId: 'settlement:acme:2026-11-30',
  partnerId: 'acme',
  currency: 'EUR',
  periodStart: '2026-11-30',
  periodEnd: '2026-11-30',
};
const acct = (name: PartnerAccountName) => partnerAccount('acme', name, 'EUR');
const sample = (): Journal =>
  settlementJournal(cycle, {
    scale: 2,
    resolutionEffects: [
      { exceptionId: 'amount_mismatch:t-7', ledgerMinor: -250n },
      { exceptionId: 'missing_theirs:t-11', ledgerMinor: 1200n },
    ],
    carriedIn: [{ fromSettlementId: 'settlement:acme:2026-11-29', amountMinor: -5000n }],
    carriedOutMinor: 0n,
    gamingTax: { jurisdiction: 'MT', amountMinor: 321n },
    grossFeeMinor: 10_500n,
    taxWithheldMinor: 525n,
    netPayableMinor: 9975n,
  });

/** Reverses object keys at every level: what a jsonb round trip may do to key order. */
const reordered = (v: unknown): unknown =>
  Array.isArray(v)
    ? v.map(reordered)
    : v !== null && typeof v === 'object'
      ? Object.fromEntries(
          Object.entries(v)
            .reverse()
            .map(([k, x]) => [k, reordered(x)]),
        )
      : v;

describe('settlement and payout journals', () => {
  it('posts each signed figure in its direction, under the keys the statement lists', () => {
    const j = sample();
    expect(j).toMatchObject({
      id: `${cycle.cycleId}:settlement`,
      kind: 'settlement',
      sourceRef: cycle.cycleId,
    });
    expect(j.summary).toEqual({ netPayable: '99.75', currency: 'EUR' });
    const brief = j.entries.map((e) => [
      e.key.slice(cycle.cycleId.length + 1),
      e.postings.map((p) => `${p.debit.code}>${p.credit.code}:${p.amountMinor}`).join(' '),
    ]);
    expect(brief).toEqual([
      [
        'resolution:amount_mismatch:t-7',
        'partner:acme:gaming_revenue:EUR>partner:acme:game_activity:EUR:250',
      ],
      [
        'resolution:missing_theirs:t-11',
        'partner:acme:game_activity:EUR>partner:acme:gaming_revenue:EUR:1200',
      ],
      ['carry-in', 'partner:acme:carry_forward:EUR>partner:acme:carry_forward_offset:EUR:5000'],
      ['gaming-tax', 'partner:acme:gaming_tax:EUR>house:gaming_tax_payable:mt:EUR:321'],
      [
        'fees',
        'partner:acme:provider_fees:EUR>partner:acme:fees_payable:EUR:9975 partner:acme:provider_fees:EUR>partner:acme:tax_withheld:EUR:525',
      ],
    ]);
    expect(j.entries.find((e) => e.key.endsWith(':fees'))!.metadata).toEqual({
      partnerId: 'acme',
      line: 'grossFee',
      periodStart: '2026-11-30',
      periodEnd: '2026-11-30',
      grossFee: '105.00',
      taxWithheld: '5.25',
      netPayable: '99.75',
    });
    expect(journalAccounts(j).map((a) => a.code)).toContain('house:gaming_tax_payable:mt:EUR');
  });

  it('pays out what is owed, and nothing when nothing is', () => {
    const paid = payoutJournal(cycle, 9975n, ['ana', 'bo']);
    expect(paid).toMatchObject({
      id: `${cycle.cycleId}:payout`,
      kind: 'payout',
      summary: { amountMinor: '9975', currency: 'EUR', approvers: ['ana', 'bo'] },
      entries: [
        {
          key: `${cycle.cycleId}:payout`,
          sourceKind: 'settlement',
          effectiveDate: '2026-11-30',
          metadata: { line: 'netPayable', approvers: ['ana', 'bo'] },
          postings: [
            {
              debit: acct('fees_payable'),
              credit: houseAccount('payouts_clearing', 'EUR'),
              amountMinor: 9975n,
            },
          ],
        },
      ],
    });
    expect(payoutJournal(cycle, 0n, ['ana']).entries).toEqual([]);
    expect(payoutJournal(cycle, -1n, ['ana']).entries).toEqual([]);
  });
});

describe('encoding', () => {
  it('round-trips through JSON (amounts as decimal strings), whatever the key order', () => {
    const j = sample();
    const stored = JSON.parse(JSON.stringify(encodeJournal(j))) as unknown;
    expect(JSON.stringify(stored)).not.toMatch(/"amountMinor":\d/);
    expect(decodeJournal(stored)).toEqual(j);
    expect(decodeJournal(reordered(stored))).toEqual(j);
    expect(journalDigest(decodeJournal(reordered(stored)))).toBe(journalDigest(j));
  });

  it('digests content: any change of amount, account, key or metadata changes it', () => {
    const j = sample();
    const d = journalDigest(j);
    expect(d).toMatch(/^[0-9a-f]{64}$/);
    const e0 = j.entries[0]!;
    const p0 = e0.postings[0]!;
    const variants: Journal[] = [
      {
        ...j,
        entries: [{ ...e0, postings: [{ ...p0, amountMinor: p0.amountMinor + 1n }] }, ...j.entries.slice(1)],
      },
      {
        ...j,
        entries: [
          { ...e0, postings: [{ ...p0, debit: p0.credit, credit: p0.debit }] },
          ...j.entries.slice(1),
        ],
      },
      { ...j, entries: [{ ...e0, key: `${e0.key}x` }, ...j.entries.slice(1)] },
      { ...j, entries: [{ ...e0, metadata: { ...e0.metadata, note: 'x' } }, ...j.entries.slice(1)] },
      { ...j, entries: j.entries.slice(1) },
      { ...j, sourceRef: 'other' },
    ];
    for (const v of variants) expect(journalDigest(v)).not.toBe(d);
  });

  it('refuses what the ledger would refuse, naming where', () => {
    interface Stored {
      journalVersion: number;
      id?: string;
      entries: {
        key: string;
        effectiveDate: string;
        sourceKind: string;
        postings: {
          amountMinor: string | number;
          currency: string;
          debit: { partnerId?: string };
          credit: unknown;
        }[];
      }[];
    }
    const stored = () => JSON.parse(JSON.stringify(encodeJournal(sample()))) as Stored;
    const e = (s: Stored, i = 0) => s.entries[i]!;
    const p = (s: Stored) => e(s).postings[0]!;
    const broken: [string, (s: Stored) => void][] = [
      ['entries.0.postings.0.amountMinor', (s) => (p(s).amountMinor = '-5')],
      ['entries.0.postings.0.amountMinor', (s) => (p(s).amountMinor = '0')],
      ['entries.0.postings.0.amountMinor', (s) => (p(s).amountMinor = '1.5')],
      ['entries.0.postings.0.amountMinor', (s) => (p(s).amountMinor = '9223372036854775808')],
      ['entries', (s) => (p(s).amountMinor = 5)],
      ['entries.0.postings.0.debit.currency', (s) => (p(s).currency = 'USD')],
      ['entries.0.postings.0', (s) => (p(s).credit = p(s).debit)],
      ['entries.1.key', (s) => (e(s, 1).key = e(s).key)],
      ['entries.0.postings', (s) => (e(s).postings = [])],
      ['entries.0.effectiveDate', (s) => (e(s).effectiveDate = '2026-02-30')],
      ['entries.0.sourceKind', (s) => (e(s).sourceKind = 'reversal')],
      ['entries.0.postings.0.debit.code', (s) => (p(s).debit.partnerId = 'other')],
      ['journalVersion', (s) => (s.journalVersion = 2)],
      ['id', (s) => delete s.id],
    ];
    for (const [path, breakIt] of broken) {
      const s = stored();
      breakIt(s);
      let err: unknown;
      try {
        decodeJournal(s);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(JournalError);
      expect((err as JournalError).details[0]!.path).toBe(path);
    }
    // Nothing unpostable is encoded either.
    const j = sample();
    expect(() =>
      encodeJournal({
        ...j,
        entries: [{ ...j.entries[0]!, postings: [{ ...j.entries[0]!.postings[0]!, amountMinor: -1n }] }],
      }),
    ).toThrow(JournalError);
  });
});

describe('diffJournals (restatement)', () => {
  const names: PartnerAccountName[] = [
    'game_activity',
    'gaming_revenue',
    'provider_fees',
    'fees_payable',
    'tax_withheld',
  ];
  const posting = fc
    .record({
      from: fc.constantFrom(...names),
      to: fc.constantFrom(...names),
      amount: fc.bigInt({ min: 1n, max: 10n ** 9n }),
    })
    .filter((p) => p.from !== p.to)
    .map((p) => ({ debit: acct(p.from), credit: acct(p.to), currency: 'EUR', amountMinor: p.amount }));
  const journal = fc
    .uniqueArray(
      fc.record({
        key: fc.constantFrom('k1', 'k2', 'k3', 'k4'),
        postings: fc.array(posting, { minLength: 1, maxLength: 4 }),
      }),
      { selector: (e) => e.key, maxLength: 4 },
    )
    .map((es): Journal => ({
      id: 'j',
      kind: 'settlement',
      sourceRef: 'c',
      entries: es.map((e): JournalEntry => ({
        key: e.key,
        effectiveDate: '2026-11-30',
        sourceKind: 'settlement',
        metadata: { partnerId: 'acme' },
        postings: e.postings,
      })),
    }));
  /** Balance per key and account: what a set of entries moves. */
  const moves = (entries: JournalEntry[], into = new Map<string, bigint>()) => {
    for (const e of entries)
      for (const p of e.postings) {
        const k = (code: string) => `${e.key}|${code}`;
        into.set(k(p.debit.code), (into.get(k(p.debit.code)) ?? 0n) + p.amountMinor);
        into.set(k(p.credit.code), (into.get(k(p.credit.code)) ?? 0n) - p.amountMinor);
      }
    for (const [k, v] of into) if (v === 0n) into.delete(k);
    return into;
  };

  it('before + diff moves what after moves, per key and account', () => {
    fc.assert(
      fc.property(journal, journal, (before, after) => {
        const diff = diffJournals(before, after);
        expect(moves([...before.entries, ...diff])).toEqual(moves(after.entries));
        for (const e of diff) {
          expect(e.sourceKind).toBe('adjustment');
          expect(e.metadata.restates).toBe(e.key);
          for (const p of e.postings) expect(p.amountMinor > 0n).toBe(true);
          // One posting per account pair: a diff never moves money there and back.
          const pairs = e.postings.map((p) => [p.debit.code, p.credit.code].sort().join('|'));
          expect(new Set(pairs).size).toBe(pairs.length);
        }
        expect(diffJournals(after, after)).toEqual([]);
        // The way back undoes it.
        expect(moves([...after.entries, ...diffJournals(after, before)])).toEqual(moves(before.entries));
      }),
      { numRuns: 300 },
    );
  });

  it('restates a changed fee: the difference only, in the direction that corrects it', () => {
    const before = sample();
    const after = settlementJournal(cycle, {
      scale: 2,
      resolutionEffects: [{ exceptionId: 'amount_mismatch:t-7', ledgerMinor: -250n }],
      carriedIn: [{ fromSettlementId: 'settlement:acme:2026-11-29', amountMinor: -5000n }],
      carriedOutMinor: 0n,
      gamingTax: { jurisdiction: 'MT', amountMinor: 321n },
      grossFeeMinor: 10_000n,
      taxWithheldMinor: 500n,
      netPayableMinor: 9500n,
    });
    const diff = diffJournals(before, after);
    expect(
      diff.map((e) => [e.key, e.postings.map((p) => `${p.debit.code}>${p.credit.code}:${p.amountMinor}`)]),
    ).toEqual([
      [
        `${cycle.cycleId}:fees`,
        [
          'partner:acme:fees_payable:EUR>partner:acme:provider_fees:EUR:475',
          'partner:acme:tax_withheld:EUR>partner:acme:provider_fees:EUR:25',
        ],
      ],
      [
        `${cycle.cycleId}:resolution:missing_theirs:t-11`,
        ['partner:acme:gaming_revenue:EUR>partner:acme:game_activity:EUR:1200'],
      ],
    ]);
    // Corrections are dated and described like what they correct (the new figures).
    expect(diff[0]!.metadata).toMatchObject({ netPayable: '95.00', restates: `${cycle.cycleId}:fees` });
  });
});
