import { decodeJournal, encodeJournal } from './journal';
import {
  acknowledgeBy,
  disputeHold,
  payoutHeldJournal,
  acknowledgementState,
  addDays,
  carryOf,
  isOverdue,
  paymentOutcome,
  payoutOutcomeJournal,
  payoutSentJournal,
  reconcileBankLine,
} from './payouts';

const P = {
  cycleId: 'settlement:nova:2026-11-23',
  partnerId: 'nova',
  currency: 'EUR',
  amountMinor: 10_000n,
  paymentReference: 'CH-1',
};
const fmt = (m: bigint) => (Number(m) / 100).toFixed(2);
/** Net movement per account code (debit +, credit −) of a journal's postings. */
function moves(j: ReturnType<typeof payoutSentJournal>): Record<string, bigint> {
  const out: Record<string, bigint> = {};
  for (const e of j.entries)
    for (const p of e.postings) {
      out[p.debit.code] = (out[p.debit.code] ?? 0n) + p.amountMinor;
      out[p.credit.code] = (out[p.credit.code] ?? 0n) - p.amountMinor;
    }
  return out;
}

describe('statement acknowledgement', () => {
  const issuedAt = new Date('2026-11-24T10:00:00Z');
  const by = acknowledgeBy(issuedAt, 14);
  it('sets the deadline acknowledgementDays after issue', () => {
    expect(by.toISOString()).toBe('2026-12-08T10:00:00.000Z');
  });
  it('reads issued, then accepted by silence once the deadline passed; acknowledged and disputed win', () => {
    const issue = { acknowledgedAt: null, acknowledgeBy: by };
    expect(acknowledgementState(null, false, issuedAt)).toBe('not_issued');
    expect(acknowledgementState(issue, false, new Date('2026-12-08T09:59:59Z'))).toBe('issued');
    expect(acknowledgementState(issue, false, new Date('2026-12-08T10:00:00Z'))).toBe('accepted_by_silence');
    expect(acknowledgementState({ ...issue, acknowledgedAt: issuedAt }, false, new Date('2027-01-01'))).toBe(
      'acknowledged',
    );
    expect(acknowledgementState(issue, true, new Date('2027-01-01'))).toBe('disputed');
  });
});

describe('payout rules', () => {
  it('is due payment terms after approval and overdue only while approved or sent', () => {
    expect(addDays('2026-11-24', 30)).toBe('2026-12-24');
    expect(isOverdue({ state: 'sent', dueDate: '2026-12-24' }, '2026-12-24')).toBe(false);
    expect(isOverdue({ state: 'sent', dueDate: '2026-12-24' }, '2026-12-25')).toBe(true);
    expect(isOverdue({ state: 'approved', dueDate: '2026-12-24' }, '2026-12-25')).toBe(true);
    expect(isOverdue({ state: 'confirmed', dueDate: '2026-12-24' }, '2027-01-01')).toBe(false);
  });
  it('tells exact, short, over and nothing apart, and what each carries', () => {
    expect(carryOf(paymentOutcome(100n, 100n))).toBe(0n);
    expect(paymentOutcome(100n, 60n).state).toBe('partly_paid');
    expect(carryOf(paymentOutcome(100n, 60n))).toBe(40n);
    expect(paymentOutcome(100n, 130n)).toMatchObject({ state: 'confirmed', overpaidMinor: 30n });
    expect(carryOf(paymentOutcome(100n, 130n))).toBe(-30n);
    expect(paymentOutcome(100n, 0n).state).toBe('failed');
    expect(carryOf(paymentOutcome(100n, 0n))).toBe(100n);
  });
});

