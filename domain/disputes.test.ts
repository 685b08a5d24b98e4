import { DECISION_SEAL, DECISION_SEAL_PROBLEM, type DecisionSeal } from './decisions';
import {
  claimedChangeMinor,
  decidedChangeMinor,
  decisionProblem,
  disputeStates,
  evidenceProblem,
  evidenceRequestProblem,
  holdMinor,
  isRefusal,
  nextState,
  partnerSealProblem,
  type DisputeState,
} from './disputes';

// The dispute's state machine and its messages' rules, without Temporal or Postgres.
const facts = { statedMinor: '100000', claimedMinor: '125000', scale: 2, currency: 'EUR' };
const lower = { ...facts, claimedMinor: '80000' };

describe('nextState', () => {
  it('moves open ⇄ waiting_for_evidence, and from either to a decision or expiry', () => {
    expect(nextState('open', { kind: 'evidence_requested' })).toBe('waiting_for_evidence');
    expect(nextState('waiting_for_evidence', { kind: 'evidence_provided' })).toBe('open');
    for (const from of ['open', 'waiting_for_evidence'] as const) {
      expect(nextState(from, { kind: 'decided', outcome: 'accept' })).toBe('accepted');
      expect(nextState(from, { kind: 'decided', outcome: 'accept_in_part' })).toBe('partly_accepted');
      expect(nextState(from, { kind: 'decided', outcome: 'reject' })).toBe('rejected');
      expect(nextState(from, { kind: 'expired' })).toBe('expired');
    }
  });

  it('refuses what the state does not allow, as a conflict naming the state', () => {
    expect(nextState('waiting_for_evidence', { kind: 'evidence_requested' })).toMatchObject({
      kind: 'conflict',
    });
    expect(nextState('open', { kind: 'evidence_provided' })).toMatchObject({ kind: 'conflict' });
    const ended: DisputeState[] = ['accepted', 'partly_accepted', 'rejected', 'expired'];
    for (const from of ended)
      for (const change of [
        { kind: 'evidence_requested' },
        { kind: 'evidence_provided' },
        { kind: 'decided', outcome: 'accept' },
        { kind: 'expired' },
      ] as const) {
        const r = nextState(from, change);
        expect(isRefusal(r) && r.kind === 'conflict' && r.message.includes(from.replace(/_/g, ' '))).toBe(
          true,
        );
      }
    expect(disputeStates).toHaveLength(6);
  });
});

describe('decisions', () => {
  it('grants the claim in full, a smaller amount of the same sign in part, nothing on rejection', () => {
    expect(claimedChangeMinor(facts)).toBe(25000n);
    expect(decidedChangeMinor(facts, { outcome: 'accept', reason: 'x' })).toBe(25000n);
    expect(decidedChangeMinor(facts, { outcome: 'accept_in_part', amount: '120.00', reason: 'x' })).toBe(
      12000n,
    );
    expect(decidedChangeMinor(facts, { outcome: 'reject', reason: 'x' })).toBeNull();
    expect(decidedChangeMinor(lower, { outcome: 'accept', reason: 'x' })).toBe(-20000n);
  });

  it('refuses a partial amount of the wrong sign, zero, the whole claim or more, or too many decimals', () => {
    const problem = (amount: string, f = facts) =>
      decisionProblem(f, 'open', { outcome: 'accept_in_part', amount, reason: 'part' });
    expect(problem('120.00')).toBeNull();
    expect(problem('-50.00', lower)).toBeNull();
    for (const bad of ['250.00', '300.00', '-1.00', '0.00', '1.005'])
      expect(problem(bad)).toMatchObject({ kind: 'invalid' });
    expect(problem('-200.00', lower)).toMatchObject({ kind: 'invalid' });
    expect(problem('10.00', lower)).toMatchObject({ kind: 'invalid' });
    expect(problem('250.00')!.message).toContain('between 0 and the claim of 250.00 EUR');
  });

  it('needs an outcome and a reason; an amount only in part; no decision once decided or expired', () => {
    expect(decisionProblem(facts, 'open', { outcome: 'approve', reason: 'x' })).toMatchObject({
      kind: 'invalid',
    });
    expect(decisionProblem(facts, 'open', { outcome: 'reject', reason: '  ' })!.message).toContain(
      '"reason"',
    );
    expect(
      decisionProblem(facts, 'open', { outcome: 'accept', amount: '1.00', reason: 'x' })!.message,
    ).toContain('accept_in_part');
    expect(decisionProblem(facts, 'open', { outcome: 'accept', reason: 'x', extra: 1 })).toMatchObject({
      kind: 'invalid',
    });
    expect(
      decisionProblem(facts, 'waiting_for_evidence', { outcome: 'reject', reason: 'no evidence' }),
    ).toBeNull();
    expect(decisionProblem(facts, 'expired', { outcome: 'accept', reason: 'x' })).toMatchObject({
      kind: 'conflict',
    });
    expect(decisionProblem(facts, 'rejected', { outcome: 'accept', reason: 'x' })).toMatchObject({
      kind: 'conflict',
    });
  });
});

