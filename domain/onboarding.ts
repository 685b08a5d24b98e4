import { recordedDecider, samePerson, type Decider } from './actors';
import { conflict, forbidden, invalid, type Refusal } from './refusals';
// A partner application and the rules of its review: the due-diligence findings, the risk
// score with its reasons, and what the decideApplication Update validator accepts. Pure and
// synchronous: the validators run inside workflow code.
import { z } from 'zod';
import type { ContractTermsJson } from './contract';
import {
  currencyCodeSchema,
  partnerIdSchema,
  partnerKinds,
  timezoneSchema,
  type NewPartner,
} from './partner';
import { nonBlankText } from './text';

export const applicationStatuses = [
  /** Company registry, licences and sanctions being checked. */
  'Checking',
  /** Waiting for operators to approve, reject or ask for information. */
  'AwaitingDecision',
  /** Waiting for the applicant's answer to an operator's question. */
  'AwaitingInformation',
  /** Approved: partner, contract, accounts, credentials, connectivity test, Schedule. */
  'Activating',
  /** The connectivity test kept failing: back to the operators with the error. */
  'ConnectivityFailed',
  'Active',
  'Rejected',
  /** No decision (or no answer) within the expiry: closed; the partner may apply again. */
  'Expired',
  /** Stopped by a data error; the id may be used again. */
  'Failed',
] as const;
export type ApplicationStatus = (typeof applicationStatuses)[number];

export const contactRoles = ['finance', 'technical', 'compliance', 'commercial'] as const;

const text = nonBlankText;

/** The applicant's business details: who they are, where they are licensed, whom to reach. */
/**
 * An e-mail address in the form zod checks (a practical subset of RFC 5322: no quoted local
 * parts, no IP-literal domains). The pattern is published with it, so the OpenAPI document
 * says exactly which addresses are accepted, not just "format: email".
 */
const contactEmail = z.email().max(254).meta({ pattern: z.regexes.email.source });

export const applicantDetailsSchema = z
  .object({
    company: z
      .object({
        legalName: text(200),
        registrationNumber: z
          .string()
          .regex(/^[A-Za-z0-9][A-Za-z0-9 ./-]{0,49}$/, 'letters, digits, spaces and . / - (at most 50)'),
        country: z.string().regex(/^[A-Z]{2}$/, 'an ISO 3166 country code such as MT'),
      })
      .strict(),
    licences: z
      .array(
        z
          .object({
            jurisdiction: z
              .string()
              .regex(/^[A-Z]{2}(-[A-Z0-9]{1,3})?$/, 'an ISO 3166 code such as MT or GB'),
            number: z
              .string()
              .regex(/^[A-Za-z0-9][A-Za-z0-9 ./-]{0,49}$/, 'letters, digits, spaces and . / -'),
          })
          .strict(),
      )
      .max(20),
    contacts: z
      .array(z.object({ name: text(200), email: contactEmail, role: z.enum(contactRoles) }).strict())
      .min(1)
      .max(20),
  })
  .strict();
export type ApplicantDetails = z.infer<typeof applicantDetailsSchema>;

export const partnerProfileSchema = z
  .object({
    partnerId: partnerIdSchema,
    name: text(200),
    kind: z.enum(partnerKinds),
    timezone: timezoneSchema,
    settlementCurrency: currencyCodeSchema,
  })
  .strict();

/** A provider connection as the workflow carries it: its credential already sealed by the API. */
export interface SealedConnectionInput {
  format: string;
  baseUrl: string;
  options: Record<string, unknown>;
  credentials: { header: string; sealed: string } | null;
}

export interface PartnerApplication {
  partner: NewPartner;
  details: ApplicantDetails;
  webhookUrl: string | null;
  providerConnection: SealedConnectionInput | null;
  contract: { effectiveFrom: string; terms: ContractTermsJson } | null;
}

// ---- Due diligence ---------------------------------------------------------------------

export interface DueDiligence {
  registry:
    | {
        outcome: 'checked';
        found: boolean;
        status: 'active' | 'dissolved' | null;
        registeredName: string | null;
      }
    | { outcome: 'unavailable'; error: string };
  licences:
    | {
        outcome: 'checked';
        results: { jurisdiction: string; number: string; status: 'valid' | 'expired' | 'unknown' }[];
      }
    | { outcome: 'unavailable'; error: string };
  sanctions:
    | { outcome: 'checked'; matches: { name: string; list: string; score: number }[] }
    | { outcome: 'unavailable'; error: string };
}

export type RiskLevel = 'low' | 'medium' | 'high';
export interface RiskAssessment {
  score: number;
  level: RiskLevel;
  reasons: string[];
  /** A confirmed sanctions match: no one may approve. */
  blocked: boolean;
}

/** A sanctions screening score at or above this is a confirmed match. */
export const CONFIRMED_MATCH = 0.9;
/** Between this and CONFIRMED_MATCH a match is possible and needs a person's look. */
export const POSSIBLE_MATCH = 0.7;

