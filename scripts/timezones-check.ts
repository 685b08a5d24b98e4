import type pg from 'pg';
import { createPool } from '../db/pool';
import { canonicalZones } from '../domain/timezones-data';
import { acceptedTimezones, checkTimezone, tzdataVersion } from '../domain/timezones';
import { loadConfigOrExit } from '../platform/config';
import { postgresLoadsTimezone, postgresTimezoneNames, storedTimezones } from '../db/timezones';

// `npm run timezones:check`: the stored time zones against the one rule (domain/timezones.ts),
// and that rule against this database. Reports
// - every partner, and every provider connection's `options.timezone`, whose zone the API
//   would refuse today (an old name, another spelling, a System V name, an unknown name), with
//   the canonical zone to use, and whether this Postgres can load it at all (if not, every
//   ingest batch of that partner is refused);
// - every zone the API accepts that this Postgres lacks (pg_timezone_names, exact spelling).
// Nothing is rewritten: a zone decides a partner's business days, so changing one is an
// operator's decision. Exit code 0 when all agree, 2 when anything is reported.

export interface StoredZoneFinding {
  /** "partner <id>" or "provider connection of <id>". */
  where: string;
  timezone: string;
  problem: string;
  /** The canonical zone to store instead, when there is one. */
  suggestion: string | null;
  /** Whether this Postgres can load the zone (`AT TIME ZONE`) as it is stored. */
  postgresLoads: boolean;
}

export interface TimezoneReport {
  ok: boolean;
  tzdata: string;
  checked: { partners: number; providerConnections: number };
  stored: StoredZoneFinding[];
  /** Zones the API accepts that this Postgres does not list. */
  missingInPostgres: string[];
  /** Canonical zones this process's Intl lacks (refused by the API, so reported for information). */
  missingInIntl: string[];
}

export async function checkStoredTimezones(db: pg.Pool): Promise<TimezoneReport> {
  const { partners, connections } = await storedTimezones(db);
  const stored: StoredZoneFinding[] = [];
  const note = async (where: string, timezone: string) => {
    const verdict = checkTimezone(timezone);
    if (verdict.accepted) return;
    stored.push({
      where,
      timezone,
      problem: verdict.message,
      suggestion: verdict.suggestion,
      postgresLoads: await postgresLoadsTimezone(db, timezone),
    });
  };
  for (const p of partners) await note(`partner ${p.id}`, p.timezone);
  for (const c of connections) await note(`provider connection of ${c.partnerId}`, c.timezone);

  const inPostgres = await postgresTimezoneNames(db);
  const missingInPostgres = acceptedTimezones.filter((tz) => !inPostgres.has(tz));
  const accepted = new Set(acceptedTimezones);
  return {
    ok: stored.length === 0 && missingInPostgres.length === 0,
    tzdata: tzdataVersion,
    checked: { partners: partners.length, providerConnections: connections.length },
    stored,
    missingInPostgres,
    missingInIntl: canonicalZones.filter((tz) => !accepted.has(tz)),
  };
}

function print(report: TimezoneReport): void {
  const out = (line: string) => process.stdout.write(`${line}\n`);
  for (const f of report.stored) {
    const fix = f.suggestion ? `; store ${f.suggestion}` : '; choose its zone with the partner';
    const broken = f.postgresLoads ? '' : ' (this database cannot load it: every ingest batch is refused)';
    out(`${f.where}: ${f.problem}${fix}${broken}`);
  }
  if (report.missingInPostgres.length > 0)
    out(
      `this database lacks ${report.missingInPostgres.length} zone(s) the API accepts (update its tz data): ` +
        report.missingInPostgres.join(', '),
    );
  if (report.missingInIntl.length > 0)
    out(
      `this Node's Intl lacks ${report.missingInIntl.length} zone(s) of IANA tz ${report.tzdata}, refused by the API until Node is updated: ` +
        report.missingInIntl.join(', '),
    );
  out(
    report.ok
      ? `time zones agree: ${report.checked.partners} partner(s), ${report.checked.providerConnections} provider connection(s), IANA tz ${report.tzdata}`
      : `TIME ZONES TO FIX: ${report.stored.length} stored zone(s) the API refuses, ${report.missingInPostgres.length} accepted zone(s) this database lacks`,
  );
  out(JSON.stringify(report));
}

async function main(): Promise<void> {
  const config = loadConfigOrExit();
  const db = createPool(config, { max: 2 });
  try {
    const report = await checkStoredTimezones(db);
    print(report);
    process.exitCode = report.ok ? 0 : 2;
  } finally {
    await db.end();
  }
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`timezones:check failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
