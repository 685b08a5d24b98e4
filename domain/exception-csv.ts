// A cycle's exceptions as a CSV file an operator opens in a spreadsheet, fills and uploads back
// (GET /v1/settlements/{id}/exceptions.csv, POST /v1/settlements/{id}/exceptions/import). Pure:
// the columns, the formula guard, an RFC 4180 writer and reader, and the reading of an upload
// into resolutions checked by the same rules as a resolution message (resolutionMessageProblem).
import { resolutionMessageProblem } from './exception-book';
import { formatAmount, parseAmount } from './money';
import { resolutions, type Resolution } from './settlement';

/** The most bytes an upload may have (a 413 above): 5,000 lines of long reasons fit. */
export const MAX_IMPORT_BYTES = 2 * 1024 * 1024;
/** The most data lines (filled or not) an upload may have: larger books are imported in parts. */
export const MAX_IMPORT_LINES = 5_000;
/** The most problems one 422 lists (the first ones, in line order). */
export const MAX_IMPORT_PROBLEMS = 100;

/** What the export says of each exception, in this order. */
export const EXPORT_COLUMNS = [
  'exception_id',
  'kind',
  'status',
  'tx_id',
  'business_date',
  'game_id',
  'currency',
  'ours_minor',
  'theirs_minor',
  'difference_minor',
  'detail',
  'suggestion',
  'evidence',
  'resolution',
  'amount',
  'reason',
  'resolved_by',
] as const;
/** The columns the operator fills; what the import reads, with exception_id. */
export const FILL_COLUMNS = ['new_resolution', 'new_amount', 'new_reason'] as const;
export const CSV_COLUMNS = [...EXPORT_COLUMNS, ...FILL_COLUMNS] as const;
export type ExportColumn = (typeof EXPORT_COLUMNS)[number];
export type ExportRow = Record<ExportColumn, string>;

/** Columns whose plain signed numbers stay numbers (never prefixed by the formula guard). */
const NUMERIC_COLUMNS: ReadonlySet<string> = new Set([
  'ours_minor',
  'theirs_minor',
  'difference_minor',
  'amount',
]);
const PLAIN_NUMBER = /^-?[0-9]+(?:\.[0-9]+)?$/;

/**
 * Whether a spreadsheet could read the cell as a formula (OWASP "CSV injection": = + - @, and
 * TAB or CR, which some spreadsheets skip before reading the rest). Leading quotes are looked
 * through so that a text already starting with a quote and then one of those is guarded too:
 * that is what makes `unguardCell(guardCell(v)) === v` exact for every text.
 */
const NEEDS_GUARD = /^'*[=+\-@\t\r]/;

/** A cell as exported: prefixed with a single quote when a spreadsheet could run it. */
export function guardCell(value: string, column?: string): string {
  if (column !== undefined && NUMERIC_COLUMNS.has(column) && PLAIN_NUMBER.test(value)) return value;
  return NEEDS_GUARD.test(value) ? `'${value}` : value;
}

/** A cell as uploaded: the export's guard quote removed (and only that one). */
export function unguardCell(value: string): string {
  return value.startsWith("'") && NEEDS_GUARD.test(value.slice(1)) ? value.slice(1) : value;
}

/** One CSV record (RFC 4180, CRLF): a field is quoted when it holds a comma, a quote, CR or LF. */
export function csvLine(cells: readonly string[]): string {
  // Written here rather than with csv-stringify: with CRLF records it leaves a bare CR or LF
  // inside a field unquoted, which no reader can tell from a line break.
  return `${cells.map((c) => (/[",\r\n]/.test(c) ? `"${c.replace(/"/g, '""')}"` : c)).join(',')}\r\n`;
}

/** The export's first line. */
export const csvHeader = (): string => csvLine(CSV_COLUMNS);

/** One exception as a line of the export: guarded cells, the fill columns empty. */
export function exportLine(row: ExportRow): string {
  return csvLine([...EXPORT_COLUMNS.map((c) => guardCell(row[c], c)), '', '', '']);
}

export interface CsvRecord {
  /** The record's number in the file, the header being 1: the row a spreadsheet shows. */
  line: number;
  cells: string[];
}

export type CsvReadResult = { ok: true; records: CsvRecord[] } | { ok: false; line: number; message: string };

