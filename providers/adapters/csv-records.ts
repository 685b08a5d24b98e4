import { ProviderReportError } from '../types';

// CSV records (RFC 4180) read from a stream of text pieces, a few at a time: what a report file
// of millions of rows needs and a record-at-a-time stream parser makes slow (a promise per
// record). Quoted fields may hold commas, quotes ("") and line breaks; a record ends at LF or
// CRLF; empty lines are skipped; records may have any number of fields (the caller checks).
// The pieces may split a record, a quoted field or a CRLF anywhere.
export class CsvRecords {
  private tail = '';
  private readonly decoder = new TextDecoder('utf-8', { fatal: true });

  constructor(
    private readonly file: string,
    /** A record longer than this is not a transaction row: the file is unreadable, not held. */
    private readonly maxRecordChars: number,
  ) {}

  /** The complete records in `bytes` (and what was left of the pieces before it). */
  push(bytes: Uint8Array): string[][] {
    let text: string;
    try {
      text = this.decoder.decode(bytes, { stream: true });
    } catch {
      throw new ProviderReportError(`${this.file} is not valid CSV: not UTF-8`);
    }
    return this.records(this.tail + text, false);
  }

  /** The last record, at the end of the file. */
  end(): string[][] {
    let rest: string;
    try {
      rest = this.decoder.decode();
    } catch {
      throw new ProviderReportError(`${this.file} is not valid CSV: not UTF-8`);
    }
    return this.records(this.tail + rest, true);
  }

  private records(text: string, final: boolean): string[][] {
    const out: string[][] = [];
    let pos = 0;
    const n = text.length;
    for (;;) {
      if (pos >= n) {
        this.tail = '';
        return out;
      }
      // Fast path: a line with no quote is split on commas.
      const nl = text.indexOf('\n', pos);
      const quote = text.indexOf('"', pos);
      if (quote === -1 || (nl !== -1 && quote > nl)) {
        if (nl === -1 && !final) break;
        const end = nl === -1 ? n : nl;
        let line = text.slice(pos, end);
        if (line.endsWith('\r')) line = line.slice(0, -1);
        if (line.length > this.maxRecordChars) this.tooLong();
        if (line.length > 0) out.push(line.split(','));
        pos = end + 1;
        continue;
      }
      // A record with quoted fields: read field by field.
      const record: string[] = [];
      let field = '';
      let i = pos;
      let complete = false;
      let inQuotes = false;
      let quotedField = false;
      while (i < n) {
        const ch = text.charCodeAt(i);
        if (inQuotes) {
          if (ch === 34 /* " */) {
            if (i + 1 >= n && !final) break; // "" may continue in the next piece
            if (text.charCodeAt(i + 1) === 34) {
              field += '"';
              i += 2;
              continue;
            }
            inQuotes = false;
            i++;
            continue;
          }
          const next = text.indexOf('"', i);
          const stop = next === -1 ? n : next;
          field += text.slice(i, stop);
          i = stop;
          continue;
        }
        if (ch === 34) {
          if (field.length > 0 || quotedField)
            throw new ProviderReportError(`${this.file} is not valid CSV: a quote inside an unquoted field`);
          inQuotes = true;
          quotedField = true;
          i++;
        } else if (ch === 44 /* , */) {
          record.push(field);
          field = '';
          quotedField = false;
          i++;
        } else if (ch === 10 /* \n */ || ch === 13 /* \r */) {
          if (ch === 13) {
            if (i + 1 >= n && !final) break; // CRLF may be split across pieces
            if (text.charCodeAt(i + 1) !== 10)
              throw new ProviderReportError(`${this.file} is not valid CSV: a carriage return alone`);
            i++;
          }
          i++;
          complete = true;
          break;
        } else {
          if (quotedField)
            throw new ProviderReportError(`${this.file} is not valid CSV: text after a closing quote`);
          const stop = nextSpecial(text, i);
          field += text.slice(i, stop);
          i = stop;
        }
        if (i - pos > this.maxRecordChars) this.tooLong();
      }
      if (i - pos > this.maxRecordChars) this.tooLong();
      if (!complete) {
        if (!final) break;
        if (inQuotes)
          throw new ProviderReportError(`${this.file} is not valid CSV: a quoted field is not closed`);
      }
      record.push(field);
      out.push(record);
      pos = i;
    }
    // The rest is an incomplete record: kept for the next piece.
    this.tail = text.slice(pos);
    if (this.tail.length > this.maxRecordChars) this.tooLong();
    return out;
  }

  private tooLong(): never {
    throw new ProviderReportError(
      `${this.file} is not valid CSV: a record is longer than ${this.maxRecordChars} characters`,
    );
  }
}

/** The next comma, quote, LF or CR from `i` (or the end). */
function nextSpecial(text: string, i: number): number {
  for (let j = i; j < text.length; j++) {
    const c = text.charCodeAt(j);
    if (c === 44 || c === 34 || c === 10 || c === 13) return j;
  }
  return text.length;
}
