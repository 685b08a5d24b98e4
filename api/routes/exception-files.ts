import type { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import express, { type Request, type Response, type Router } from 'express';
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { getPartner } from '../../db/partners';
import { cyclePartner, exportExceptions, importStanding, storeImport } from '../../db/exception-imports';
import { actorKey } from '../../domain/actors';
import {
  ConflictError,
  NotFoundError,
  UnsupportedMediaTypeError,
  ValidationError,
} from '../../domain/errors';
import {
  MAX_IMPORT_BYTES,
  MAX_IMPORT_LINES,
  canonicalImport,
  csvHeader,
  exportLine,
  readImport,
  type ImportItem,
} from '../../domain/exception-csv';
import { formatAmount, type CurrencyRegistry } from '../../domain/money';
import { operatorActor } from '../../platform/operators';
import { importResolutions, type ResolveResult } from '../../workflows/settlement/messages';
import { authDeps, type Principal } from '../auth';
import type { ApiDeps } from '../deps';
import { BODY_DIGEST, mountRoute } from '../route';
import { errorResponses, jsonResponse, settlementIdSchema } from '../schemas';
import { sendDecision } from '../updates';

// A cycle's exceptions as CSV and back. The export is read page by page (keyset) in one
// snapshot; its digest covers exactly the bytes sent. The import is read and checked whole
// (line by line, every problem named with its line and column), stored, and applied by the
// cycle's workflow through one Update carrying only its id, all or nothing.

const cycleId = settlementIdSchema;

/** Exceptions read per query while exporting (keyset pages, one snapshot). */
const EXPORT_PAGE = 1_000;

/*
 * The export's digest (X-Export-Digest): sha256 over the cycle id, LF, the book version, LF,
 * then the file's bytes exactly as sent, so anyone holding the file can check it:
 * `{ printf '%s\n%s\n' "$ID" "$VERSION"; cat file.csv; } | sha256sum`. In a header rather than
 * in the file: a comment line or a trailing column would be read as data by a spreadsheet.
 */

const importAnswer = z
  .object({
    importId: z
      .string()
      .meta({ description: 'Derived from the cycle and the decisions: the same decisions, the same id' }),
    lines: z.number().int().meta({ description: 'Lines of the file with new_resolution filled' }),
    open: z.number().int().meta({ description: 'Exceptions still open in the book' }),
    applied: z.number().int(),
    refused: z
      .array(z.object({ line: z.number().int(), exceptionId: z.string(), reason: z.string() }))
      .meta({ description: 'Always empty on a 200: an import with any refusal is refused whole (409)' }),
  })
  .meta({ id: 'ExceptionImportResult' });

/** Reads the raw upload, up to MAX_IMPORT_BYTES (413 above), once the caller is authorised. */
const rawCsv = express.raw({ type: () => true, limit: MAX_IMPORT_BYTES });
function readUpload(req: Request, res: Response): Promise<Buffer> {
  if (!req.is('text/csv'))
    return Promise.reject(
      new UnsupportedMediaTypeError('expected Content-Type: text/csv', [
        { path: 'headers.content-type', message: `${req.get('content-type') ?? 'none'} is not text/csv` },
      ]),
    );
  const charset = /;\s*charset="?([^";]+)/i.exec(req.get('content-type') ?? '')?.[1];
  if (charset !== undefined && !/^utf-?8$/i.test(charset))
    return Promise.reject(
      new UnsupportedMediaTypeError(`charset ${charset} is not accepted: send UTF-8`, [
        { path: 'headers.content-type', message: 'charset must be utf-8' },
      ]),
    );
  return new Promise((resolve, reject) =>
    rawCsv(req, res, (err?: unknown) => {
      if (err) reject(err instanceof Error ? err : new Error('unreadable body'));
      else resolve(Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0));
    }),
  );
}

/** Problems of an import as a 422's details, each naming its line and column. */
function refuseLines(problems: { path: string; message: string }[], what: string): never {
  const first = problems[0]!;
  throw new ValidationError(
    `${what}: nothing was imported (${problems.length} problem${problems.length === 1 ? '' : 's'}; first: ${first.message})`,
    problems.map((p) => ({ path: p.path, message: p.message })),
  );
}

/** Refusals of the book (exception ids) as a 409 naming each line of the upload. */
function conflictLines(items: ImportItem[], refused: { exceptionId: string; reason: string }[]): never {
  const lineOf = new Map(items.map((i) => [i.exceptionId, i.line]));
  const lines = refused
    .map((r) => ({ line: lineOf.get(r.exceptionId) ?? 0, ...r }))
    .sort((a, b) => a.line - b.line);
  throw new ConflictError(
    `the import conflicts with the book at line(s) ${lines.map((l) => l.line).join(', ')}: nothing was applied (export again and re-fill those lines)`,
    lines.map((l) => ({ path: `lines[${l.line}].exception_id`, message: `line ${l.line}: ${l.reason}` })),
  );
}

