// Statement acknowledgement and the payout's life after approval, as rules and journals.
// Pure: no I/O, no clock (every "now" is a parameter).
//
// The payout's money, stage by stage (house accounts in the settlement currency; "A → B" is
// debit A, credit B, the ledger's direction for every journal):
//
//   approved   partner fees_payable → house payouts_clearing   (the payout journal, preparePayout)
//   sent       house payouts_clearing → house payouts_in_transit
//   confirmed  house payouts_in_transit → house bank             (the bank account pays out)
//   failed     house payouts_in_transit → partner fees_payable   (owed to the partner again)
//   partly     in transit → bank for the part paid, in transit → fees_payable for the rest
//   overpaid   in transit → bank for the payout, fees_payable → bank for the excess
//
// So at any moment exactly one of clearing / in transit holds a pending payout (as a credit
// balance: money promised, not yet left), the bank's balance falls by what the bank statement
// says left it, and fees_payable is what is still owed to the partner: back up after a failure or
// a short payment, below zero (a receivable: the partner owes us) after an overpayment. The
// remainder or the excess also becomes a payable carry, the line the next statement brings
// forward, so it is settled once: by that statement's payout.
import { houseAccount, partnerAccount } from './accounts';
import type { Journal, JournalPosting, JsonValue } from './journal';
import { ValidationError } from './errors';

export const payoutStates = ['approved', 'sent', 'confirmed', 'failed', 'partly_paid'] as const;
export type PayoutState = (typeof payoutStates)[number];

export const acknowledgementStates = [
  'not_issued',
  'issued',
  'acknowledged',
  'disputed',
  'accepted_by_silence',
] as const;
export type AcknowledgementState = (typeof acknowledgementStates)[number];

const DAY_MS = 86_400_000;

/** The acknowledgement deadline: the issue instant plus the contract's acknowledgementDays. */
export function acknowledgeBy(issuedAt: Date, acknowledgementDays: number): Date {
  return new Date(issuedAt.getTime() + acknowledgementDays * DAY_MS);
}

/**
 * A statement's acknowledgement as read at `now`: an open dispute reads `disputed` (it is the
 * partner's answer while it lasts); then an explicit acknowledgement; then silence past the
 * deadline is acceptance; before it the statement is `issued`, waiting.
 */
export function acknowledgementState(
  issue: { acknowledgedAt: Date | null; acknowledgeBy: Date } | null,
  openDisputes: boolean,
  now: Date,
): AcknowledgementState {
  if (!issue) return 'not_issued';
  if (openDisputes) return 'disputed';
  if (issue.acknowledgedAt) return 'acknowledged';
  return now.getTime() >= issue.acknowledgeBy.getTime() ? 'accepted_by_silence' : 'issued';
}

/** A calendar date plus days (YYYY-MM-DD in, out). */
export function addDays(day: string, days: number): string {
  const t = Date.parse(`${day}T00:00:00Z`);
  if (!/^\d{4}-\d{2}-\d{2}$/.test(day) || Number.isNaN(t)) throw new ValidationError(`not a date: ${day}`);
  return new Date(t + days * DAY_MS).toISOString().slice(0, 10);
}

/** Overdue: approved or sent (no outcome yet) after its due date, read on `today` (partner's business day). */
export function isOverdue(p: { state: PayoutState; dueDate: string }, today: string): boolean {
  return (p.state === 'approved' || p.state === 'sent') && today > p.dueDate;
}

