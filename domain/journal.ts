// Postings as data. A journal is everything one step of a cycle posts to the ledger (the
// settlement of a period, its payout), computed once from the exact bigint figures, stored as
// it is (jsonb, amounts as decimal strings) and only then posted. The ledger entries are read
// back from what was stored, never rebuilt from formatted text, so what the statement says,
// what was stored and what was posted are one thing. Pure: no I/O, no clock.
import { createHash } from 'node:crypto';
import {
  gamingTaxAccount,
  writeOffAccounts,
  houseAccount,
  partnerAccount,
  type AccountKind,
  type AccountSpec,
  type PartnerAccountName,
} from './accounts';
import { ValidationError } from './errors';
import { formatAmount, MAX_MINOR } from './money';

export type JournalSourceKind = 'ingest_batch' | 'settlement' | 'adjustment' | 'reversal' | 'transfer';
const SOURCE_KINDS: readonly JournalSourceKind[] = [
  'ingest_batch',
  'settlement',
  'adjustment',
  'reversal',
  'transfer',
];

export type JsonValue = string | number | boolean | null | JsonValue[] | { [k: string]: JsonValue };

export interface JournalPosting {
  debit: AccountSpec;
  credit: AccountSpec;
  currency: string;
  /** Always positive: the direction is in debit and credit. */
  amountMinor: bigint;
}

export interface JournalEntry {
  /** The ledger entry's idempotency key. */
  key: string;
  effectiveDate: string;
  sourceKind: JournalSourceKind;
  /**
   * Posted with the entry as it is: which statement line it comes from (`line`, a path in
   * the statement JSON) and its sources (partner, exception, earlier settlements).
   */
  metadata: Record<string, JsonValue>;
  postings: JournalPosting[];
}

export interface Journal {
  /** Unique per journal: `<cycleId>:settlement`, `<cycleId>:payout`. */
  id: string;
  kind: 'settlement' | 'payout' | (string & {});
  /** The ledger entries' source_ref (the cycle id). */
  sourceRef: string;
  entries: JournalEntry[];
  /**
   * What the step that posts it records in the audit trail (with the entry ids), decided
   * when the journal was built so that posting needs nothing but the stored journal.
   */
  summary?: Record<string, JsonValue>;
}

export class JournalError extends ValidationError {}

// ---------------------------------------------------------------------------------------------
// Validation, encoding, digest.

const CURRENCY = /^[A-Z][A-Z0-9]{2,9}$/;
const ACCOUNT_CODE = /^[a-z0-9:_.-]{3,200}$|^[a-z0-9:_.-]+:[A-Z][A-Z0-9]{2,9}$/;
const DATE = /^\d{4}-\d{2}-\d{2}$/;
const KINDS: readonly AccountKind[] = ['asset', 'liability', 'equity', 'revenue', 'expense'];

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
const fail = (path: string, message: string): never => {
  throw new JournalError(`journal ${path}: ${message}`, [{ path, message }]);
};
const str = (v: unknown, path: string, max = 256): string =>
  typeof v === 'string' && v.length >= 1 && v.length <= max ? v : fail(path, `not a string of 1..${max}`);

function validDate(v: unknown, path: string): string {
  const s = str(v, path, 10);
  const d = new Date(`${s}T00:00:00Z`);
  if (!DATE.test(s) || Number.isNaN(d.getTime()) || d.toISOString().slice(0, 10) !== s)
    fail(path, `not a date (YYYY-MM-DD): ${s}`);
  return s;
}