/**
 * Reads RFC 4180 text: fields separated by commas, records by CRLF, LF or CR; a quoted field may
 * hold commas, line breaks and doubled quotes. Strict where a lenient reader would guess: a quote
 * inside an unquoted field, text after a closing quote, or a quote never closed is an error
 * naming the record. Blank records count as lines (a spreadsheet shows them as rows) but are not
 * returned. A UTF-8 byte order mark (spreadsheets write one) is skipped.
 */
export function readCsv(text: string): CsvReadResult {
  const records: CsvRecord[] = [];
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  const n = text.length;
  let line = 1;
  while (i < n) {
    const cells: string[] = [];
    for (;;) {
      let field = '';
      if (text[i] === '"') {
        // Quoted: up to the quote that is not doubled.
        i++;
        for (;;) {
          const q = text.indexOf('"', i);
          if (q === -1) return { ok: false, line, message: 'a quoted field is never closed' };
          field += text.slice(i, q);
          if (text[q + 1] === '"') {
            field += '"';
            i = q + 2;
            continue;
          }
          i = q + 1;
          break;
        }
        if (i < n && text[i] !== ',' && text[i] !== '\r' && text[i] !== '\n')
          return { ok: false, line, message: 'a quoted field must end at a comma or the end of the line' };
      } else {
        let j = i;
        while (j < n && text[j] !== ',' && text[j] !== '\r' && text[j] !== '\n') j++;
        field = text.slice(i, j);
        if (field.includes('"'))
          return { ok: false, line, message: 'a field with a quote must be quoted whole ("a ""b"" c")' };
        i = j;
      }
      cells.push(field);
      if (i < n && text[i] === ',') {
        i++;
        continue;
      }
      // The end of the record: CRLF, LF, CR or the end of the text.
      if (text[i] === '\r' && text[i + 1] === '\n') i += 2;
      else if (i < n) i++;
      break;
    }
    if (cells.some((c) => c !== '')) records.push({ line, cells });
    line++;
  }
  return { ok: true, records };
}

/** One resolution read from a line of an upload, in the shape of a resolution message's item. */
export interface ImportItem {
  line: number;
  exceptionId: string;
  resolution: Resolution;
  /** Decimal string in the settlement currency, as the currency writes it; `adjust` only. */
  amount?: string;
  reason: string;
}

export interface ImportProblem {
  line: number;
  /** `lines[N].<column>` (N the line, as in `line`), `header`, or `body`. */
  path: string;
  message: string;
}

export type ImportReadResult =
  { ok: true; items: ImportItem[]; dataLines: number } | { ok: false; problems: ImportProblem[] };

/** The column of the upload that a resolution message's field comes from. */
const COLUMN_OF: Record<string, string> = {
  exceptionId: 'exception_id',
  resolution: 'new_resolution',
  amount: 'new_amount',
  reason: 'new_reason',
};

