import { actorKey } from './actors';
import { DECISION_SEAL_PROBLEM, MAX_SEAL_TTL_MS, sealOf } from './decisions';
import { formatAmount, parseAmount } from './money';
import { conflict, forbidden, invalid, type Refusal } from './refusals';
import type { StatementLineKey } from './statement';

/**
 * A partner's dispute of one line of a published statement, as a small state machine:
 *
 *   open ⇄ waiting_for_evidence → accepted | partly_accepted | rejected | expired
 *
 * An operator (role resolver) asks for evidence (open → waiting_for_evidence); the partner
 * provides it (→ open); an operator decides from either undecided state; at the deadline an
 * undecided dispute expires and the statement stands. Amounts are the line's fee in minor
 * units of the statement's currency; a change is signed, positive when owed to the partner.
 *
 * Pure and deterministic: the workflow, the activities and the API import it.
 */
export const disputeStates = [
  'open',
  'waiting_for_evidence',
  'accepted',
  'partly_accepted',
  'rejected',
  'expired',
] as const;
export type DisputeState = (typeof disputeStates)[number];
export const undecidedStates: readonly DisputeState[] = ['open', 'waiting_for_evidence'];
export const isUndecided = (s: DisputeState): boolean => undecidedStates.includes(s);

/** What an operator decides (the Update's and the API's word) and the state it leads to. */
export const disputeOutcomes = ['accept', 'accept_in_part', 'reject'] as const;
export type DisputeOutcome = (typeof disputeOutcomes)[number];
export const outcomeState: Record<DisputeOutcome, 'accepted' | 'partly_accepted' | 'rejected'> = {
  accept: 'accepted',
  accept_in_part: 'partly_accepted',
  reject: 'rejected',
};

// The SLA, from the moment the dispute is opened (its row's created_at).
export const DAY_MS = 86_400_000;
/** An undecided dispute expires this long after it was opened: the statement stands. */
export const DISPUTE_SLA_DAYS = 10;
/** Operators are reminded this often while a dispute waits. */
export const DISPUTE_REMINDER_EVERY_DAYS = 3;
/** After this many reminders the dispute is escalated (error log, details, search attribute). */
export const DISPUTE_ESCALATE_AFTER_REMINDERS = 2;

export const MAX_EVIDENCE_ITEMS = 20;
export const MAX_EVIDENCE_CHARS = 500;
export const MAX_REASON_CHARS = 2000;

/** A state change (or a step recorded in its history) and who may cause it. */
export type DisputeChange =
  | { kind: 'evidence_requested' }
  | { kind: 'evidence_provided' }
  | { kind: 'decided'; outcome: DisputeOutcome }
  | { kind: 'expired' };

/** The state a change leads to from `from`, or why it cannot happen now (a conflict). */
export function nextState(from: DisputeState, change: DisputeChange): DisputeState | Refusal {
  if (!isUndecided(from))
    return conflict(`the dispute is ${from.replace(/_/g, ' ')}: nothing more can change it`);
  switch (change.kind) {
    case 'evidence_requested':
      return from === 'open'
        ? 'waiting_for_evidence'
        : conflict('the dispute is already waiting for the partner’s evidence');
    case 'evidence_provided':
      return from === 'waiting_for_evidence'
        ? 'open'
        : conflict('no evidence was asked for: the dispute is open and waits for a decision');
    case 'decided':
      return outcomeState[change.outcome];
    case 'expired':
      return 'expired';
  }
}

export const isRefusal = (x: unknown): x is Refusal =>
  typeof x === 'object' && x !== null && 'kind' in x && 'message' in x;

/** The facts a dispute's process decides on (amounts as decimal strings of minor units). */
export interface DisputeFacts {
  id: string;
  partnerId: string;
  cycleId: string;
  statementVersion: number;
  line: StatementLineKey;
  currency: string;
  scale: number;
  statedMinor: string;
  claimedMinor: string;
  deadline: string;
  createdAt: string;
  state: DisputeState;
  remindersSent: number;
  escalated: boolean;
}