/** The risk score and every reason that raised it, from the due-diligence findings. */
export function assessRisk(kind: NewPartner['kind'], d: DueDiligence): RiskAssessment {
  const reasons: string[] = [];
  let score = 10;
  const add = (points: number, why: string) => {
    score += points;
    reasons.push(`+${points} ${why}`);
  };
  if (d.registry.outcome === 'unavailable')
    add(50, `company registry could not be checked (${d.registry.error})`);
  else if (!d.registry.found) add(60, 'company not found in the registry');
  else if (d.registry.status === 'dissolved') add(80, 'company is dissolved in the registry');
  if (d.licences.outcome === 'unavailable') add(40, `licences could not be checked (${d.licences.error})`);
  else {
    if (kind !== 'affiliate' && d.licences.results.length === 0) add(20, 'no gaming licence declared');
    for (const l of d.licences.results)
      if (l.status !== 'valid') add(30, `licence ${l.jurisdiction} ${l.number} is ${l.status}`);
  }
  let blocked = false;
  if (d.sanctions.outcome === 'unavailable')
    add(50, `sanctions screening could not run (${d.sanctions.error})`);
  else
    for (const m of d.sanctions.matches) {
      if (m.score >= CONFIRMED_MATCH) {
        blocked = true;
        add(100, `sanctions match: ${m.name} on ${m.list} (score ${m.score})`);
      } else if (m.score >= POSSIBLE_MATCH)
        add(40, `possible sanctions match: ${m.name} on ${m.list} (score ${m.score})`);
    }
  if (reasons.length === 0) reasons.push('registry, licences and sanctions screening all clear');
  const level: RiskLevel = score >= 70 ? 'high' : score >= 30 ? 'medium' : 'low';
  return { score, level, reasons, blocked };
}

/** Approvals an application needs at its risk level: high risk needs two different approvers. */
export function approvalsNeeded(level: RiskLevel): number {
  return level === 'high' ? 2 : 1;
}

// ---- Operators' decisions --------------------------------------------------------------

export const applicationDecisions = ['approve', 'reject', 'request_info'] as const;
export type ApplicationDecision = (typeof applicationDecisions)[number];

/** The one JSON object the Temporal UI (or the API) sends to decide an application. */
export interface DecideApplicationInput {
  decision: ApplicationDecision;
  reason: string;
  operator: string;
}

/** What the applicant sends back after request_info: any part of its details, replaced whole. */
export interface ProvideInformationInput {
  details?: Partial<ApplicantDetails>;
  note: string;
  /** Only in decisions recorded before seals: who decides now comes from the seal. */
  operator?: string;
}

const MAX_TEXT = 500;
const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** Why a decideApplication Update must be refused, or null. Messages show in the Temporal UI. */
export function decisionProblem(
  state: {
    status: ApplicationStatus;
    submittedBy: string;
    approvals: string[];
    risk: RiskAssessment | null;
  },
  input: unknown,
  who: Decider,
): Refusal | null {
  if (state.status !== 'AwaitingDecision' && state.status !== 'ConnectivityFailed')
    return conflict(`the application is not waiting for a decision (now ${state.status})`);
  if (!isObject(input))
    return invalid('send one JSON object: {"decision": "approve|reject|request_info", "reason"}');
  const { decision, reason } = input;
  if (typeof decision !== 'string' || !(applicationDecisions as readonly string[]).includes(decision))
    return invalid(`decision must be one of ${applicationDecisions.join(', ')}`);
  if (typeof reason !== 'string' || reason.trim().length === 0) return invalid('reason is required: say why');
  if (reason.length > MAX_TEXT) return invalid(`reason is limited to ${MAX_TEXT} characters`);
  if (decision === 'approve') {
    if (state.risk?.blocked)
      return conflict('cannot approve: a confirmed sanctions match blocks this application; reject it');
    if (samePerson(recordedDecider(state.submittedBy), who))
      return forbidden(`${who.name} submitted this application: a maker cannot approve it (maker-checker)`);
    if (
      state.status === 'AwaitingDecision' &&
      state.approvals.some((a) => samePerson(recordedDecider(a), who))
    )
      return forbidden(`${who.name} already approved: a second, different approver must approve (high risk)`);
  }
  if (decision === 'request_info' && state.status === 'ConnectivityFailed')
    return conflict('the checks are done: fix the connection and approve to test it again, or reject');
  return null;
}

/** Why a provideInformation Update must be refused, or null. */
export function informationProblem(status: ApplicationStatus, input: unknown): Refusal | null {
  if (status !== 'AwaitingInformation')
    return conflict(`the application is not waiting for information (now ${status})`);
  if (!isObject(input)) return invalid('send one JSON object: {"details"?, "note"}');
  if (typeof input.note !== 'string' || input.note.trim().length === 0 || input.note.length > MAX_TEXT)
    return invalid(`note is required (at most ${MAX_TEXT} characters): what was provided`);
  if (input.details !== undefined) {
    const parsed = applicantDetailsSchema.partial().safeParse(input.details);
    if (!parsed.success) {
      const i = parsed.error.issues[0]!;
      return invalid(`details.${i.path.join('.')}: ${i.message}`);
    }
  }
  return null;
}