describe('evidence', () => {
  it('asks with a note, only while open', () => {
    expect(evidenceRequestProblem('open', { note: 'send the amendment' })).toBeNull();
    expect(evidenceRequestProblem('open', { note: ' ' })).toMatchObject({ kind: 'invalid' });
    expect(evidenceRequestProblem('waiting_for_evidence', { note: 'again' })).toMatchObject({
      kind: 'conflict',
    });
  });
  it('takes 1 to 20 non-blank references, only while waiting for them', () => {
    expect(evidenceProblem('waiting_for_evidence', { evidence: ['a.pdf'] })).toBeNull();
    expect(evidenceProblem('waiting_for_evidence', { evidence: [] })).toMatchObject({ kind: 'invalid' });
    expect(evidenceProblem('waiting_for_evidence', { evidence: Array(21).fill('x') })).toMatchObject({
      kind: 'invalid',
    });
    expect(evidenceProblem('waiting_for_evidence', { evidence: ['ok', ' '] })!.message).toContain(
      'evidence[1]',
    );
    expect(evidenceProblem('open', { evidence: ['a.pdf'] })).toMatchObject({ kind: 'conflict' });
  });
});

describe('the payout hold', () => {
  it('holds what the partner says it is not owed, never what it claims on top', () => {
    expect(holdMinor(100000n, 80000n)).toBe(20000n);
    expect(holdMinor(100000n, 125000n)).toBe(0n);
    expect(holdMinor(-500n, -800n)).toBe(300n);
  });
});

describe("a partner's sealed evidence", () => {
  const target = {
    namespace: 'default',
    workflowId: 'dispute:dsp-1',
    decision: 'provideEvidence',
    partnerId: 'nova',
  };
  const seal = (over: Partial<DecisionSeal> = {}): DecisionSeal => ({
    target: { namespace: 'default', workflowId: 'dispute:dsp-1', decision: 'provideEvidence' },
    actor: {
      issuer: 'clearhouse',
      subject: 'partner:nova',
      name: 'nova',
      kind: 'system',
      roles: ['partner'],
    },
    source: 'api',
    issuedAt: 1_000,
    expiresAt: 600_000,
    nonce: 'n1',
    keyId: 'k',
    ...over,
  });
  const sealed = (s: DecisionSeal) => ({ evidence: ['a'], [DECISION_SEAL]: s });
  it("is accepted from the dispute's own partner, fresh and once", () => {
    expect(partnerSealProblem(sealed(seal()), target, 2_000, new Set())).toBeNull();
    expect(partnerSealProblem(sealed(seal()), target, 2_000, new Set(['n1']))).toMatchObject({
      kind: 'forbidden',
    });
    expect(partnerSealProblem(sealed(seal()), target, 700_000, new Set())!.message).toContain('expired');
  });
  it('is refused unsealed, from another partner, an operator, or for another workflow', () => {
    expect(partnerSealProblem({ evidence: ['a'] }, target, 2_000, new Set())!.message).toContain(
      'POST /v1/disputes',
    );
    expect(
      partnerSealProblem({ [DECISION_SEAL_PROBLEM]: 'bad signature' }, target, 2_000, new Set()),
    ).toMatchObject({
      kind: 'forbidden',
    });
    const other = seal({ actor: { ...seal().actor, subject: 'partner:acme' } });
    expect(partnerSealProblem(sealed(other), target, 2_000, new Set())!.message).toContain(
      'only partner nova',
    );
    const person = seal({
      actor: { issuer: 'clearhouse', subject: 'ana', name: 'ana', kind: 'person', roles: ['resolver'] },
    });
    expect(partnerSealProblem(sealed(person), target, 2_000, new Set())).toMatchObject({ kind: 'forbidden' });
    const elsewhere = seal({ target: { ...seal().target, workflowId: 'dispute:dsp-2' } });
    expect(partnerSealProblem(sealed(elsewhere), target, 2_000, new Set())).toMatchObject({
      kind: 'forbidden',
    });
  });
});
