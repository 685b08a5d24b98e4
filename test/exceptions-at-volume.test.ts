import { startJsonCursorProvider, type SimulatedProvider } from '../providers/simulated/json-cursor-server';
import { volumeFaultEffects } from '../providers/simulated/volume-faults';
import { ensureTemporalCli } from '../scripts/lib/temporal-cli.mjs';
import { settlementStatus, type CycleView } from '../workflows/settlement';
import { uniqueId } from './support/env';
import { dayOfTransactions, settlingPartner } from './support/settlement';
import { startStack, type Stack } from './support/stack';
import { temporalUpdate } from './support/temporal-cli';

// A cycle with 5,000 exceptions on the real Temporal server: the contract's tolerance rule
// clears the rounding differences, the matcher the split wins, and one bulk resolution sent
// with the Temporal CLI — sealed with a verified identity by Clearhouse's codec — clears the
// rest; the workflow's history stays small whatever the number of exceptions.
describe('exceptions at volume', () => {
  let stack: Stack;
  let provider: SimulatedProvider;
  let cli: string;
  beforeAll(async () => {
    stack = await startStack();
    provider = await startJsonCursorProvider();
    cli = ensureTemporalCli()!;
  });
  afterAll(async () => {
    await provider.close();
    await stack.close();
  });

  const temporalCli = (args: string[]) => temporalUpdate(cli, stack, args, 120_000);

  it('rules and the matcher clear most of 5,000 exceptions, one bulk resolution from the Temporal CLI the rest', async () => {
    const DAY = '2026-11-24';
    const txs = dayOfTransactions(uniqueId('vol'), DAY, 12_000);
    const missing = txs
      .filter((t) => t.type === 'bet')
      .slice(0, 1_000)
      .map((t) => t.id);
    const faults = {
      roundOwnWay: { everyNth: 1, deltaMinor: 3n },
      splitWins: { everyNth: 16, parts: 2 },
      missing,
    };
    const fx = volumeFaultEffects(txs, faults);
    provider.setTransactions(txs);
    provider.setFaults(faults);
    const p = await settlingPartner(
      stack,
      provider,
      txs,
      { period: 'daily', cutoffGraceMinutes: 0, payoutApprovalThresholdMinor: '100000000' },
      {
        reconciliation: {
          matching: { enabled: true },
          rules: [
            {
              id: 'rounding',
              kinds: ['amount_mismatch'],
              tolerance: { absoluteMinor: '3', percent: '0', base: 'larger', rounding: 'half_up' },
              action: 'accept_ours',
            },
          ],
        },
      },
    );
    const started = await stack.api('/v1/settlements', { body: { partnerId: p.id, periodStart: DAY } });
    expect(started.status).toBe(202);
    const id = started.body.id as string;
    const h = stack.temporal.workflow.getHandle(id);
    let view: CycleView | null = null;
    for (let i = 0; i < 900 && view?.status !== 'AwaitingResolution'; i++) {
      await new Promise((r) => setTimeout(r, 200));
      view = await h.query(settlementStatus).catch(() => null);
    }
    // Rounded wins (each a mismatch the rule settles), split wins (one of ours and two of
    // theirs each, matched), and the missing bets (left for people).
    const splitIds = new Set(fx.split.map((s) => s.txId));
    const rounded = fx.rounded.filter((r) => !splitIds.has(r.txId)).length;
    const found = rounded + fx.split.length * 3 + missing.length;
    expect(found).toBeGreaterThanOrEqual(5_000);
    expect(view).toMatchObject({
      status: 'AwaitingResolution',
      exceptionsTotal: found,
      exceptionsOpen: missing.length,
    });

    const books = await stack.db.pool.query<{ actor: string; n: string }>(
      `SELECT actor, count(*)::text AS n FROM settlement_exceptions WHERE cycle_id = $1 AND resolved_at IS NOT NULL
        GROUP BY actor ORDER BY actor`,
      [id],
    );
    expect(books.rows).toEqual([
      { actor: 'matcher', n: String(fx.split.length * 3) },
      { actor: `rule:${p.id}:v1:rounding`, n: String(rounded) },
    ]);

    // The bulk resolution, all through the Temporal CLI and Clearhouse's codec (which seals a
    // decision with the identity of the token it is given).
    const token = await stack.tokenFor('ana', 'resolver');
    const codec = ['--codec-endpoint', `${stack.baseUrl}/codec`, '--codec-auth', `Bearer ${token}`];
    const filter = { kinds: ['missing_theirs'] };
    const preview = await temporalCli([
      ...codec,
      '-w',
      id,
      '--name',
      'previewBulkResolution',
      '--input',
      JSON.stringify({ workflowId: id, update: 'previewBulkResolution', filter }),
      '-o',
      'json',
    ]);
    expect(preview.stderr).toBe('');
    expect(preview.status).toBe(0);
    const previewed = JSON.parse(preview.stdout) as { result: { count: number; digest: string } };
    expect(previewed.result.count).toBe(missing.length);
    const applied = await temporalCli([
      ...codec,
      '-w',
      id,
      '--name',
      'resolveInBulk',
      '--input',
      JSON.stringify({
        workflowId: id,
        update: 'resolveInBulk',
        filter,
        resolution: 'accept_ours',
        reason: 'the provider dropped these bets from its report; our logs have them',
        digest: previewed.result.digest,
      }),
      '-o',
      'json',
    ]);
    expect(applied.stderr).toBe('');
    expect(applied.status).toBe(0);
    expect(JSON.parse(applied.stdout)).toMatchObject({
      result: { state: 'applied', count: missing.length, applied: missing.length, open: 0 },
    });
    expect((await h.result()).status).toBe('Completed');

    // Who decided, from the CLI, as the audit trail and the book record it.
    const audit = await stack.api(
      `/v1/audit?target=${encodeURIComponent(`${id}/exceptions`)}&action=settlement.resolveInBulk`,
    );
    expect((audit.body.events as any[]).map((e) => [e.actor, e.source])).toEqual([
      ['clearhouse#ana', 'temporal-cli'],
    ]);
    // The history: small, whatever the number of exceptions.
    const info = (await h.describe()).raw.workflowExecutionInfo!;
    // (The statement's issue and the payout's record added 6 events in issue 20.)
    expect(Number(info.historyLength)).toBeLessThan(165);
    expect(Number(info.historySizeBytes)).toBeLessThan(200_000);
    if (process.env.CLEARHOUSE_MEASURE)
      process.stdout.write(
        `${JSON.stringify({ exceptions: found, byRule: rounded, matched: fx.split.length * 3, bulk: missing.length, historyEvents: Number(info.historyLength), historyBytes: Number(info.historySizeBytes) })}\n`,
      );
  }, 600_000);
});
