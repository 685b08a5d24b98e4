// ISO 20022 camt.053 (BankToCustomerStatement), the subset a payout reconciliation reads: per
// statement (Stmt) its Id, account and dates; per entry (Ntry) its reference (NtryRef, else
// AcctSvcrRef), amount with currency (Amt Ccy), credit or debit (CdtDbtInd), booking date
// (BookgDt/Dt or DtTm) and the payment's own reference (NtryDtls/TxDtls/Refs/EndToEndId, else
// RmtInf/Ustrd). An entry booking several transactions (batch booking, several TxDtls) gives one
// line per transaction, with its own amount. Any version of the message (camt.053.001.02 to .13)
// reads the same: namespaces are ignored. Pure: text in, lines out, or a ValidationError naming
// where the document is wrong.
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { ValidationError } from './errors';

export interface Camt053Line {
  /** Unique within its statement: NtryRef, else AcctSvcrRef, else the entry's position; `/n` per transaction of a batch. */
  lineRef: string;
  /** 1-based, in document order. */
  ord: number;
  creditDebit: 'CRDT' | 'DBIT';
  /** The decimal text as the bank wrote it. */
  amount: string;
  currency: string;
  bookingDate: string | null;
  /** EndToEndId (unless NOTPROVIDED), else the unstructured remittance text; null when neither. */
  reference: string | null;
  /** Entry status (BOOK, PDNG, INFO); only booked entries are reconciled. */
  status: string | null;
}

export interface Camt053Statement {
  id: string;
  account: string | null;
  createdAt: string | null;
  fromDate: string | null;
  toDate: string | null;
  lines: Camt053Line[];
}

type Node = Record<string, unknown>;
const ARRAYS = new Set(['Stmt', 'Ntry', 'TxDtls', 'NtryDtls', 'Ustrd']);

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@',
  removeNSPrefix: true,
  // Text stays text: "100.10" is not 100.1, a reference "0012" keeps its zeros.
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: true,
  // No DOCTYPE entities at all: a bank statement has none, and none can expand.
  processEntities: false,
  isArray: (name) => ARRAYS.has(name),
});

const isNode = (v: unknown): v is Node => typeof v === 'object' && v !== null && !Array.isArray(v);
const fail = (path: string, message: string): never => {
  throw new ValidationError(`camt.053 ${path}: ${message}`, [{ path, message }]);
};

/** The text of an element (with or without attributes), or null. */
function text(v: unknown): string | null {
  if (typeof v === 'string') return v.trim() === '' ? null : v.trim();
  if (isNode(v) && typeof v['#text'] === 'string') return text(v['#text']);
  return null;
}
function at(node: unknown, ...path: string[]): unknown {
  let cur: unknown = node;
  for (const p of path) {
    if (Array.isArray(cur)) cur = cur[0];
    if (!isNode(cur)) return undefined;
    cur = cur[p];
  }
  return Array.isArray(cur) ? cur[0] : cur;
}
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : v === undefined ? [] : [v]);

const AMOUNT = /^(0|[1-9][0-9]{0,17})(\.[0-9]{1,18})?$/;
const CURRENCY = /^[A-Z][A-Z0-9]{2,9}$/;

function amountOf(v: unknown, path: string): { amount: string; currency: string } {
  const amount = text(v);
  if (amount === null) return fail(path, 'missing');
  if (!AMOUNT.test(amount) || /^0(\.0+)?$/.test(amount)) fail(path, `not a positive amount: ${amount}`);
  const currency = isNode(v) ? v['@Ccy'] : undefined;
  if (typeof currency !== 'string' || !CURRENCY.test(currency))
    fail(`${path}@Ccy`, 'missing or not a currency');
  return { amount, currency: currency as string };
}

function dateOf(v: unknown): string | null {
  const d = text(at(v, 'Dt')) ?? text(at(v, 'DtTm'));
  return d && /^\d{4}-\d{2}-\d{2}/.test(d) ? d.slice(0, 10) : null;
}

function referenceOf(tx: unknown): string | null {
  const e2e = text(at(tx, 'Refs', 'EndToEndId'));
  if (e2e && e2e.toUpperCase() !== 'NOTPROVIDED') return e2e;
  const ustrd = list(at(tx, 'RmtInf') && (at(tx, 'RmtInf') as Node).Ustrd)
    .map(text)
    .filter((s): s is string => s !== null);
  return ustrd.length > 0 ? ustrd.join(' ').slice(0, 140) : null;
}

