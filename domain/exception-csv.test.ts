import fc from 'fast-check';
import { parse } from 'csv-parse/sync';
import {
  CSV_COLUMNS,
  EXPORT_COLUMNS,
  MAX_IMPORT_LINES,
  canonicalImport,
  csvHeader,
  csvLine,
  exportLine,
  guardCell,
  readCsv,
  readImport,
  unguardCell,
  type ExportRow,
} from './exception-csv';

// Any text a cell may hold, with the characters CSV and spreadsheets treat specially made likely.
const cellText = fc.string({
  unit: fc.oneof(
    fc.constantFrom(',', '"', '\r', '\n', "'", '=', '+', '-', '@', '\t', ' ', 'a', '1', '.'),
    fc.string({ unit: 'grapheme', minLength: 1, maxLength: 1 }),
  ),
  maxLength: 30,
});

describe('the exceptions CSV', () => {
  it('reads back exactly what it writes, whatever the cells hold', () => {
    fc.assert(
      fc.property(fc.array(fc.array(cellText, { minLength: 1, maxLength: 6 }), { maxLength: 8 }), (rows) => {
        const text = rows.map((r) => csvLine(r)).join('');
        const read = readCsv(text);
        expect(read.ok).toBe(true);
        if (!read.ok) return;
        // Records of only empty cells are skipped (blank lines), every other one read as written.
        const kept = rows
          .map((cells, i) => ({ line: i + 1, cells }))
          .filter((r) => r.cells.some((c) => c !== ''));
        expect(read.records).toEqual(kept);
      }),
    );
  });

  it('writes what another RFC 4180 reader (csv-parse) reads alike', () => {
    fc.assert(
      fc.property(
        fc.array(fc.array(cellText, { minLength: 3, maxLength: 3 }), { minLength: 1, maxLength: 6 }),
        (rows) => {
          const text = rows.map((r) => csvLine(r)).join('');
          expect(parse(text, { relax_column_count: true, skip_empty_lines: false })).toEqual(rows);
        },
      ),
    );
  });

  it('guards formulas and un-guards exactly, leaving plain numbers in numeric columns alone', () => {
    fc.assert(fc.property(cellText, (v) => expect(unguardCell(guardCell(v))).toBe(v)));
    for (const v of ['=1+1', '+1', '-1', '@SUM(A1)', '\tx', '\rx', "'=x"]) expect(guardCell(v)).toBe(`'${v}`);
    expect(guardCell("'quoted")).toBe("'quoted");
    expect(guardCell('-550', 'difference_minor')).toBe('-550');
    expect(guardCell('-12.50', 'amount')).toBe('-12.50');
    expect(guardCell('-1+1', 'amount')).toBe("'-1+1");
    expect(guardCell('-550', 'detail')).toBe("'-550");
  });

  it('reads CRLF, LF, CR, a byte order mark and quoted line breaks; refuses broken quoting naming the line', () => {
    expect(readCsv('\ufeffa,b\r\n"x\r\ny",""""\n\nc,d\re,f')).toEqual({
      ok: true,
      records: [
        { line: 1, cells: ['a', 'b'] },
        { line: 2, cells: ['x\r\ny', '"'] },
        { line: 4, cells: ['c', 'd'] },
        { line: 5, cells: ['e', 'f'] },
      ],
    });
    expect(readCsv('a\nb"c\n')).toMatchObject({ ok: false, line: 2 });
    expect(readCsv('a\n"b"c\n')).toMatchObject({ ok: false, line: 2 });
    expect(readCsv('a\nb\n"never closed\n')).toMatchObject({ ok: false, line: 3 });
  });

  const row = (over: Partial<ExportRow> = {}): ExportRow => ({
    ...(Object.fromEntries(EXPORT_COLUMNS.map((c) => [c, ''])) as ExportRow),
    kind: 'missing_theirs',
    status: 'open',
    difference_minor: '-550',
    detail: 'we recorded it; the provider did not report it',
    ...over,
  });
  /** An export with its fill columns filled as given (by exception id). */
  function filled(lines: { id: string; detail?: string; fill?: [string, string, string] }[]): string {
    const read = (line: string) => {
      const r = readCsv(line);
      if (!r.ok) throw new Error(r.message);
      return r.records[0]!.cells;
    };
    return (
      csvHeader() +
      lines
        .map((l) => {
          const cells = read(
            exportLine(row({ exception_id: l.id, ...(l.detail ? { detail: l.detail } : {}) })),
          );
          if (l.fill) cells.splice(EXPORT_COLUMNS.length, 3, ...l.fill);
          return csvLine(cells);
        })
        .join('')
    );
  }

  it('takes the filled lines, un-guarded, amounts as the currency writes them', () => {
    const text = filled([
      { id: 'missing_theirs:a', fill: ['accept_ours', '', 'in our logs'] },
      { id: 'missing_theirs:b', detail: '=HYPERLINK("x")' },
      { id: 'missing_theirs:c', fill: ['adjust', '-1.5', "'=credit note 7"] },
      { id: 'missing_theirs:d', fill: [' write_off ', '', '  small  '] },
    ]);
    expect(text.split('\r\n')[0]).toBe(CSV_COLUMNS.join(','));
    expect(text).toContain(`"'=HYPERLINK(""x"")"`);
    expect(readImport(text, 2)).toEqual({
      ok: true,
      dataLines: 4,
      items: [
        { line: 2, exceptionId: 'missing_theirs:a', resolution: 'accept_ours', reason: 'in our logs' },
        {
          line: 4,
          exceptionId: 'missing_theirs:c',
          resolution: 'adjust',
          amount: '-1.50',
          reason: '=credit note 7',
        },
        { line: 5, exceptionId: 'missing_theirs:d', resolution: 'write_off', reason: 'small' },
      ],
    });
  });

  it('names every faulty line and its column, by the rules of a resolution message', () => {
    const text = filled([
      { id: 'e:1', fill: ['accept_ours', '', 'ok'] },
      { id: 'e:2', fill: ['adjust', '1.001', 'x'] },
      { id: 'e:3', fill: ['write_off', '5', 'x'] },
      { id: 'e:4', fill: ['accept_ours', '', '   '] },
      { id: 'e:5', fill: ['settle_it', '', 'x'] },
      { id: 'e:1', fill: ['write_off', '', 'again'] },
      { id: 'e:7', fill: ['', '', 'a reason without a resolution'] },
    ]);
    const read = readImport(text, 2);
    expect(read.ok).toBe(false);
    if (read.ok) return;
    expect(read.problems.map((p) => [p.line, p.path])).toEqual([
      [3, 'lines[3].new_amount'],
      [4, 'lines[4].new_amount'],
      [5, 'lines[5].new_reason'],
      [6, 'lines[6].new_resolution'],
      [7, 'lines[7].exception_id'],
      [8, 'lines[8].new_resolution'],
    ]);
    expect(read.problems[0]!.message).toBe('line 3: new_amount has more than 2 decimal places');
    expect(read.problems[4]!.message).toMatch(/e:1 appears twice \(also line 2\)/);
  });

  it('refuses a file without the columns, with nothing filled, or over the line limit', () => {
    expect(readImport('exception_id,kind\r\nx,y\r\n', 2)).toMatchObject({
      ok: false,
      problems: [
        { path: 'header', message: expect.stringMatching(/missing column\(s\): new_resolution/) as unknown },
      ],
    });
    expect(readImport(filled([{ id: 'e:1' }]), 2)).toMatchObject({
      ok: false,
      problems: [{ path: 'body', message: expect.stringMatching(/no line has new_resolution/) as unknown }],
    });
    const many = filled(Array.from({ length: MAX_IMPORT_LINES + 1 }, (_, i) => ({ id: `e:${i}` })));
    expect(readImport(many, 2)).toMatchObject({ ok: false, problems: [{ path: 'body' }] });
    const short = `${csvHeader()}e:1,missing_theirs\r\n`;
    expect(readImport(short, 2)).toMatchObject({ ok: false, problems: [{ path: 'lines[2]' }] });
  });

  it('identifies an import by its cycle and decisions, whatever their order or lines', () => {
    const a = { line: 2, exceptionId: 'e:1', resolution: 'accept_ours' as const, reason: 'x' };
    const b = { line: 3, exceptionId: 'e:2', resolution: 'adjust' as const, amount: '1.00', reason: 'y' };
    expect(canonicalImport('c', [a, b])).toBe(canonicalImport('c', [{ ...b, line: 9 }, a]));
    expect(canonicalImport('c', [a, b])).not.toBe(canonicalImport('d', [a, b]));
    expect(canonicalImport('c', [a, b])).not.toBe(canonicalImport('c', [a, { ...b, amount: '1.01' }]));
  });
});
