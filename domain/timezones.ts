// The one time-zone rule of every component. A partner's zone is used by the API and the
// workers (Intl), by Postgres (business days: `AT TIME ZONE`) and by Temporal (the settlement
// Schedule: Go's time.LoadLocation). They disagree about the edges: Intl accepts any letter
// case, old names and ICU's own SystemV/* names; Postgres ignores case; Temporal wants a
// file name in its zoneinfo, case-sensitive. So only IANA's canonical names, spelt exactly, are
// accepted: names all three know (test/timezones.test.ts checks each one against the real
// Postgres, Intl and Temporal), stored in one spelling, and refused with the name to use.
// Pure: also loaded by workflow code (the onboarding Update validators).
import { z } from 'zod';
import { canonicalZones, tzdataVersion, zoneAliases } from './timezones-data';

export { tzdataVersion };

const EXAMPLE = 'Europe/Malta';

/**
 * Whether this process's Intl knows the zone. Node's ICU carries its own copy of tzdata: a
 * Node older than the table (say, one without America/Coyhaique, new in tz 2025b) would
 * accept the name here and then throw RangeError in a worker's report parser or a workflow's
 * operator-facing times. Such a name is refused instead, with the reason.
 */
function intlKnows(tz: string, listed: ReadonlySet<string>): boolean {
  // Intl lists ICU's canonical ids (Asia/Calcutta, not Asia/Kolkata): for the rest, ask.
  if (listed.has(tz)) return true;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

const intlListed = new Set(Intl.supportedValuesOf('timeZone'));

/** Every name the API accepts: the canonical table, less any zone this runtime's Intl lacks. */
export const acceptedTimezones: readonly string[] = canonicalZones.filter((tz) => intlKnows(tz, intlListed));

const accepted = new Set(acceptedTimezones);
const canonical = new Set(canonicalZones);
/** Lower-cased canonical names and aliases → the canonical name, to suggest a spelling. */
const byLowerCase = new Map<string, string>([
  ...Object.entries(zoneAliases).map(([alias, to]): [string, string] => [alias.toLowerCase(), to]),
  ...canonicalZones.map((tz): [string, string] => [tz.toLowerCase(), tz]),
]);

export type TimezoneVerdict =
  | { accepted: true }
  | {
      accepted: false;
      /**
       * case: a canonical name (or alias) in another spelling; alias: a name IANA keeps for
       * compatibility (a link, a System V name); unsupported: canonical, but this runtime's Intl
       * lacks it; unknown: not an IANA name at all.
       */
      kind: 'case' | 'alias' | 'unsupported' | 'unknown';
      /** The canonical name to use instead, when there is one. */
      suggestion: string | null;
      message: string;
    };

/** Whether a zone name is accepted and, when it is not, why and what to use instead. */
export function checkTimezone(tz: unknown): TimezoneVerdict {
  if (typeof tz !== 'string')
    return {
      accepted: false,
      kind: 'unknown',
      suggestion: null,
      message: `must be an IANA time zone name such as ${EXAMPLE}`,
    };
  if (accepted.has(tz)) return { accepted: true };
  if (canonical.has(tz))
    return {
      accepted: false,
      kind: 'unsupported',
      suggestion: null,
      message: `${tz} is missing from this server's time-zone data (older than IANA tz ${tzdataVersion}): update Node, or use a zone with the same clock`,
    };
  const alias = zoneAliases[tz];
  if (alias !== undefined)
    return {
      accepted: false,
      kind: 'alias',
      suggestion: alias,
      message:
        alias === 'UTC' ? `${tz} is another name for UTC: use UTC` : `${tz} is an old name: use ${alias}`,
    };
  const spelt = byLowerCase.get(tz.trim().toLowerCase());
  if (spelt !== undefined)
    return {
      accepted: false,
      kind: 'case',
      suggestion: spelt,
      message: `${JSON.stringify(tz)} is not spelt as IANA names it (names are case-sensitive): did you mean ${spelt}?`,
    };
  return {
    accepted: false,
    kind: 'unknown',
    suggestion: null,
    message: `${JSON.stringify(tz)} is not an IANA time zone such as ${EXAMPLE}`,
  };
}

/**
 * The schema of every time zone the API reads. An enum, so the OpenAPI document lists exactly
 * what is accepted (once, as the component `Timezone`); a refusal names the zone to use.
 */
export const timezoneSchema = z
  .enum(acceptedTimezones, {
    error: (issue) => {
      const verdict = checkTimezone(issue.input);
      return verdict.accepted ? undefined : verdict.message;
    },
  })
  .meta({
    id: 'Timezone',
    description:
      `An IANA time zone, spelt exactly as IANA names it today (case-sensitive; IANA tz ${tzdataVersion}): ` +
      'a place such as Europe/Malta or America/Sao_Paulo, an Etc/GMT±n offset, or UTC. Old names ' +
      '(Asia/Calcutta, US/Eastern) and System V names (EST5EDT) are refused with the name to use.',
    example: EXAMPLE,
  });