/** A cycle's exceptions as CSV, and a resolved CSV imported back (validated line by line). */
export function exceptionFileRoutes(
  router: Router,
  registry: OpenAPIRegistry,
  deps: ApiDeps,
  currencies: CurrencyRegistry,
): void {
  const auth = authDeps(deps.db, deps.config.api);

  /** The scale of the partner's settlement currency (what `amount` and `new_amount` are in). */
  async function settlementScale(partnerId: string): Promise<number | null> {
    const partner = await getPartner(deps.db, partnerId);
    return partner ? (currencies.scaleOf(partner.settlementCurrency) ?? null) : null;
  }

  mountRoute(router, registry, auth, {
    method: 'get',
    path: '/v1/settlements/{id}/exceptions.csv',
    summary: "The cycle's exceptions as CSV (operator), to fill in a spreadsheet and import back",
    description:
      "Every exception of the cycle's current run, open and resolved, one line each in exception id order (RFC 4180, " +
      'CRLF, UTF-8), then three empty columns the operator fills: `new_resolution`, `new_amount` (a decimal in the ' +
      'settlement currency, `adjust` only), `new_reason`. Amounts named `_minor` are minor units; `amount` is the ' +
      'recorded adjustment as a decimal. A cell a spreadsheet could run as a formula (starting with = + - @, TAB or CR) ' +
      'is prefixed with a single quote, which the import removes; plain signed numbers in numeric columns stay numbers. ' +
      'Read in one snapshot: `X-Book-Version` is the version of the book the lines show, and `X-Export-Digest` the ' +
      'sha256 of the cycle id, LF, that version, LF, then the bytes of the file exactly as sent.',
    tags: ['settlements'],
    auth: 'viewer',
    params: z.object({ id: cycleId }),
    responses: {
      200: {
        description: 'The exceptions as CSV',
        headers: z.object({
          'X-Export-Digest': z
            .string()
            .meta({ description: 'sha256 (hex) of cycle id, LF, book version, LF, file bytes' }),
          'X-Book-Version': z.string().meta({ description: 'The exception book version the file shows' }),
        }),
        content: { 'text/csv': { schema: z.string() } },
      },
      ...errorResponses(400, 401, 403, 404),
    },
    handler: async ({ params }) => {
      const partnerId = await cyclePartner(deps.db, params.id);
      if (partnerId === null) throw new NotFoundError(`settlement ${params.id} not found`);
      // `amount` is written as a decimal of the settlement currency, like `new_amount`.
      const scale = await settlementScale(partnerId);
      const amountOf = (minor: string | null) =>
        minor === null ? '' : scale === null ? minor : formatAmount(BigInt(minor), scale);
      // Formatted page by page as the rows arrive: the rows are never all held at once. The
      // file's text is, until the end (a few MB at 20,000 exceptions): its digest is a header,
      // and headers go out before the body.
      const chunks: string[] = [csvHeader()];
      const exported = await exportExceptions(deps.db, params.id, EXPORT_PAGE, (rows) => {
        for (const r of rows)
          chunks.push(
            exportLine({
              exception_id: r.exception_id,
              kind: r.kind,
              status: r.resolution === null ? 'open' : 'resolved',
              tx_id: r.tx_id ?? '',
              business_date: r.business_date ?? '',
              game_id: r.game_id ?? '',
              currency: r.currency ?? '',
              ours_minor: r.ours_minor ?? '',
              theirs_minor: r.theirs_minor ?? '',
              difference_minor: r.difference_minor,
              detail: r.detail,
              suggestion: r.suggestion ?? '',
              evidence: r.evidence ?? '',
              resolution: r.resolution ?? '',
              amount: amountOf(r.amount_minor),
              reason: r.reason ?? '',
              resolved_by: r.operator ?? '',
            }),
          );
      });
      if (!exported) throw new NotFoundError(`settlement ${params.id} not found`);
      const body = chunks.join('');
      const digest = createHash('sha256')
        .update(`${params.id}\n${exported.version}\n`)
        .update(body, 'utf8')
        .digest('hex');
      return {
        status: 200,
        headers: {
          'content-disposition': `attachment; filename="${params.id.replace(/:/g, '_')}_exceptions.csv"`,
          'x-export-digest': digest,
          'x-book-version': String(exported.version),
          'access-control-expose-headers': 'X-Export-Digest, X-Book-Version',
        },
        text: { contentType: 'text/csv; charset=utf-8', body },
      };
    },
  });

  mountRoute(router, registry, auth, {
    method: 'post',
    path: '/v1/settlements/{id}/exceptions/import',
    summary: 'Import resolutions from the exceptions CSV (operator): applied all or nothing',
    description:
      'The body is the CSV of GET /v1/settlements/{id}/exceptions.csv with `new_resolution` (and `new_reason`, ' +
      '`new_amount` for `adjust`) filled on the lines to resolve, sent with `Content-Type: text/csv` (UTF-8), at most ' +
      `${MAX_IMPORT_BYTES} bytes (413 above) and ${MAX_IMPORT_LINES} data lines. Columns are found by their header ` +
      'names; lines without `new_resolution` are ignored. Every line is checked by the rules of a resolution message ' +
      '(422 naming each problem as `lines[N].<column>`, N the line number a spreadsheet shows, the header being 1; ' +
      'nothing is stored). The decisions are then stored (their id derived from the cycle and the decisions) and ' +
      "applied by the cycle through one `importResolutions` Update sealed with the caller's identity: all of them, " +
      'or none — an exception resolved meanwhile by someone else is a 409 naming its line, and nothing is applied. ' +
      'Sending the same decisions again after they were applied answers the same result and applies nothing twice; ' +
      "sent by another operator, they conflict (409): they are recorded as the first operator's decisions.",
    tags: ['settlements'],
    auth: 'resolver',
    params: z.object({ id: cycleId }),
    responses: {
      200: jsonResponse(importAnswer, 'Applied: every filled line'),
      ...errorResponses(400, 401, 403, 404, 409, 413, 415, 422, 429),
    },
    handler: async ({ params, principal, req, res }) => {
      const partnerId = await cyclePartner(deps.db, params.id);
      if (partnerId === null) throw new NotFoundError(`settlement ${params.id} not found`);
      const bytes = await readUpload(req, res);
      const digest = createHash('sha256').update(bytes).digest('hex');
      // The audit trail records the upload's digest, as it does a JSON body's.
      res.locals[BODY_DIGEST] = digest;
      let text: string;
      try {
        text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
      } catch {
        throw new ValidationError('the file is not UTF-8 text', [{ path: 'body', message: 'not UTF-8' }]);
      }
      const scale = await settlementScale(partnerId);
      if (scale === null)
        throw new NotFoundError(`settlement ${params.id}: its partner's currency is unknown`);
      const read = readImport(text, scale);
      if (!read.ok) refuseLines(read.problems, 'the file has problems');
      const { items } = read;

      const importId = `imp-${createHash('sha256').update(canonicalImport(params.id, items)).digest('hex')}`;
      const decider = actorKey(operatorActor(principal as Extract<Principal, { kind: 'operator' }>));
      // What the book already says of these exceptions: a file naming ids this run does not
      // have, or exceptions resolved since the export, is refused before anything is stored or
      // sent; the same decisions already applied by this operator are answered as they were.
      const standing = await importStanding(
        deps.db,
        params.id,
        importId,
        items.map((i) => i.exceptionId),
        decider,
      );
      if (standing.unknown.length > 0) {
        const unknown = new Set(standing.unknown);
        refuseLines(
          items
            .filter((i) => unknown.has(i.exceptionId))
            .map((i) => ({
              path: `lines[${i.line}].exception_id`,
              message: `line ${i.line}: exception_id ${i.exceptionId} is not in this cycle's current book (a file of an earlier run?)`,
            })),
          'the file names unknown exceptions',
        );
      }
      if (standing.conflicts.length > 0) conflictLines(items, standing.conflicts);
      const answer = (open: number, applied: number) => ({
        status: 200,
        body: { importId, lines: items.length, open, applied, refused: [] },
      });
      if (standing.appliedByIt === items.length) return answer(standing.open, items.length);

      await storeImport(deps.db, {
        importId,
        cycleId: params.id,
        items,
        lineCount: items.length,
        digest,
        uploadedBy: decider,
      });
      const result = await sendDecision<ResolveResult>(deps, {
        workflowId: params.id,
        what: `settlement ${params.id}`,
        decision: importResolutions.name,
        fields: { importId },
        principal,
        req,
      });
      // All or nothing: a refusal means the book changed between the check above and the apply.
      if (result.refused.length > 0) conflictLines(items, result.refused);
      return answer(result.open, result.applied);
    },
  });
}