/** What the partner claims on top of (positive) or below (negative) the statement's line. */
export const claimedChangeMinor = (f: Pick<DisputeFacts, 'statedMinor' | 'claimedMinor'>): bigint =>
  BigInt(f.claimedMinor) - BigInt(f.statedMinor);

/**
 * What an undecided dispute holds back from the cycle's payout: what the partner itself says
 * it is not owed (stated − claimed when it claims less), never more. What it claims on top
 * waits for the decision and is paid through the restatement's next statement.
 */
export const holdMinor = (statedMinor: bigint, claimedMinor: bigint): bigint =>
  statedMinor > claimedMinor ? statedMinor - claimedMinor : 0n;

const text = (v: unknown): string | null => (typeof v === 'string' ? v.trim() : null);
const onlyKeys = (input: object, allowed: string[]): string | null =>
  Object.keys(input).find((k) => !allowed.includes(k)) ?? null;

/** The decision message (Update decideDispute, POST /v1/disputes/{id}/decision). */
export interface DecideDisputeInput {
  outcome: DisputeOutcome;
  /** accept_in_part only: the fee change granted, a signed decimal (same sign as the claim, smaller). */
  amount?: string;
  reason: string;
}
export interface RequestEvidenceInput {
  note: string;
}
export interface ProvideEvidenceInput {
  evidence: string[];
  note?: string;
}

/**
 * Why a decision must be refused (its shape, its amount against the claim, the state), or
 * null. The fee change of a full acceptance is the claim itself (claimed − stated); a partial
 * one grants a signed amount of the same sign, smaller than the claim and not zero.
 */
export function decisionProblem(
  f: Pick<DisputeFacts, 'statedMinor' | 'claimedMinor' | 'scale' | 'currency'>,
  state: DisputeState,
  input: unknown,
): Refusal | null {
  if (typeof input !== 'object' || input === null) return invalid('send {"outcome","reason","amount"?}');
  const extra = onlyKeys(input, ['outcome', 'amount', 'reason', 'operator']);
  if (extra) return invalid(`"${extra}" is not part of a dispute decision (outcome, amount, reason)`);
  const d = input as Record<string, unknown>;
  if (!disputeOutcomes.includes(d.outcome as DisputeOutcome))
    return invalid(`"outcome" must be one of ${disputeOutcomes.join(', ')}`);
  const reason = text(d.reason);
  if (!reason) return invalid('"reason" is required: say why (the partner reads it)');
  if (reason.length > MAX_REASON_CHARS) return invalid(`"reason" has at most ${MAX_REASON_CHARS} characters`);
  const claim = claimedChangeMinor(f);
  if (d.outcome === 'accept_in_part') {
    const parsed = parseAmount(d.amount, f.scale, { allowNegative: true, allowZero: false });
    if (!parsed.ok) return invalid(`"amount" ${parsed.message} (the fee change granted, in ${f.currency})`);
    const a = parsed.minor;
    if (a > 0n !== claim > 0n || (a > 0n ? a >= claim : a <= claim))
      return invalid(
        `"amount" must be between 0 and the claim of ${formatAmount(claim, f.scale)} ${f.currency}, both excluded (to grant it all, accept)`,
      );
  } else if (d.amount !== undefined)
    return invalid(
      `"amount" goes only with accept_in_part (accept grants the claim of ${formatAmount(claim, f.scale)})`,
    );
  const next = nextState(state, { kind: 'decided', outcome: d.outcome as DisputeOutcome });
  return isRefusal(next) ? next : null;
}

/** The fee change a valid decision grants (signed, minor units), or null for a rejection. */
export function decidedChangeMinor(
  f: Pick<DisputeFacts, 'statedMinor' | 'claimedMinor' | 'scale'>,
  d: DecideDisputeInput,
): bigint | null {
  if (d.outcome === 'reject') return null;
  if (d.outcome === 'accept') return claimedChangeMinor(f);
  const parsed = parseAmount(d.amount, f.scale, { allowNegative: true, allowZero: false });
  if (!parsed.ok) throw new Error(`decided amount: ${parsed.message}`);
  return parsed.minor;
}