function validAccount(v: unknown, currency: string, path: string): AccountSpec {
  if (!isObject(v)) return fail(path, 'not an account');
  const code = str(v.code, `${path}.code`, 200);
  if (!ACCOUNT_CODE.test(code)) fail(`${path}.code`, `not an account code: ${code}`);
  if (v.ownerKind !== 'house' && v.ownerKind !== 'partner') fail(`${path}.ownerKind`, 'house or partner');
  if (!KINDS.includes(v.kind as AccountKind)) fail(`${path}.kind`, `one of ${KINDS.join(', ')}`);
  if (v.currency !== currency) fail(`${path}.currency`, `the posting's currency ${currency}`);
  // The ledger's own rule (ledger_accounts CHECK): a partner's account names its partner.
  if (v.ownerKind === 'partner') {
    const partnerId = str(v.partnerId, `${path}.partnerId`, 200);
    if (!code.startsWith(`partner:${partnerId}:`)) fail(`${path}.code`, `not an account of ${partnerId}`);
  } else if (v.partnerId !== undefined) fail(`${path}.partnerId`, 'a house account has no partner');
  if (!code.endsWith(`:${currency}`)) fail(`${path}.code`, `not an account in ${currency}`);
  return {
    code,
    ownerKind: v.ownerKind as AccountSpec['ownerKind'],
    ...(v.ownerKind === 'partner' ? { partnerId: v.partnerId as string } : {}),
    kind: v.kind as AccountKind,
    currency,
  };
}

function validAmount(v: unknown, path: string): bigint {
  const s = typeof v === 'bigint' ? v.toString() : v;
  if (typeof s !== 'string' || !/^[1-9][0-9]{0,18}$/.test(s)) return fail(path, 'not a positive amount');
  const n = BigInt(s);
  if (n > MAX_MINOR) fail(path, 'larger than a ledger amount can be');
  return n;
}

function validJson(v: unknown, path: string, depth = 0): JsonValue {
  if (depth > 8) return fail(path, 'nested too deep');
  if (v === null || typeof v === 'string' || typeof v === 'boolean') return v;
  if (typeof v === 'number') return Number.isFinite(v) ? v : fail(path, 'not a finite number');
  if (Array.isArray(v)) return v.map((x, i) => validJson(x, `${path}.${i}`, depth + 1));
  if (isObject(v))
    return Object.fromEntries(
      Object.entries(v).map(([k, x]) => [k, validJson(x, `${path}.${k}`, depth + 1)]),
    );
  return fail(path, `not JSON (${typeof v})`);
}

/**
 * Checks a journal (built here or read back from storage) against the ledger's rules, so that
 * a journal that stores also posts: keys unique and 1..256 characters, dates, positive amounts,
 * both accounts in the posting's currency and distinct, at least one posting per entry.
 * Amounts may arrive as bigint (built) or as decimal strings (stored).
 */
