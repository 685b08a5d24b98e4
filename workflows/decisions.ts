import { condition, workflowInfo } from '@temporalio/workflow';
import type { Decider } from '../domain/actors';
import { deciderOf, sealOf, sealProblem, type DecisionSeal } from '../domain/decisions';
import type { Refusal } from '../domain/refusals';

/**
 * A workflow's side of sealed decisions (domain/decisions.ts), one per run: the nonces already
 * used, and the time the run's own history proves. Validators ask `problem`; a handler's first
 * step is `accept`, which spends the seal's nonce and says who decided.
 *
 * Freshness is judged against workflow time taken from history, as every time this code reads
 * (the run's start, activity results, timers that fired, the issue time of seals Clearhouse
 * signed): a lower bound of the true time, the same on replay. A seal is refused once that
 * bound passes its expiry; one that expired since the workflow last learned the time is
 * accepted until it learns a later one — at most one reminder interval while exceptions wait
 * (its reminder timers), one SEAL_CLOCK_TICK_MS while a payout waits for approval
 * (`waitWithClock`), one reminder while an application waits — and still only once, only for
 * its workflow and decision, only with the role.
 */
/** While a workflow waits only for decisions, its clock for seals moves on this often. */
export const SEAL_CLOCK_TICK_MS = 30 * 60_000;

/** A nonce spent by an accepted decision, with its seal's expiry (null: unknown, kept). */
export interface SpentNonce {
  nonce: string;
  expiresAt: number | null;
}

export function decisionGuard() {
  const usedNonces = new Set<string>();
  /** When each spent nonce's seal expires: past it, the seal is refused as expired anyway. */
  const expiries = new Map<string, number>();
  let knownMs = workflowInfo().runStartTime.getTime();
  const target = (decision: string, role: string) => ({
    namespace: workflowInfo().namespace,
    workflowId: workflowInfo().workflowId,
    decision,
    role,
  });
  return {
    /** Learns a time the history proves (an instant, or an ISO string); earlier ones change nothing. */
    learn(at: number | string | null | undefined): void {
      const ms = typeof at === 'string' ? Date.parse(at) : at;
      if (typeof ms === 'number' && Number.isFinite(ms) && ms > knownMs) knownMs = ms;
    },
    /** The latest time the history proves. */
    knownTime: (): number => knownMs,
    /** What a run continued as new must carry on: the time proved so far and the nonces spent. */
    /** Only nonces whose seal has not expired yet are carried: an expired seal is refused anyway. */
    snapshot: (): { knownMs: number; nonces: SpentNonce[] } => ({
      knownMs,
      nonces: [...usedNonces]
        .filter((n) => (expiries.get(n) ?? Infinity) > knownMs)
        .map((nonce) => ({ nonce, expiresAt: expiries.get(nonce) ?? null })),
    }),
    /** Takes over a previous run's snapshot (its seals stay spent, its clock keeps its time). */
    restore(s: { knownMs: number; nonces: (SpentNonce | string)[] }): void {
      for (const n of s.nonces) {
        const spent = typeof n === 'string' ? { nonce: n, expiresAt: null } : n;
        usedNonces.add(spent.nonce);
        if (spent.expiresAt !== null) expiries.set(spent.nonce, spent.expiresAt);
      }
      if (s.knownMs > knownMs) knownMs = s.knownMs;
    },
    /**
     * Waits until `done`, with a timer every SEAL_CLOCK_TICK_MS that moves the clock on: a seal
     * used while the workflow waits is refused at most one tick after its expiry.
     */
    async waitWithClock(done: () => boolean): Promise<void> {
      for (;;) {
        const from = knownMs;
        if (
          await condition(done, SEAL_CLOCK_TICK_MS, { summary: 'clock for sealed decisions (every 30 min)' })
        )
          return;
        if (from + SEAL_CLOCK_TICK_MS > knownMs) knownMs = from + SEAL_CLOCK_TICK_MS;
      }
    },
    /** Why a decision must be refused for its seal, or null (validators: changes nothing). */
    problem: (input: unknown, decision: string, role: string): Refusal | null =>
      sealProblem(input, target(decision, role), knownMs, usedNonces),
    /**
     * A handler's first step: spends the seal's nonce, learns its issue time, and says who
     * decided (the sealed actor, or the typed name of a decision recorded before seals) with
     * what the audit trail records of it.
     */
    accept(input: { operator?: string }): {
      who: Decider;
      seal: DecisionSeal | null;
      audit: { operator: string; actor?: DecisionSeal['actor']; sealSource?: DecisionSeal['source'] };
    } {
      const seal = sealOf(input);
      const { actor, name } = deciderOf(input);
      // Only a verified seal, or a typed name of a decision recorded before seals, reaches here
      // (the validator refuses anything else). A history replayed without the key that sealed
      // one of its decisions must stop, not go on with an unknown decider.
      if (!seal && !name)
        throw new Error(
          'a recorded decision has no verified seal: is the key that sealed it missing from DECISION_SEAL_PUBLIC_KEYS?',
        );
      if (seal) {
        usedNonces.add(seal.nonce);
        expiries.set(seal.nonce, seal.expiresAt);
        this.learn(seal.issuedAt);
      }
      return {
        who: { actor, name },
        seal,
        audit: { operator: name, ...(seal ? { actor: seal.actor, sealSource: seal.source } : {}) },
      };
    },
  };
}
