/**
 * Who did something, as Clearhouse verified it. An actor is an issuer and a subject: a person
 * signed in through an issuer (Clearhouse's own, or an OIDC provider), or a system principal
 * that Clearhouse itself vouches for (a partner's API key, a Schedule, a workflow, the
 * bootstrap administrator, later a rule version). Maker-checker and the audit trail compare and
 * record actors by `actorKey`, never by display name: "mallory" and "Mallory" with one subject
 * are one person, and two people both called "ana" are two.
 *
 * Pure and deterministic: workflows import it.
 */
export const CLEARHOUSE_ISSUER = 'clearhouse';

export type ActorKind = 'person' | 'system';

export interface Actor {
  /** The issuer that vouches for the subject (`iss` of a token; `clearhouse` for system principals). */
  issuer: string;
  /** Stable within its issuer (`sub` of a token); never shown as the name. */
  subject: string;
  /** How people read it (preferred_username, or the subject). Never compared. */
  name: string;
  kind: ActorKind;
  roles: string[];
}

/**
 * The one comparable form of an actor, as the audit trail's `actor` column stores it. System
 * principals of Clearhouse keep their plain subject (`partner:nova`, `schedule:…`,
 * `workflow:…`, `bootstrap-admin`); a person is `issuer#subject`. An OIDC issuer identifier
 * has no fragment (OpenID Connect Discovery §3), so the first `#` always splits the two.
 */
export function actorKey(a: Pick<Actor, 'issuer' | 'subject' | 'kind'>): string {
  return a.kind === 'system' && a.issuer === CLEARHOUSE_ISSUER ? a.subject : `${a.issuer}#${a.subject}`;
}

/**
 * The subject Clearhouse's own issuer mints for a name when none is given: the name's
 * compatibility form in lower case, so that one login typed in two cases is one subject.
 */
export function subjectForName(name: string): string {
  return name.normalize('NFKC').toLowerCase();
}

/**
 * Who made a decision: the actor key a seal verified, or (decisions recorded before seals, in
 * histories that still replay) no key and the typed name.
 */
export interface Decider {
  actor: string | null;
  name: string;
}

/**
 * Whether two deciders are one person. Two actor keys compare exactly (the subject decides, not
 * the name). The cut-over: a decision recorded with a typed name (no key) matches an actor or
 * another name whose display name is the same ignoring case and compatibility forms, so that a
 * cycle already waiting with one legacy approval cannot be completed by the same person sealed.
 */
export function samePerson(a: Decider, b: Decider): boolean {
  if (a.actor !== null && b.actor !== null) return a.actor === b.actor;
  const fold = (s: string) => s.normalize('NFKC').trim().toLowerCase();
  return fold(a.name) === fold(b.name);
}

/**
 * A decider stored as text (a submitter, an approver): an actor key `issuer#subject`, or (before
 * seals, and for system principals) a name. Names cannot contain `#` (operatorNameSchema).
 */
export function recordedDecider(s: string): Decider {
  const i = s.indexOf('#');
  return i > 0 ? { actor: s, name: s.slice(i + 1) } : { actor: null, name: s };
}