describe('payout journals', () => {
  const clearing = 'house:payouts_clearing:EUR';
  const transit = 'house:payouts_in_transit:EUR';
  const bank = 'house:bank:EUR';
  const payable = 'partner:nova:fees_payable:EUR';
  it('sent moves clearing to in transit, dated the day it happens, and stores as it posts', () => {
    const j = payoutSentJournal(P, '2026-12-07');
    expect(j.id).toBe(`${P.cycleId}:payout-sent`);
    expect(j.entries[0]!.effectiveDate).toBe('2026-12-07');
    expect(moves(j)).toEqual({ [clearing]: 10_000n, [transit]: -10_000n });
    expect(decodeJournal(JSON.parse(JSON.stringify(encodeJournal(j))))).toEqual(
      decodeJournal(encodeJournal(j)),
    );
  });
  it('confirmed empties in transit into the bank; failed returns it to fees payable', () => {
    expect(moves(payoutOutcomeJournal(P, paymentOutcome(10_000n, 10_000n), '2026-12-08'))).toEqual({
      [transit]: 10_000n,
      [bank]: -10_000n,
    });
    const failed = payoutOutcomeJournal(P, paymentOutcome(10_000n, 0n), '2026-12-08');
    expect(failed.id).toBe(`${P.cycleId}:payout-failed`);
    expect(moves(failed)).toEqual({ [transit]: 10_000n, [payable]: -10_000n });
  });
  it('partly paid pays the part and returns the rest; overpaid makes the partner a debtor', () => {
    expect(moves(payoutOutcomeJournal(P, paymentOutcome(10_000n, 9_000n), '2026-12-08'))).toEqual({
      [transit]: 10_000n,
      [bank]: -9_000n,
      [payable]: -1_000n,
    });
    expect(moves(payoutOutcomeJournal(P, paymentOutcome(10_000n, 10_500n), '2026-12-08'))).toEqual({
      [transit]: 10_000n,
      [bank]: -10_500n,
      [payable]: 500n,
    });
  });
});

describe('a bank line against the payouts', () => {
  const sent = { state: 'sent' as const, currency: 'EUR', amountMinor: 10_000n };
  const line = { creditDebit: 'DBIT' as const, currency: 'EUR', amountMinor: 10_000n, reference: 'CH-1' };
  it('confirms, partly pays or overpays a sent payout by amount', () => {
    expect(reconcileBankLine(line, sent, fmt).outcome).toBe('confirmed');
    expect(reconcileBankLine({ ...line, amountMinor: 9_000n }, sent, fmt)).toMatchObject({
      outcome: 'partly_paid',
      differenceMinor: -1_000n,
    });
    expect(reconcileBankLine({ ...line, amountMinor: 10_100n }, sent, fmt).outcome).toBe('overpaid');
  });
  it('makes the rest exceptions that move nothing', () => {
    expect(reconcileBankLine(line, null, fmt)).toMatchObject({ outcome: 'unmatched', payment: null });
    expect(reconcileBankLine({ ...line, currency: 'GBP' }, sent, fmt).outcome).toBe('currency_mismatch');
    expect(reconcileBankLine(line, { ...sent, state: 'approved' }, fmt).outcome).toBe('not_sent');
    expect(reconcileBankLine(line, { ...sent, state: 'confirmed' }, fmt).outcome).toBe('already_settled');
    expect(reconcileBankLine({ ...line, amountMinor: null }, sent, fmt).outcome).toBe('unknown_currency');
    expect(reconcileBankLine({ ...line, creditDebit: 'CRDT' }, sent, fmt).outcome).toBe('not_a_payout');
  });
});

describe('the hold of open disputes', () => {
  it('holds what disputes contest, at most what is paid, once', () => {
    expect(disputeHold({ toPayMinor: 10_000n, approvedMinor: 10_000n, disputeHoldMinor: 0n })).toEqual({
      heldMinor: 0n,
      holdNowMinor: 0n,
    });
    expect(disputeHold({ toPayMinor: 10_000n, approvedMinor: 10_000n, disputeHoldMinor: 2_500n })).toEqual({
      heldMinor: 2_500n,
      holdNowMinor: 2_500n,
    });
    expect(disputeHold({ toPayMinor: 10_000n, approvedMinor: 10_000n, disputeHoldMinor: 50_000n })).toEqual({
      heldMinor: 10_000n,
      holdNowMinor: 10_000n,
    });
    // A payout journal that kept the hold back already: nothing more is held.
    expect(disputeHold({ toPayMinor: 10_000n, approvedMinor: 7_500n, disputeHoldMinor: 2_500n })).toEqual({
      heldMinor: 2_500n,
      holdNowMinor: 0n,
    });
  });
  it('returns the held amount from clearing to fees payable', () => {
    const j = payoutHeldJournal(P, 2_500n, '2026-12-07');
    expect(j.id).toBe(`${P.cycleId}:payout-held`);
    expect(moves(j)).toEqual({
      'house:payouts_clearing:EUR': 2_500n,
      'partner:nova:fees_payable:EUR': -2_500n,
    });
  });
});