/** Text Postgres and Temporal can hold: no NUL, no lone surrogate (the API's text rule). */
// eslint-disable-next-line no-control-regex
const UNSTORABLE = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * The resolutions of an upload: its lines whose `new_resolution` is filled, each checked by the
 * rules of a resolution message (resolutionMessageProblem, in the settlement currency's scale),
 * with the export's formula guard removed. Every problem is reported with its line and column
 * (up to MAX_IMPORT_PROBLEMS), so a file is fixed in one go; a problem anywhere means nothing of
 * the file is taken.
 */
export function readImport(text: string, currencyScale: number): ImportReadResult {
  const read = readCsv(text);
  if (!read.ok)
    return { ok: false, problems: [{ line: read.line, path: `lines[${read.line}]`, message: read.message }] };
  const [header, ...data] = read.records;
  if (!header || header.line !== 1)
    return {
      ok: false,
      problems: [
        {
          line: 1,
          path: 'header',
          message: `the first line must name the columns (${CSV_COLUMNS.join(',')})`,
        },
      ],
    };
  const names = header.cells.map((c) => unguardCell(c).trim());
  const index = new Map<string, number>();
  for (const [i, name] of names.entries()) {
    if (index.has(name))
      return { ok: false, problems: [{ line: 1, path: 'header', message: `column ${name} appears twice` }] };
    index.set(name, i);
  }
  const missing = ['exception_id', ...FILL_COLUMNS].filter((c) => !index.has(c));
  if (missing.length > 0)
    return {
      ok: false,
      problems: [{ line: 1, path: 'header', message: `missing column(s): ${missing.join(', ')}` }],
    };
  if (data.length > MAX_IMPORT_LINES)
    return {
      ok: false,
      problems: [
        {
          line: data[MAX_IMPORT_LINES]!.line,
          path: 'body',
          message: `at most ${MAX_IMPORT_LINES} data lines per file (${data.length} sent): import the book in parts`,
        },
      ],
    };

  const problems: ImportProblem[] = [];
  const items: ImportItem[] = [];
  const firstLineOf = new Map<string, number>();
  const cell = (r: CsvRecord, column: string) => r.cells[index.get(column)!] ?? '';
  for (const r of data) {
    if (problems.length >= MAX_IMPORT_PROBLEMS) break;
    const at = (column: string, message: string) =>
      problems.push({
        line: r.line,
        path: `lines[${r.line}].${column}`,
        message: `line ${r.line}: ${column} ${message}`,
      });
    if (r.cells.length !== names.length) {
      problems.push({
        line: r.line,
        path: `lines[${r.line}]`,
        message: `line ${r.line} has ${r.cells.length} fields, the header ${names.length}`,
      });
      continue;
    }
    const bad = [...index.keys()].find((c) => UNSTORABLE.test(cell(r, c)));
    if (bad !== undefined) {
      at(bad, 'must be valid Unicode without NUL characters');
      continue;
    }
    const resolution = cell(r, 'new_resolution').trim();
    const amount = unguardCell(cell(r, 'new_amount')).trim();
    const reason = unguardCell(cell(r, 'new_reason')).trim();
    if (resolution === '') {
      // A reason or an amount without a resolution is a decision half written, not a skipped line.
      if (amount !== '' || reason !== '')
        at(
          'new_resolution',
          `is required when new_amount or new_reason is filled (one of ${resolutions.join(', ')})`,
        );
      continue;
    }
    const exceptionId = unguardCell(cell(r, 'exception_id'));
    // The same rules as a resolution message sent through the API or the Temporal UI.
    const input = { exceptionId, resolution, ...(amount === '' ? {} : { amount }), reason };
    const problem = resolutionMessageProblem(input, currencyScale);
    if (problem) {
      const field = /^(\w+)/.exec(problem.message)?.[1] ?? '';
      const column = COLUMN_OF[field];
      if (column) at(column, problem.message.slice(field.length).trim());
      else
        problems.push({
          line: r.line,
          path: `lines[${r.line}]`,
          message: `line ${r.line}: ${problem.message}`,
        });
      continue;
    }
    const first = firstLineOf.get(exceptionId);
    if (first !== undefined) {
      at('exception_id', `${exceptionId} appears twice (also line ${first})`);
      continue;
    }
    firstLineOf.set(exceptionId, r.line);
    const parsed = amount === '' ? null : parseAmount(amount, currencyScale, { allowNegative: true });
    items.push({
      line: r.line,
      exceptionId,
      resolution: resolution as Resolution,
      // As the currency writes it: "1.5" and "1.50" are one decision, one import.
      ...(parsed?.ok ? { amount: formatAmount(parsed.minor, currencyScale) } : {}),
      reason,
    });
  }
  if (problems.length > 0) return { ok: false, problems };
  if (items.length === 0)
    return {
      ok: false,
      problems: [{ line: 1, path: 'body', message: 'no line has new_resolution filled: nothing to import' }],
    };
  return { ok: true, items, dataLines: data.length };
}

/**
 * What identifies an import: the cycle and its decisions, in exception id order, without line
 * numbers (the same decisions in another order are the same import). Hashed into its id.
 */
export function canonicalImport(cycleId: string, items: readonly ImportItem[]): string {
  const sorted = [...items].sort((a, b) =>
    a.exceptionId < b.exceptionId ? -1 : a.exceptionId > b.exceptionId ? 1 : 0,
  );
  return JSON.stringify([
    cycleId,
    sorted.map((i) => [i.exceptionId, i.resolution, i.amount ?? null, i.reason]),
  ]);
}