export function evidenceRequestProblem(state: DisputeState, input: unknown): Refusal | null {
  if (typeof input !== 'object' || input === null) return invalid('send {"note"}');
  const extra = onlyKeys(input, ['note', 'operator']);
  if (extra) return invalid(`"${extra}" is not part of an evidence request (note)`);
  const note = text((input as { note?: unknown }).note);
  if (!note) return invalid('"note" is required: say what evidence the partner should send');
  if (note.length > MAX_REASON_CHARS) return invalid(`"note" has at most ${MAX_REASON_CHARS} characters`);
  const next = nextState(state, { kind: 'evidence_requested' });
  return isRefusal(next) ? next : null;
}

/** Evidence references: 1 to 20 non-blank strings of at most 500 characters. */
export function evidenceListProblem(evidence: unknown, field = 'evidence', min = 1): string | null {
  if (!Array.isArray(evidence)) return `"${field}" must be a list of references`;
  if (evidence.length < min || evidence.length > MAX_EVIDENCE_ITEMS)
    return `"${field}" holds ${min} to ${MAX_EVIDENCE_ITEMS} references`;
  for (const [i, e] of evidence.entries()) {
    const t = text(e);
    if (!t || t.length > MAX_EVIDENCE_CHARS)
      return `"${field}[${i}]" must be a non-blank reference of at most ${MAX_EVIDENCE_CHARS} characters`;
  }
  return null;
}

export function evidenceProblem(state: DisputeState, input: unknown): Refusal | null {
  if (typeof input !== 'object' || input === null) return invalid('send {"evidence": [...], "note"?}');
  const extra = onlyKeys(input, ['evidence', 'note']);
  if (extra) return invalid(`"${extra}" is not part of evidence (evidence, note)`);
  const e = input as { evidence?: unknown; note?: unknown };
  const listProblem = evidenceListProblem(e.evidence);
  if (listProblem) return invalid(listProblem);
  if (e.note !== undefined && (typeof e.note !== 'string' || e.note.length > MAX_REASON_CHARS))
    return invalid(`"note" is text of at most ${MAX_REASON_CHARS} characters`);
  const next = nextState(state, { kind: 'evidence_provided' });
  return isRefusal(next) ? next : null;
}

/** The actor key the API seals a partner's own messages with (its API key's principal). */
export const partnerActorKey = (partnerId: string): string => `partner:${partnerId}`;

/**
 * Why a partner's message (provideEvidence) must be refused for its seal: only the API seals
 * one, with the partner's own principal (`partner:<id>`, a system actor of Clearhouse's), for
 * this workflow and message, fresh and once. Operators' decisions use sealProblem instead.
 */
export function partnerSealProblem(
  input: unknown,
  expected: { namespace: string; workflowId: string; decision: string; partnerId: string },
  nowMs: number,
  usedNonces: ReadonlySet<string>,
): Refusal | null {
  const how = `the partner sends its evidence through POST /v1/disputes/{id}/evidence with its API key`;
  const problem =
    typeof input === 'object' && input !== null
      ? (input as { [DECISION_SEAL_PROBLEM]?: string })[DECISION_SEAL_PROBLEM]
      : undefined;
  if (problem) return forbidden(`the message's seal is refused (${problem}): ${how}`);
  const seal = sealOf(input);
  if (!seal) return forbidden(`evidence comes from the partner itself, sealed by Clearhouse: ${how}`);
  const t = seal.target;
  if (
    t.namespace !== expected.namespace ||
    t.workflowId !== expected.workflowId ||
    t.decision !== expected.decision
  )
    return forbidden(
      `this message was sealed for ${t.workflowId} ${t.decision}, not for ${expected.workflowId} ${expected.decision}`,
    );
  if (seal.expiresAt <= nowMs || seal.expiresAt - seal.issuedAt > MAX_SEAL_TTL_MS)
    return forbidden('the seal has expired: send the evidence again');
  if (usedNonces.has(seal.nonce))
    return forbidden('this sealed message was already used once (nonce): send a new one');
  if (actorKey(seal.actor) !== partnerActorKey(expected.partnerId))
    return forbidden(`only partner ${expected.partnerId} provides evidence for its dispute`);
  return null;
}
