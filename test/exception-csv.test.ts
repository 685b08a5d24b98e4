import { createHash } from 'node:crypto';
import { parse } from 'csv-parse/sync';
import { exportExceptions, storeImport } from '../db/exception-imports';
import { CSV_COLUMNS, EXPORT_COLUMNS, csvLine } from '../domain/exception-csv';
import { startJsonCursorProvider, type SimulatedProvider } from '../providers/simulated/json-cursor-server';
import { settlementStatus, type CycleView } from '../workflows/settlement';
import { importResolutions } from '../workflows/settlement/messages';
import { sendSealed } from './support/decisions';
import { uniqueId } from './support/env';
import { dayOfTransactions, settlingPartner } from './support/settlement';
import { startStack, type Stack } from './support/stack';

// A cycle's exceptions exported as CSV, filled in a spreadsheet and imported back, on the real
// Temporal server and Postgres: formula-safe cells, the digest of what was sent, decisions
// applied all or nothing through one Update, a re-import that applies nothing twice, and files
// refused whole (a malformed line: 422; a line resolved by someone else since the export: 409).
describe('exceptions as CSV and back', () => {
  let stack: Stack;
  let provider: SimulatedProvider;
  beforeAll(async () => {
    stack = await startStack();
    provider = await startJsonCursorProvider();
  });
  afterAll(async () => {
    await provider?.close();
    await stack?.close();
  });
  const DAY = '2026-11-25';

  async function waitFor(id: string, status: string): Promise<CycleView> {
    const h = stack.temporal.workflow.getHandle(id);
    for (let i = 0; ; i++) {
      const view = await h.query(settlementStatus).catch(() => null);
      if (view?.status === status) return view;
      if (i > 600) throw new Error(`${id} never reached ${status} (last: ${view?.status})`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  it('exports, imports, re-imports, and refuses a malformed or conflicting file whole', async () => {
    const txs = dayOfTransactions(uniqueId('csv'), DAY, 8);
    const p = await settlingPartner(stack, provider, txs);
    // The provider reports none of them: 8 `missing_theirs`, each with a negative difference.
    provider.setTransactions([]);
    const started = await stack.api('/v1/settlements', { body: { partnerId: p.id, periodStart: DAY } });
    expect(started.status).toBe(202);
    const id = started.body.id as string;
    const h = stack.temporal.workflow.getHandle(id);
    expect(await waitFor(id, 'AwaitingResolution')).toMatchObject({ exceptionsOpen: 8 });
    const ids = txs.map((t) => `missing_theirs:${t.id}`).sort();
    const [ana, bo, vic] = await Promise.all([
      stack.tokenFor('ana', 'resolver'),
      stack.tokenFor('bo', 'resolver'),
      stack.tokenFor('vic', 'viewer'),
    ]);
    const enc = encodeURIComponent(id);
    const single = (exceptionId: string, body: unknown, token: string) =>
      stack.api(`/v1/settlements/${enc}/exceptions/${encodeURIComponent(exceptionId)}/resolution`, {
        body,
        token,
      });
    // A reason a spreadsheet would run as a formula, planted through the API.
    expect(
      (await single(ids[0]!, { resolution: 'write_off', reason: '=HYPERLINK("http://x","y")' }, bo)).status,
    ).toBe(200);

    // --- export
    const exportCsv = async () => {
      const res = await fetch(`${stack.baseUrl}/v1/settlements/${enc}/exceptions.csv`, {
        headers: { authorization: `Bearer ${vic}` },
      });
      expect(res.status).toBe(200);
      return { text: await res.text(), headers: res.headers };
    };
    const exported = await exportCsv();
    const version = (await h.query(settlementStatus)).bookVersion;
    expect(exported.headers.get('content-type')).toMatch(/^text\/csv/);
    expect(exported.headers.get('content-disposition')).toMatch(/^attachment; filename=".*\.csv"$/);
    expect(exported.headers.get('x-book-version')).toBe(String(version));
    expect(exported.headers.get('x-export-digest')).toBe(
      createHash('sha256').update(`${id}\n${version}\n`).update(exported.text).digest('hex'),
    );
    const rows = parse(exported.text);
    expect(rows[0]).toEqual([...CSV_COLUMNS]);
    expect(rows.slice(1).map((r) => r[0])).toEqual(ids);
    const col = (name: string) => CSV_COLUMNS.indexOf(name as never);
    const first = rows[1]!;
    expect(first[col('status')]).toBe('resolved');
    expect(first[col('resolution')]).toBe('write_off');
    expect(first[col('resolved_by')]).toBe('bo');
    // The formula guard: text prefixed with a quote; plain signed numbers stay numbers.
    expect(first[col('reason')]).toBe(`'=HYPERLINK("http://x","y")`);
    for (const r of rows.slice(1)) {
      expect(r[col('difference_minor')]).toMatch(/^-[0-9]+$/);
      expect(r[col('ours_minor')]).toMatch(/^[0-9]+$/);
      expect(r.slice(EXPORT_COLUMNS.length)).toEqual(['', '', '']);
    }
    expect(rows.slice(2).every((r) => r[col('status')] === 'open')).toBe(true);
    // Operators only: a partner's key does not read it.
    const asPartner = await stack.api(`/v1/settlements/${enc}/exceptions.csv`, { token: p.apiKey });
    expect([401, 403]).toContain(asPartner.status);

    // Read in keyset pages: pages of 3 give the same rows, in the same order, as one of 1,000.
    const paged: string[] = [];
    const pages = await exportExceptions(stack.db.pool, id, 3, (page) =>
      paged.push(...page.map((r) => r.exception_id)),
    );
    expect({ paged, version: pages?.version }).toEqual({ paged: ids, version });
    expect(await exportExceptions(stack.db.pool, 'settlement:nobody:2026-11-25', 3, () => {})).toBeNull();

    /** The export with the fill columns of these exceptions filled, as a spreadsheet saves it. */
    const fill = (text: string, fills: Record<string, [string, string, string]>) =>
      parse(text)
        .map((r) => {
          const f = fills[r[0]!];
          return csvLine(f ? [...r.slice(0, EXPORT_COLUMNS.length), ...f] : r);
        })
        .join('');
    const upload = (text: string, token = ana) =>
      stack.api(`/v1/settlements/${enc}/exceptions/import`, {
        rawBody: text,
        headers: { 'content-type': 'text/csv' },
        token,
      });
    const book = async () => {
      const view = await h.query(settlementStatus);
      const { rows: events } = await stack.db.pool.query<{ n: string }>(
        'SELECT count(*)::text AS n FROM exception_events WHERE cycle_id = $1',
        [id],
      );
      const { rows: imports } = await stack.db.pool.query<{ n: string }>(
        'SELECT count(*)::text AS n FROM exception_imports WHERE cycle_id = $1',
        [id],
      );
      return {
        version: view.bookVersion,
        open: view.exceptionsOpen,
        events: events[0]!.n,
        imports: imports[0]!.n,
      };
    };

    // Only text/csv, only a resolver.
    const asJson = await stack.api(`/v1/settlements/${enc}/exceptions/import`, {
      body: { items: [] },
      token: ana,
    });
    expect(asJson.status).toBe(415);
    expect((await upload(exported.text, vic)).status).toBe(403);

    // --- import: three lines filled (one guarded as the export writes a formula-like reason)
    const filled = fill(exported.text, {
      [ids[1]!]: ['accept_ours', '', 'in our logs'],
      [ids[2]!]: ['adjust', '-1.5', "'=credit note 7"],
      [ids[3]!]: ['write_off', '', 'below the threshold'],
    });
    const applied = await upload(filled);
    expect({ status: applied.status, error: applied.body.error }).toEqual({ status: 200 });
    expect(applied.body).toEqual({
      importId: expect.stringMatching(/^imp-[0-9a-f]{64}$/),
      lines: 3,
      open: 4,
      applied: 3,
      refused: [],
    });
    const importId = applied.body.importId as string;
    const history = await stack.api(
      `/v1/settlements/${enc}/exceptions/${encodeURIComponent(ids[2]!)}/history`,
    );
    expect(history.body.events.at(-1)).toMatchObject({
      event: 'resolved',
      resolution: 'adjust',
      amountMinor: '-150',
      reason: '=credit note 7',
      actorName: 'ana',
      updateId: `import:${importId}`,
    });
    const after = await book();
    expect(after).toMatchObject({ open: 4, imports: '1' });
    const { rows: audited } = await stack.db.pool.query<{ details: Record<string, unknown> }>(
      "SELECT details FROM audit_events WHERE action = 'settlement.importResolutions' AND target = $1",
      [`${id}/exceptions`],
    );
    expect(audited).toEqual([
      { details: expect.objectContaining({ importId, items: 3, applied: [ids[1], ids[2], ids[3]] }) },
    ]);

    // --- the same file again: the same answer, nothing applied twice
    const again = await upload(filled);
    expect(again.status).toBe(200);
    expect(again.body).toEqual(applied.body);
    expect(await book()).toEqual(after);
    // ... and by another operator: they are ana's decisions, so they conflict.
    const byBo = await upload(filled, bo);
    expect(byBo.status).toBe(409);
    expect(await book()).toEqual(after);

    // --- a malformed line: 422 naming the line and the column, nothing stored or applied
    const fresh = await exportCsv();
    const freshRows = parse(fresh.text);
    const lineOf = (exceptionId: string) => freshRows.findIndex((r) => r[0] === exceptionId) + 1;
    const malformed = await upload(
      fill(fresh.text, {
        [ids[4]!]: ['accept_ours', '', 'fine'],
        [ids[5]!]: ['adjust', '1.001', 'too precise'],
      }),
    );
    expect(malformed.status).toBe(422);
    expect(malformed.body.error.message).toContain(`line ${lineOf(ids[5]!)}`);
    expect(malformed.body.error.details).toEqual([
      {
        path: `lines[${lineOf(ids[5]!)}].new_amount`,
        message: `line ${lineOf(ids[5]!)}: new_amount has more than 2 decimal places`,
      },
    ]);
    expect(await book()).toEqual(after);

    // --- resolved by someone else since the export: 409 naming the line, nothing applied
    expect(
      (await single(ids[5]!, { resolution: 'accept_ours', reason: 'checked the logs' }, bo)).status,
    ).toBe(200);
    const moved = await book();
    const conflicting = await upload(
      fill(fresh.text, {
        [ids[4]!]: ['accept_ours', '', 'fine'],
        [ids[5]!]: ['write_off', '', 'small'],
      }),
    );
    expect(conflicting.status).toBe(409);
    expect(conflicting.body.error.details).toEqual([
      {
        path: `lines[${lineOf(ids[5]!)}].exception_id`,
        message: expect.stringMatching(
          new RegExp(`^line ${lineOf(ids[5]!)}: .*already resolved \\(accept_ours\\) by bo`),
        ),
      },
    ]);
    expect(await book()).toEqual(moved);
    expect(moved.open).toBe(3);

    // --- the book itself refuses a stale import whole (the check the API makes is advisory: a
    // resolution may land between it and the apply). Stored and sent straight to Temporal.
    const stale = await storeImport(stack.db.pool, {
      importId: `imp-${'0'.repeat(64)}`,
      cycleId: id,
      items: [
        { line: 2, exceptionId: ids[5]!, resolution: 'write_off', reason: 'small' },
        { line: 3, exceptionId: ids[6]!, resolution: 'accept_ours', reason: 'fine' },
      ],
      lineCount: 2,
      digest: '0'.repeat(64),
      uploadedBy: 'clearhouse#ana',
    });
    const refused = await sendSealed(stack.config, h, importResolutions, 'ana', { importId: stale.importId });
    expect(refused).toEqual({
      open: 3,
      applied: 0,
      refused: [
        { exceptionId: ids[5], reason: expect.stringMatching(/already resolved \(accept_ours\) by bo/) },
      ],
    });
    expect((await book()).version).toBe(moved.version);
    // An import of another cycle (or none) is not found in this one.
    await expect(
      sendSealed(stack.config, h, importResolutions, 'ana', { importId: `imp-${'1'.repeat(64)}` }),
    ).rejects.toThrow();
    expect((await book()).version).toBe(moved.version);

    // The rest through a file: the cycle goes on to its fees.
    const last = await exportCsv();
    const done = await upload(
      fill(last.text, {
        [ids[4]!]: ['accept_ours', '', 'fine'],
        [ids[6]!]: ['accept_ours', '', 'fine'],
        [ids[7]!]: ['carry_forward', '', 'next period'],
      }),
    );
    expect(done.status).toBe(200);
    expect(done.body).toMatchObject({ applied: 3, open: 0 });
  }, 180_000);
});
