import { parseCamt053, renderCamt053 } from './camt053';

const doc = renderCamt053({
  id: 'STMT-20261207',
  account: 'MT84MALT011000012345MTLCAST001S',
  createdAt: '2026-12-07T23:59:59Z',
  fromDate: '2026-12-07',
  toDate: '2026-12-07',
  entries: [
    {
      ref: 'E1',
      creditDebit: 'DBIT',
      amount: '100.10',
      currency: 'EUR',
      bookingDate: '2026-12-07',
      endToEndId: 'CH-0012',
    },
    {
      ref: 'E2',
      creditDebit: 'CRDT',
      amount: '5',
      currency: 'GBP',
      bookingDate: '2026-12-07',
      remittance: 'refund 7',
    },
  ],
});

describe('camt.053', () => {
  it('reads statement, lines, amounts as text, references and booking dates', () => {
    const [s] = parseCamt053(doc);
    expect(s).toMatchObject({
      id: 'STMT-20261207',
      account: 'MT84MALT011000012345MTLCAST001S',
      fromDate: '2026-12-07',
    });
    expect(s!.lines).toEqual([
      {
        lineRef: 'E1',
        ord: 1,
        creditDebit: 'DBIT',
        amount: '100.10',
        currency: 'EUR',
        bookingDate: '2026-12-07',
        reference: 'CH-0012',
        status: 'BOOK',
      },
      {
        lineRef: 'E2',
        ord: 2,
        creditDebit: 'CRDT',
        amount: '5',
        currency: 'GBP',
        bookingDate: '2026-12-07',
        reference: 'refund 7',
        status: 'BOOK',
      },
    ]);
  });
  it('reads a prefixed namespace and a batch booking as one line per transaction', () => {
    const xml = `<?xml version="1.0"?><c:Document xmlns:c="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"><c:BkToCstmrStmt>
      <c:Stmt><c:Id>S1</c:Id><c:Ntry><c:Amt Ccy="EUR">30.00</c:Amt><c:CdtDbtInd>DBIT</c:CdtDbtInd><c:AcctSvcrRef>B1</c:AcctSvcrRef>
      <c:BookgDt><c:DtTm>2026-12-07T10:00:00+01:00</c:DtTm></c:BookgDt>
      <c:NtryDtls><c:TxDtls><c:Refs><c:EndToEndId>A</c:EndToEndId></c:Refs><c:AmtDtls><c:TxAmt><c:Amt Ccy="EUR">10.00</c:Amt></c:TxAmt></c:AmtDtls></c:TxDtls>
      <c:TxDtls><c:Refs><c:EndToEndId>NOTPROVIDED</c:EndToEndId></c:Refs><c:Amt Ccy="EUR">20.00</c:Amt><c:RmtInf><c:Ustrd>B</c:Ustrd></c:RmtInf></c:TxDtls></c:NtryDtls>
      </c:Ntry></c:Stmt></c:BkToCstmrStmt></c:Document>`;
    const [s] = parseCamt053(xml);
    expect(s!.lines.map((l) => [l.lineRef, l.amount, l.reference, l.bookingDate])).toEqual([
      ['B1/1', '10.00', 'A', '2026-12-07'],
      ['B1/2', '20.00', 'B', '2026-12-07'],
    ]);
  });
  it('refuses what is not a camt.053, naming where', () => {
    expect(() => parseCamt053('<a>')).toThrow(/not well-formed/);
    expect(() => parseCamt053('<Document><Other/></Document>')).toThrow(/BankToCustomerStatement/);
    expect(() => parseCamt053(doc.replace('100.10', '-1'))).toThrow(/Ntry\[0\]\.Amt: not a positive amount/);
    expect(() => parseCamt053(doc.replace('<CdtDbtInd>DBIT', '<CdtDbtInd>X'))).toThrow(/CdtDbtInd/);
    expect(() => parseCamt053(doc.replace('<NtryRef>E2', '<NtryRef>E1'))).toThrow(/E1 appears twice/);
  });
  it('expands no entities', () => {
    const bomb = `<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]><Document><BkToCstmrStmt><Stmt><Id>&b;</Id></Stmt></BkToCstmrStmt></Document>`;
    const run = () => parseCamt053(bomb);
    // Either refused or read literally: never expanded.
    try {
      const [s] = run();
      expect(s!.id).not.toContain('aaaa');
    } catch (err) {
      expect(String(err)).toMatch(/camt\.053/);
    }
  });
});
