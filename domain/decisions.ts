import { actorKey, type Actor } from './actors';
import { forbidden, invalid, type Refusal } from './refusals';

/**
 * A decision (an Update that moves money or admits a partner) is accepted only with a seal:
 * Clearhouse's Ed25519 signature over the decision together with its target (namespace,
 * workflow id, decision name), the verified actor, when it was sealed, until when it holds,
 * and a nonce. The API seals what it sends with the caller's token; the Temporal CLI and Web
 * UI get a seal from Clearhouse's codec endpoint (`/codec/encode`), which reads the person
 * from their token or session. Workers hold only public keys: their payload codec checks the
 * signature and marks the decision verified (or says why not); the workflow's validator then
 * checks target, freshness against workflow time (as its history proves it), the nonce and
 * the role.
 *
 * Pure and deterministic: workflows and the payload converter import it.
 */

/** How a seal travels in a history: the signed bytes and the signature, never a bare name. */
export const SEALED_DECISION_ENCODING = 'binary/clearhouse-sealed-decision';
/** What the workers' codec turns a seal it verified into (never accepted from outside). */
export const VERIFIED_DECISION_ENCODING = 'json/clearhouse-verified-decision';
/** What the workers' codec turns a seal it could not verify into, with the reason. */
export const REFUSED_DECISION_ENCODING = 'json/clearhouse-refused-decision';
/** The encodings only the workers' codec may produce: stripped from anything arriving with them. */
export const CODEC_ONLY_ENCODINGS = [VERIFIED_DECISION_ENCODING, REFUSED_DECISION_ENCODING] as const;

/**
 * Where the payload converter hangs the verified seal on a decision: a symbol, which no JSON
 * can spell, so that typed input cannot pose as sealed. `Symbol.for` so that every copy of
 * this module (workflow bundle, client) agrees.
 */
export const DECISION_SEAL = Symbol.for('clearhouse.decision.seal');
export const DECISION_SEAL_PROBLEM = Symbol.for('clearhouse.decision.sealProblem');

export const sealSources = ['api', 'temporal-ui', 'temporal-cli'] as const;
export type SealSource = (typeof sealSources)[number];

export interface DecisionTarget {
  namespace: string;
  workflowId: string;
  /** The Update's name: approvePayout, resolveException, decideApplication, provideInformation. */
  decision: string;
}

/** What a seal signs, besides the decision's own fields. */
export interface DecisionSeal {
  target: DecisionTarget;
  actor: Actor;
  /** Which path sealed it: the API (token), the Web UI (session cookie) or the CLI (token). */
  source: SealSource;
  /** Epoch milliseconds. */
  issuedAt: number;
  expiresAt: number;
  nonce: string;
  /** The signing key's id (kept for every key a history may replay with). */
  keyId: string;
}

/** The signed document: the decision's fields and the seal, as one JSON object. */
export interface SignedDecision {
  v: 1;
  decision: Record<string, unknown>;
  seal: DecisionSeal;
}

/** A decision as a workflow handler receives it: the fields, and the seal when one verified. */
export type Sealed<T> = T & { [DECISION_SEAL]?: DecisionSeal; [DECISION_SEAL_PROBLEM]?: string };

export function sealOf(input: unknown): DecisionSeal | null {
  if (typeof input !== 'object' || input === null) return null;
  return (input as { [DECISION_SEAL]?: DecisionSeal })[DECISION_SEAL] ?? null;
}

/** How long a seal holds unless the sealer is told otherwise: time to press Submit. */
export const DEFAULT_SEAL_TTL_MS = 10 * 60_000;
/** The longest a seal may hold, whatever the sealer says. */
export const MAX_SEAL_TTL_MS = 60 * 60_000;

/** How to send a decision properly: part of every refusal of an unsealed one. */
export function howToSeal(target: DecisionTarget): string {
  return (
    `send it through the Clearhouse API, or from the Temporal UI or CLI through Clearhouse's codec ` +
    `(signed in; CLI: --codec-endpoint <API>/codec --codec-auth "Bearer <operator token>") with ` +
    `"workflowId": "${target.workflowId}" and "update": "${target.decision}" in the JSON`
  );
}

/**
 * Why a decision must be refused for its seal, or null: no seal (typed JSON), a seal the
 * codec could not verify, a seal for another workflow, namespace or decision, one expired at
 * `nowMs` (the time the workflow's history proves: workflows/decisions.ts), one already used
 * (nonce), or an actor without the role.
 */
export function sealProblem(
  input: unknown,
  expected: DecisionTarget & { role: string },
  nowMs: number,
  usedNonces: ReadonlySet<string>,
): Refusal | null {
  const problem =
    typeof input === 'object' && input !== null
      ? (input as { [DECISION_SEAL_PROBLEM]?: string })[DECISION_SEAL_PROBLEM]
      : undefined;
  if (problem) return forbidden(`the decision's seal is refused (${problem}): ${howToSeal(expected)}`);
  const seal = sealOf(input);
  if (!seal)
    return forbidden(`a decision needs a verified identity; this one is not sealed: ${howToSeal(expected)}`);
  const t = seal.target;
  if (t.namespace !== expected.namespace || t.workflowId !== expected.workflowId)
    return forbidden(
      `this decision was sealed for ${t.namespace}/${t.workflowId}, not for ${expected.namespace}/${expected.workflowId}: seal it again for this workflow`,
    );
  if (t.decision !== expected.decision)
    return forbidden(
      `this seal is for ${t.decision}, not ${expected.decision}: seal it again for ${expected.decision}`,
    );
  if (seal.expiresAt <= nowMs || seal.expiresAt - seal.issuedAt > MAX_SEAL_TTL_MS)
    return forbidden('the seal has expired: send the decision again to have it sealed afresh');
  if (usedNonces.has(seal.nonce))
    return forbidden('this sealed decision was already used once (nonce): send a new one');
  if (seal.actor.kind !== 'person')
    return forbidden(
      `${seal.actor.name} is a system principal: decisions are made by people, signed in with their own token`,
    );
  if (!seal.actor.roles.includes(expected.role))
    return forbidden(`${seal.actor.name} does not hold the ${expected.role} role (${actorKey(seal.actor)})`);
  if (typeof input === 'object' && input !== null && 'operator' in input)
    return invalid('"operator" is no longer part of a decision: who decides comes from the seal');
  return null;
}

/** Who sent a decision: the actor its seal verified, or the typed name of a pre-seal history. */
export function deciderOf(input: { operator?: string }): {
  actor: string | null;
  name: string;
  source: string | null;
} {
  const seal = sealOf(input);
  return seal
    ? { actor: actorKey(seal.actor), name: seal.actor.name, source: seal.source }
    : { actor: null, name: (input.operator ?? '').trim(), source: null };
}