/** ISO 20022 EndToEndId: at most 35 characters of the SWIFT set (what a bank carries back). */
export const PAYMENT_REFERENCE = /^[A-Za-z0-9/?:().,'+ -]{1,35}$/;

/** What a payment of `paidMinor` against a payout of `amountMinor` makes of it. */
export type PaymentOutcome =
  | { state: 'confirmed'; paidMinor: bigint; overpaidMinor: 0n; remainderMinor: 0n }
  | { state: 'confirmed'; paidMinor: bigint; overpaidMinor: bigint; remainderMinor: 0n }
  | { state: 'partly_paid'; paidMinor: bigint; overpaidMinor: 0n; remainderMinor: bigint }
  | { state: 'failed'; paidMinor: 0n; overpaidMinor: 0n; remainderMinor: bigint };

/** Exact → confirmed; less → partly paid (nothing at all → failed); more → confirmed with an overpayment. */
export function paymentOutcome(amountMinor: bigint, paidMinor: bigint): PaymentOutcome {
  if (amountMinor <= 0n) throw new ValidationError('a payout amount is positive');
  if (paidMinor < 0n) throw new ValidationError('a paid amount is not negative');
  if (paidMinor === 0n)
    return { state: 'failed', paidMinor: 0n, overpaidMinor: 0n, remainderMinor: amountMinor };
  if (paidMinor < amountMinor)
    return { state: 'partly_paid', paidMinor, overpaidMinor: 0n, remainderMinor: amountMinor - paidMinor };
  return { state: 'confirmed', paidMinor, overpaidMinor: paidMinor - amountMinor, remainderMinor: 0n };
}

/**
 * The payable carry an outcome leaves for the next statement (signed: + owed to the partner):
 * the unpaid remainder of a failed or partly paid payout, minus an overpayment. 0 when none.
 */
export function carryOf(o: PaymentOutcome): bigint {
  return o.remainderMinor - o.overpaidMinor;
}

export interface PayoutRef {
  cycleId: string;
  partnerId: string;
  currency: string;
  amountMinor: bigint;
  paymentReference: string;
}

export type PayoutStep = 'held' | 'sent' | 'confirmed' | 'partly-paid' | 'failed';
export const payoutStepJournalId = (cycleId: string, step: PayoutStep) => `${cycleId}:payout-${step}`;

function stepJournal(
  p: Omit<PayoutRef, 'paymentReference'> & { paymentReference: string | null },
  step: PayoutStep,
  effectiveDate: string,
  postings: JournalPosting[],
  metadata: Record<string, JsonValue>,
): Journal {
  const id = payoutStepJournalId(p.cycleId, step);
  return {
    id,
    kind: `payout-${step}`,
    sourceRef: p.cycleId,
    entries: [
      {
        key: id,
        effectiveDate,
        sourceKind: 'transfer',
        metadata: {
          partnerId: p.partnerId,
          ...(p.paymentReference === null ? {} : { paymentReference: p.paymentReference }),
          ...metadata,
        },
        postings,
      },
    ],
    summary: {
      partnerId: p.partnerId,
      currency: p.currency,
      ...(p.paymentReference === null ? {} : { paymentReference: p.paymentReference }),
      ...Object.fromEntries(
        postings.map((x, i) => [`posting${i}`, `${x.debit.code} → ${x.credit.code} ${x.amountMinor}`]),
      ),
    },
  };
}

/**
 * What open disputes hold back from an approved payout: payouts_clearing → partner fees_payable
 * (still owed, not paid), dated the day the payout is recorded. The payout pays the rest.
 */
export function payoutHeldJournal(
  p: Pick<PayoutRef, 'cycleId' | 'partnerId' | 'currency'>,
  heldMinor: bigint,
  effectiveDate: string,
  metadata: Record<string, JsonValue> = {},
): Journal {
  return stepJournal(
    { ...p, amountMinor: heldMinor, paymentReference: null },
    'held',
    effectiveDate,
    [
      {
        debit: houseAccount('payouts_clearing', p.currency),
        credit: partnerAccount(p.partnerId, 'fees_payable', p.currency),
        currency: p.currency,
        amountMinor: heldMinor,
      },
    ],
    metadata,
  );
}

/**
 * The hold of open disputes on a payout: what they hold (db/disputes.ts disputeHoldMinor), at
 * most what was approved, less what the payout journal already kept back (a preparePayout that
 * applies the hold itself): the payout pays the rest.
 */
export function disputeHold(p: { toPayMinor: bigint; approvedMinor: bigint; disputeHoldMinor: bigint }): {
  heldMinor: bigint;
  holdNowMinor: bigint;
} {
  const already = p.toPayMinor > p.approvedMinor ? p.toPayMinor - p.approvedMinor : 0n;
  const wanted = p.disputeHoldMinor < 0n ? 0n : p.disputeHoldMinor;
  const total = wanted > already ? (wanted > p.toPayMinor ? p.toPayMinor : wanted) : already;
  return { heldMinor: total, holdNowMinor: total - already };
}

/** Sent with its payment reference: payouts_clearing → payouts_in_transit, dated the day it was sent. */
export function payoutSentJournal(
  p: PayoutRef,
  effectiveDate: string,
  metadata: Record<string, JsonValue> = {},
): Journal {
  const clearing = houseAccount('payouts_clearing', p.currency);
  const transit = houseAccount('payouts_in_transit', p.currency);
  return stepJournal(
    p,
    'sent',
    effectiveDate,
    [{ debit: clearing, credit: transit, currency: p.currency, amountMinor: p.amountMinor }],
    metadata,
  );
}

/** The outcome's journal (confirmed, partly paid, overpaid or failed), dated the day it was learnt. */
export function payoutOutcomeJournal(
  p: PayoutRef,
  o: PaymentOutcome,
  effectiveDate: string,
  metadata: Record<string, JsonValue> = {},
): Journal {
  const transit = houseAccount('payouts_in_transit', p.currency);
  const bank = houseAccount('bank', p.currency);
  const payable = partnerAccount(p.partnerId, 'fees_payable', p.currency);
  const post = (debit: typeof bank, credit: typeof bank, amountMinor: bigint): JournalPosting[] =>
    amountMinor > 0n ? [{ debit, credit, currency: p.currency, amountMinor }] : [];
  const inTransitPaid = o.state === 'confirmed' ? p.amountMinor : o.paidMinor;
  const postings = [
    ...post(transit, bank, inTransitPaid),
    ...post(transit, payable, o.remainderMinor),
    ...post(payable, bank, o.overpaidMinor),
  ];
  const step = o.state === 'confirmed' ? 'confirmed' : o.state === 'partly_paid' ? 'partly-paid' : 'failed';
  return stepJournal(p, step, effectiveDate, postings, {
    outcome: o.overpaidMinor > 0n ? 'overpaid' : o.state,
    paidMinor: o.paidMinor.toString(),
    ...metadata,
  });
}

/** A bank line's outcome against the payouts (see reconcileBankLine). */
export type BankLineOutcome =
  | 'confirmed'
  | 'partly_paid'
  | 'overpaid'
  | 'unmatched'
  | 'currency_mismatch'
  | 'not_sent'
  | 'already_settled'
  | 'unknown_currency'
  | 'not_a_payout';

/** The outcomes that are exceptions (a person looks at them): nothing moved in the ledger. */
export const BANK_LINE_EXCEPTIONS: readonly BankLineOutcome[] = [
  'unmatched',
  'currency_mismatch',
  'not_sent',
  'already_settled',
  'unknown_currency',
];

/**
 * One debit line of a bank statement against the payout its reference names (or none): what it
 * makes of it, and why in words. Credits are not payouts (money coming in) and are recorded as
 * such; a line in another currency, or for a payout not sent or already settled, is an
 * exception and moves nothing.
 */
export function reconcileBankLine(
  line: {
    creditDebit: 'CRDT' | 'DBIT';
    currency: string;
    amountMinor: bigint | null;
    reference: string | null;
  },
  payout: { state: PayoutState; currency: string; amountMinor: bigint } | null,
  format: (minor: bigint) => string,
): {
  outcome: BankLineOutcome;
  reason: string;
  payment: PaymentOutcome | null;
  differenceMinor: bigint | null;
} {
  const none = { payment: null, differenceMinor: null };
  if (line.creditDebit === 'CRDT')
    return { outcome: 'not_a_payout', reason: 'a credit (money in) is not a payout', ...none };
  if (line.amountMinor === null)
    return { outcome: 'unknown_currency', reason: `currency ${line.currency} is not known`, ...none };
  if (!payout)
    return {
      outcome: 'unmatched',
      reason: line.reference
        ? `no payout has the payment reference ${line.reference}`
        : 'the line carries no reference (EndToEndId or RmtInf/Ustrd)',
      ...none,
    };
  if (payout.currency !== line.currency)
    return {
      outcome: 'currency_mismatch',
      reason: `the payout is in ${payout.currency}, the bank line in ${line.currency}`,
      ...none,
    };
  if (payout.state === 'approved')
    return { outcome: 'not_sent', reason: 'the payout was not marked sent', ...none };
  if (payout.state !== 'sent')
    return {
      outcome: 'already_settled',
      reason: `the payout is ${payout.state} already: a second payment under its reference?`,
      differenceMinor: line.amountMinor,
      payment: null,
    };
  const payment = paymentOutcome(payout.amountMinor, line.amountMinor);
  const difference = line.amountMinor - payout.amountMinor;
  if (payment.state === 'partly_paid' || payment.state === 'failed')
    return {
      outcome: 'partly_paid',
      reason: `paid ${format(line.amountMinor)} of ${format(payout.amountMinor)}: the remainder ${format(-difference)} is carried to the next statement`,
      payment,
      differenceMinor: difference,
    };
  if (payment.overpaidMinor > 0n)
    return {
      outcome: 'overpaid',
      reason: `paid ${format(line.amountMinor)} for ${format(payout.amountMinor)}: the excess ${format(difference)} is owed back by the partner (next statement)`,
      payment,
      differenceMinor: difference,
    };
  return { outcome: 'confirmed', reason: 'paid exactly', payment, differenceMinor: 0n };
}