function validJournal(v: unknown): Journal {
  if (!isObject(v)) return fail('', 'not an object');
  const id = str(v.id, 'id');
  const kind = str(v.kind, 'kind', 64);
  const sourceRef = str(v.sourceRef, 'sourceRef');
  if (!Array.isArray(v.entries)) return fail('entries', 'not a list');
  const keys = new Set<string>();
  const entries = v.entries.map((e: unknown, i): JournalEntry => {
    const at = `entries.${i}`;
    if (!isObject(e)) return fail(at, 'not an entry');
    const key = str(e.key, `${at}.key`);
    if (keys.has(key)) fail(`${at}.key`, `${key} appears twice`);
    keys.add(key);
    if (!SOURCE_KINDS.includes(e.sourceKind as JournalSourceKind))
      fail(`${at}.sourceKind`, `one of ${SOURCE_KINDS.join(', ')}`);
    // A reversal needs the entry it reverses, which a journal (computed before anything is
    // posted) cannot name: corrections are adjusting entries (see diffJournals).
    if (e.sourceKind === 'reversal') fail(`${at}.sourceKind`, 'a journal posts no reversals');
    if (!isObject(e.metadata)) return fail(`${at}.metadata`, 'not an object');
    if (!Array.isArray(e.postings) || e.postings.length === 0) return fail(`${at}.postings`, 'none');
    if (e.postings.length > 1000) fail(`${at}.postings`, 'more than 1000');
    return {
      key,
      effectiveDate: validDate(e.effectiveDate, `${at}.effectiveDate`),
      sourceKind: e.sourceKind as JournalSourceKind,
      metadata: validJson(e.metadata, `${at}.metadata`) as Record<string, JsonValue>,
      postings: e.postings.map((p: unknown, j): JournalPosting => {
        const pat = `${at}.postings.${j}`;
        if (!isObject(p)) return fail(pat, 'not a posting');
        const currency = str(p.currency, `${pat}.currency`, 10);
        if (!CURRENCY.test(currency)) fail(`${pat}.currency`, `not a currency: ${currency}`);
        const debit = validAccount(p.debit, currency, `${pat}.debit`);
        const credit = validAccount(p.credit, currency, `${pat}.credit`);
        if (debit.code === credit.code) fail(pat, `debits and credits the same account ${debit.code}`);
        return { debit, credit, currency, amountMinor: validAmount(p.amountMinor, `${pat}.amountMinor`) };
      }),
    };
  });
  const summary = v.summary === undefined ? undefined : validJson(v.summary, 'summary');
  if (summary !== undefined && !isObject(summary)) fail('summary', 'not an object');
  // An empty summary is none (stored as '{}'): one form, one digest.
  const hasSummary = isObject(summary) && Object.keys(summary).length > 0;
  return {
    id,
    kind,
    sourceRef,
    entries,
    ...(hasSummary ? { summary } : {}),
  };
}

/** The stored form (jsonb): the same journal with every amount as a decimal string. */
export interface EncodedJournal {
  journalVersion: 1;
  id: string;
  kind: string;
  sourceRef: string;
  entries: (Omit<JournalEntry, 'postings'> & {
    postings: (Omit<JournalPosting, 'amountMinor'> & { amountMinor: string })[];
  })[];
  summary?: Record<string, JsonValue>;
}

/** The journal as stored (jsonb): checked first, so that nothing unpostable is ever stored. */
export function encodeJournal(journal: Journal): EncodedJournal {
  const j = validJournal(journal);
  return {
    journalVersion: 1,
    id: j.id,
    kind: j.kind,
    sourceRef: j.sourceRef,
    entries: j.entries.map((e) => ({
      ...e,
      postings: e.postings.map((p) => ({ ...p, amountMinor: p.amountMinor.toString() })),
    })),
    ...(j.summary === undefined ? {} : { summary: j.summary }),
  };
}

/** Reads a stored journal back, checking it as encodeJournal did (JournalError when it fails). */
export function decodeJournal(stored: unknown): Journal {
  if (!isObject(stored)) return fail('', 'not an object');
  if (stored.journalVersion !== 1) fail('journalVersion', `unknown version ${String(stored.journalVersion)}`);
  const { journalVersion: _v, ...rest } = stored;
  for (const e of Array.isArray(rest.entries) ? (rest.entries as unknown[]) : [])
    for (const p of isObject(e) && Array.isArray(e.postings) ? (e.postings as unknown[]) : [])
      if (isObject(p) && typeof p.amountMinor !== 'string')
        fail('entries', 'stored amounts are decimal strings');
  return validJournal(rest);
}