/** The statements of one camt.053 document (usually one). */
export function parseCamt053(xml: string): Camt053Statement[] {
  if (xml.trim() === '') fail('document', 'empty');
  const valid = XMLValidator.validate(xml);
  if (valid !== true) fail('document', `not well-formed XML: ${valid.err.msg} (line ${valid.err.line})`);
  const doc: unknown = parser.parse(xml);
  const root = at(doc, 'Document', 'BkToCstmrStmt');
  if (!isNode(root)) return fail('Document.BkToCstmrStmt', 'not a camt.053 BankToCustomerStatement');
  const stmts = list(root.Stmt);
  if (stmts.length === 0) fail('Document.BkToCstmrStmt.Stmt', 'no statement');
  const ids = new Set<string>();
  return stmts.map((stmt, s) => {
    const where = `Stmt[${s}]`;
    const id = text(at(stmt, 'Id')) ?? fail(`${where}.Id`, 'missing');
    if (id.length > 35) fail(`${where}.Id`, 'longer than 35 characters');
    if (ids.has(id)) fail(`${where}.Id`, `${id} appears twice`);
    ids.add(id);
    const lines: Camt053Line[] = [];
    const refs = new Set<string>();
    list((stmt as Node).Ntry).forEach((ntry, n) => {
      const w = `${where}.Ntry[${n}]`;
      const ind = text(at(ntry, 'CdtDbtInd'));
      if (ind !== 'CRDT' && ind !== 'DBIT') fail(`${w}.CdtDbtInd`, 'CRDT or DBIT');
      const total = amountOf(at(ntry, 'Amt'), `${w}.Amt`);
      const base = text(at(ntry, 'NtryRef')) ?? text(at(ntry, 'AcctSvcrRef')) ?? `#${n + 1}`;
      if (base.length > 70) fail(`${w}.NtryRef`, 'longer than 70 characters');
      if (refs.has(base)) fail(`${w}.NtryRef`, `${base} appears twice in the statement`);
      refs.add(base);
      const status = text(at(ntry, 'Sts', 'Cd')) ?? text(at(ntry, 'Sts'));
      const bookingDate = dateOf(at(ntry, 'BookgDt'));
      const txs = list(at(ntry, 'NtryDtls') && (at(ntry, 'NtryDtls') as Node).TxDtls);
      const line = (tx: unknown, suffix: string, amt: { amount: string; currency: string }) =>
        lines.push({
          lineRef: `${base}${suffix}`,
          ord: lines.length + 1,
          creditDebit: ind as 'CRDT' | 'DBIT',
          amount: amt.amount,
          currency: amt.currency,
          bookingDate,
          reference: referenceOf(tx),
          status,
        });
      if (txs.length <= 1) line(txs[0], '', total);
      else
        txs.forEach((tx, t) => {
          const own = at(tx, 'Amt') ?? at(tx, 'AmtDtls', 'TxAmt', 'Amt');
          line(
            tx,
            `/${t + 1}`,
            own === undefined
              ? fail(`${w}.NtryDtls.TxDtls[${t}].Amt`, 'missing')
              : amountOf(own, `${w}.NtryDtls.TxDtls[${t}].Amt`),
          );
        });
    });
    return {
      id,
      account: text(at(stmt, 'Acct', 'Id', 'IBAN')) ?? text(at(stmt, 'Acct', 'Id', 'Othr', 'Id')),
      createdAt: text(at(stmt, 'CreDtTm')),
      fromDate: text(at(stmt, 'FrToDt', 'FrDtTm'))?.slice(0, 10) ?? null,
      toDate: text(at(stmt, 'FrToDt', 'ToDtTm'))?.slice(0, 10) ?? null,
      lines,
    };
  });
}

const esc = (s: string) =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** A camt.053.001.08 document of one statement (the simulated bank's, and tests'). */
export function renderCamt053(s: {
  id: string;
  account: string;
  createdAt: string;
  fromDate: string;
  toDate: string;
  entries: {
    ref: string;
    creditDebit: 'CRDT' | 'DBIT';
    amount: string;
    currency: string;
    bookingDate: string;
    endToEndId?: string;
    remittance?: string;
  }[];
}): string {
  const entries = s.entries
    .map(
      (e) => `      <Ntry>
        <NtryRef>${esc(e.ref)}</NtryRef>
        <Amt Ccy="${esc(e.currency)}">${esc(e.amount)}</Amt>
        <CdtDbtInd>${e.creditDebit}</CdtDbtInd>
        <Sts><Cd>BOOK</Cd></Sts>
        <BookgDt><Dt>${esc(e.bookingDate)}</Dt></BookgDt>
        <ValDt><Dt>${esc(e.bookingDate)}</Dt></ValDt>
        <AcctSvcrRef>${esc(e.ref)}</AcctSvcrRef>
        <BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>${e.creditDebit === 'DBIT' ? 'ICDT' : 'RCDT'}</Cd><SubFmlyCd>ESCT</SubFmlyCd></Fmly></Domn></BkTxCd>
        <NtryDtls>
          <TxDtls>
            <Refs><EndToEndId>${esc(e.endToEndId ?? 'NOTPROVIDED')}</EndToEndId></Refs>
            <Amt Ccy="${esc(e.currency)}">${esc(e.amount)}</Amt>${
              e.remittance ? `\n            <RmtInf><Ustrd>${esc(e.remittance)}</Ustrd></RmtInf>` : ''
            }
          </TxDtls>
        </NtryDtls>
      </Ntry>`,
    )
    .join('\n');
  return `<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08">
  <BkToCstmrStmt>
    <GrpHdr>
      <MsgId>${esc(s.id)}</MsgId>
      <CreDtTm>${esc(s.createdAt)}</CreDtTm>
    </GrpHdr>
    <Stmt>
      <Id>${esc(s.id)}</Id>
      <CreDtTm>${esc(s.createdAt)}</CreDtTm>
      <FrToDt><FrDtTm>${esc(s.fromDate)}T00:00:00Z</FrDtTm><ToDtTm>${esc(s.toDate)}T23:59:59Z</ToDtTm></FrToDt>
      <Acct><Id><IBAN>${esc(s.account)}</IBAN></Id></Acct>
${entries}
    </Stmt>
  </BkToCstmrStmt>
</Document>
`;
}