/** JSON with object keys sorted at every level: the same text whatever order jsonb keeps. */
function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (isObject(v))
    return `{${Object.keys(v)
      .filter((k) => v[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson(v[k])}`)
      .join(',')}}`;
  return JSON.stringify(v);
}

/**
 * The journal's content in one hash (sha256, hex) over its canonical encoding: the same
 * journal gives the same digest whether just built or read back from jsonb (which reorders
 * keys), so storing it twice can tell "the same" from "a different one under the same id".
 */
export function journalDigest(journal: Journal): string {
  return createHash('sha256')
    .update(canonicalJson(encodeJournal(journal)))
    .digest('hex');
}

/** Every account the journal's postings use, once each, in the order they first appear. */
export function journalAccounts(journal: Journal): AccountSpec[] {
  const out = new Map<string, AccountSpec>();
  for (const e of journal.entries)
    for (const p of e.postings) {
      if (!out.has(p.debit.code)) out.set(p.debit.code, p.debit);
      if (!out.has(p.credit.code)) out.set(p.credit.code, p.credit);
    }
  return [...out.values()];
}

// ---------------------------------------------------------------------------------------------
// Restatement.

interface PairNet {
  lo: AccountSpec;
  hi: AccountSpec;
  currency: string;
  /** Positive: debit lo, credit hi; negative: the reverse. */
  net: bigint;
}

/** What an entry moves, per account pair and currency, netted in one direction. */
function netByPair(e: JournalEntry | undefined, sign: 1n | -1n, into: Map<string, PairNet>) {
  for (const p of e?.postings ?? []) {
    const forward = p.debit.code < p.credit.code;
    const [lo, hi] = forward ? [p.debit, p.credit] : [p.credit, p.debit];
    const k = `${p.currency}|${lo.code}|${hi.code}`;
    const cur = into.get(k) ?? { lo, hi, currency: p.currency, net: 0n };
    cur.net += sign * (forward ? p.amountMinor : -p.amountMinor);
    into.set(k, cur);
  }
}

/**
 * What to post to go from `before` to `after` (a restatement): per entry key, per account
 * pair and currency, the difference of what each moves, as postings in the direction that
 * corrects it. Keys only in `before` are undone in full, keys only in `after` posted in full,
 * keys that move the same money yield nothing. Each result entry keeps the key it corrects
 * (and says so in `metadata.restates`): the caller gives it a key of its own (e.g.
 * `<restatement id>:<key>`) before posting, since the original key is posted already. The
 * entries are adjusting entries dated as the entry they correct, in `after`'s order, then
 * the removed ones in `before`'s; postings in the order of their account codes.
 */
export function diffJournals(before: Journal, after: Journal): JournalEntry[] {
  const was = new Map(before.entries.map((e) => [e.key, e]));
  const now = new Map(after.entries.map((e) => [e.key, e]));
  const keys = [
    ...after.entries.map((e) => e.key),
    ...before.entries.map((e) => e.key).filter((k) => !now.has(k)),
  ];
  const out: JournalEntry[] = [];
  for (const key of keys) {
    const nets = new Map<string, PairNet>();
    netByPair(now.get(key), 1n, nets);
    netByPair(was.get(key), -1n, nets);
    const postings = [...nets.entries()]
      .filter(([, n]) => n.net !== 0n)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([, n]) =>
        n.net > 0n
          ? { debit: n.lo, credit: n.hi, currency: n.currency, amountMinor: n.net }
          : { debit: n.hi, credit: n.lo, currency: n.currency, amountMinor: -n.net },
      );
    if (postings.length === 0) continue;
    const source = (now.get(key) ?? was.get(key))!;
    out.push({
      key,
      effectiveDate: source.effectiveDate,
      sourceKind: 'adjustment',
      metadata: { ...source.metadata, restates: key },
      postings,
    });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// The settlement's journals.

/** The id of a cycle's settlement journal (everything it posts but the payout). */
export const settlementJournalId = (cycleId: string) => `${cycleId}:settlement`;
/** The id of a cycle's payout journal. */
export const payoutJournalId = (cycleId: string) => `${cycleId}:payout`;

/** The cycle a journal posts for. */
export interface JournalCycle {
  cycleId: string;
  partnerId: string;
  /** The settlement currency: every posting is in it. */
  currency: string;
  periodStart: string;
  periodEnd: string;
}

/** The figures of a settled period that move money, exact (see domain/statement.ts settle). */
export interface SettlementFigures {
  /** Scale of the settlement currency, for the amounts the metadata shows as text. */
  scale: number;
  /** Resolutions whose entry moves something (`ledgerMinor` ≠ 0), in the statement's order. */
  resolutionEffects: { exceptionId: string; ledgerMinor: bigint; covers?: unknown[] }[];
  /** Write-offs to named accounts (memo), per account; absent in journals built before them. */
  writeOffs?: { account: string; amountMinor: bigint; covers: unknown[] }[];
  carriedIn: { fromSettlementId: string; amountMinor: bigint }[];
  carriedOutMinor: bigint;
  /** Null when the contract levies no gaming tax. */
  gamingTax: { jurisdiction: string; amountMinor: bigint } | null;
  grossFeeMinor: bigint;
  taxWithheldMinor: bigint;
  netPayableMinor: bigint;
}

/**
 * The entries a settled period posts, under keys derived from the cycle (the statement lists
 * them, ledgerEntryKeys): each resolution that moves GGR (game activity ↔ gaming revenue, so
 * that the ledger's GGR is the statement's), the carry claimed and the carry left (memo
 * accounts: their balance is what later periods still have to absorb), the gaming tax (gaming
 * revenue → the jurisdiction's payable), and the fee (expense → payable, and tax withheld).
 * Signed figures become a posting in one direction or the other, never a negative amount.
 */
export function settlementJournal(cycle: JournalCycle, f: SettlementFigures): Journal {
  const acct = (name: PartnerAccountName) => partnerAccount(cycle.partnerId, name, cycle.currency);
  const fmt = (m: bigint) => formatAmount(m, f.scale);
  // A signed amount between two accounts: positive debits `up`, negative credits it.
  const signed = (up: AccountSpec, down: AccountSpec, m: bigint): JournalPosting =>
    m > 0n
      ? { debit: up, credit: down, currency: cycle.currency, amountMinor: m }
      : { debit: down, credit: up, currency: cycle.currency, amountMinor: -m };
  const entry = (
    suffix: string,
    sourceKind: JournalSourceKind,
    metadata: Record<string, JsonValue>,
    postings: JournalPosting[],
  ): JournalEntry => ({
    key: `${cycle.cycleId}:${suffix}`,
    effectiveDate: cycle.periodEnd,
    sourceKind,
    metadata: { partnerId: cycle.partnerId, ...metadata },
    postings,
  });

  const entries: JournalEntry[] = [];
  for (const e of f.resolutionEffects) {
    if (e.ledgerMinor === 0n) continue;
    entries.push(
      entry(
        `resolution:${e.exceptionId}`,
        'adjustment',
        e.covers
          ? // A rule's or a bulk's decisions in one entry: journal_entry_exceptions names each one.
            {
              line: 'revenue.resolutions',
              group: e.exceptionId,
              covers: e.covers.length,
              ggrEffectMinor: e.ledgerMinor.toString(),
            }
          : {
              line: 'revenue.resolutions',
              exceptionId: e.exceptionId,
              ggrEffectMinor: e.ledgerMinor.toString(),
            },
        // More GGR: game play owes the operator more; less: the reverse.
        [signed(acct('game_activity'), acct('gaming_revenue'), e.ledgerMinor)],
      ),
    );
  }
  // What was written off to a named account, in GGR terms: memo entries (the period settles on
  // our figure), one per account, linked to the exceptions it covers (journal_entry_exceptions).
  for (const w of f.writeOffs ?? []) {
    const { account, offset } = writeOffAccounts(cycle.partnerId, w.account, cycle.currency);
    entries.push(
      entry(
        `write-off:${w.account}`,
        'adjustment',
        {
          line: 'writtenOff',
          account: w.account,
          covers: w.covers.length,
          writtenOffMinor: w.amountMinor.toString(),
        },
        [signed(account, offset, w.amountMinor)],
      ),
    );
  }
  // The carry account's balance is the base still to be absorbed by later periods.
  const carriedInMinor = f.carriedIn.reduce((s, c) => s + c.amountMinor, 0n);
  if (carriedInMinor !== 0n)
    entries.push(
      entry(
        'carry-in',
        'settlement',
        {
          line: 'base.carriedIn',
          carriedInMinor: carriedInMinor.toString(),
          fromSettlementIds: f.carriedIn.map((c) => c.fromSettlementId),
        },
        [signed(acct('carry_forward_offset'), acct('carry_forward'), carriedInMinor)],
      ),
    );
  if (f.carriedOutMinor !== 0n)
    entries.push(
      entry(
        'carry-out',
        'settlement',
        { line: 'base.carriedOut', carriedOutMinor: f.carriedOutMinor.toString() },
        [signed(acct('carry_forward'), acct('carry_forward_offset'), f.carriedOutMinor)],
      ),
    );
  // Negative when a later period of the month lowered the month's tax: a refund.
  if (f.gamingTax && f.gamingTax.amountMinor !== 0n)
    entries.push(
      entry(
        'gaming-tax',
        'settlement',
        {
          line: 'revenue.gamingTax',
          jurisdiction: f.gamingTax.jurisdiction,
          gamingTax: fmt(f.gamingTax.amountMinor),
        },
        [
          signed(
            acct('gaming_tax'),
            gamingTaxAccount(f.gamingTax.jurisdiction, cycle.currency),
            f.gamingTax.amountMinor,
          ),
        ],
      ),
    );
  // A negative fee (a whole-volume tier step-down or a guarantee true-up) is a credit note: it
  // reduces what the partner is owed (fees payable may turn into a receivable).
  const feePostings = [
    ...(f.netPayableMinor !== 0n
      ? [signed(acct('provider_fees'), acct('fees_payable'), f.netPayableMinor)]
      : []),
    ...(f.taxWithheldMinor !== 0n
      ? [signed(acct('provider_fees'), acct('tax_withheld'), f.taxWithheldMinor)]
      : []),
  ];
  if (feePostings.length > 0)
    entries.push(
      entry(
        'fees',
        'settlement',
        {
          line: 'grossFee',
          periodStart: cycle.periodStart,
          periodEnd: cycle.periodEnd,
          grossFee: fmt(f.grossFeeMinor),
          taxWithheld: fmt(f.taxWithheldMinor),
          netPayable: fmt(f.netPayableMinor),
        },
        feePostings,
      ),
    );
  return {
    id: settlementJournalId(cycle.cycleId),
    kind: 'settlement',
    sourceRef: cycle.cycleId,
    entries,
    summary: { netPayable: fmt(f.netPayableMinor), currency: cycle.currency },
  };
}

/**
 * The payout of an approved cycle: fees payable → payouts clearing, once. Nothing to post
 * when nothing is owed (a zero or negative net payable): the journal then has no entries.
 */
export function payoutJournal(
  cycle: Pick<JournalCycle, 'cycleId' | 'partnerId' | 'currency' | 'periodEnd'>,
  amountMinor: bigint,
  approvers: string[],
): Journal {
  return {
    id: payoutJournalId(cycle.cycleId),
    kind: 'payout',
    sourceRef: cycle.cycleId,
    entries:
      amountMinor > 0n
        ? [
            {
              key: `${cycle.cycleId}:payout`,
              effectiveDate: cycle.periodEnd,
              sourceKind: 'settlement',
              metadata: { line: 'netPayable', approvers: [...approvers] },
              postings: [
                {
                  debit: partnerAccount(cycle.partnerId, 'fees_payable', cycle.currency),
                  credit: houseAccount('payouts_clearing', cycle.currency),
                  currency: cycle.currency,
                  amountMinor,
                },
              ],
            },
          ]
        : [],
    summary: { amountMinor: amountMinor.toString(), currency: cycle.currency, approvers: [...approvers] },
  };
}
