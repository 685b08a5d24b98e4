import type { Browser, Locator, Page } from 'playwright-core';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { startFxServer, type SimulatedFx } from '../providers/simulated/fx-server';
import { toIngestItem } from '../providers/simulated/generator';
import {
  startJsonCursorProvider,
  type SimulatedProvider,
  type SimulatedTx,
} from '../providers/simulated/json-cursor-server';
import { resolveException, settlementStatus } from '../workflows/settlement';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { ARTIFACTS_DIR, launchBrowser, saveScreenshot } from './support/browser';
import { uniqueId } from './support/env';
import { onboardPartner, recordContract } from './support/partners';
import { sealed } from './support/decisions';
// @ts-expect-error plain JavaScript module (scripts/lib), no declarations
import { startUiGateway } from '../scripts/lib/ui-gateway.mjs';
import { startStack, type Stack } from './support/stack';

// The operator's path in the Temporal Web UI, in a real browser, as a person takes it: find the
// waiting cycle from a filtered workflow list, read what it waits for, send an Update the
// validator refuses and read why, resolve the exceptions, approve the payout twice, and see the
// cycle complete. Pointer clicks on what is visible; keyboard typing into the payload editor.
// CLEARHOUSE_SCREENSHOTS_DIR=docs/images saves the README's screenshots from this run.
// The Temporal UI as operators reach it: through the gateway that serves Clearhouse's codec and
// sign-in on the UI's origin (the dev server's --ui-codec-endpoint points there).
const UI_SERVER = process.env.CLEARHOUSE_TEST_TEMPORAL_UI_URL!;
const GATEWAY_PORT = Number(process.env.CLEARHOUSE_TEST_UI_GATEWAY_PORT);
let UI = '';
const SHOTS = process.env.CLEARHOUSE_SCREENSHOTS_DIR;
const DAY = '2026-11-20';
const WAIT_MS = 30_000;

const visible = (l: Locator) => l.waitFor({ state: 'visible', timeout: WAIT_MS });
const hidden = (l: Locator) => l.waitFor({ state: 'hidden', timeout: WAIT_MS });
async function waitUntil(check: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('operator path in the Temporal Web UI (real browser)', () => {
  let stack: Stack;
  let provider: SimulatedProvider;
  let fx: SimulatedFx;
  let browser: Browser;
  let gateway: { url: string; close: () => Promise<void> };
  beforeAll(async () => {
    fx = await startFxServer();
    stack = await startStack({ overrides: { FX_RATES_URL: fx.url } });
    gateway = (await startUiGateway({
      port: GATEWAY_PORT,
      uiTarget: UI_SERVER,
      apiTarget: stack.baseUrl,
    })) as {
      url: string;
      close: () => Promise<void>;
    };
    UI = gateway.url;
    provider = await startJsonCursorProvider();
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    await gateway?.close();
    await provider?.close();
    await fx?.close();
    await stack?.close();
  });

  /** A partner whose provider disagrees twice (one amount altered, one transaction missing). */
  async function cycleAwaitingAnOperator(): Promise<{ partnerId: string; workflowId: string }> {
    const p = await onboardPartner(stack, { timezone: 'Europe/London', settlementCurrency: 'EUR' });
    const txs: SimulatedTx[] = Array.from({ length: 12 }, (_, i) => ({
      id: `${p.id}-t${i}`,
      type: i % 4 === 3 ? 'win' : 'bet',
      roundId: `${p.id}-r${i >> 1}`,
      gameId: `game-${i % 2}`,
      currency: 'EUR',
      amountMinor: BigInt(5000 + i * 100),
      occurredAtMs: Date.parse(`${DAY}T12:00:00Z`) + i * 1000,
    }));
    const batch = { batchId: uniqueId('b'), transactions: txs.map((t) => toIngestItem(t, 'pl-1')) };
    expect((await stack.api('/v1/transactions', { body: batch, token: p.apiKey })).status).toBe(200);
    provider.setTransactions(txs);
    provider.setFaults({ altered: { [txs[2]!.id]: txs[2]!.amountMinor + 135n }, missing: [txs[5]!.id] });
    await stack.db.pool.query(
      `INSERT INTO partner_providers (partner_id, format, base_url) VALUES ($1, 'json-cursor', $2)`,
      [p.id, provider.url],
    );
    const contract = await recordContract(stack, p.id, 1, {
      effectiveFrom: '2026-01-01',
      terms: {
        base: 'ggr',
        tiers: [{ upToMinor: null, rate: '0.10' }],
        tierMode: 'marginal',
        negativeBase: 'carry_forward',
        jackpots: 'exclude',
        settlement: { period: 'daily', cutoffGraceMinutes: 0, payoutApprovalThresholdMinor: '0' },
      },
    });
    expect(contract.status).toBe(200);
    const started = await stack.api('/v1/settlements', { body: { partnerId: p.id, periodStart: DAY } });
    expect(started.status).toBe(202);
    const workflowId = started.body.id as string;
    const handle = stack.temporal.workflow.getHandle(workflowId);
    for (let i = 0; i < 300; i++) {
      if ((await handle.query(settlementStatus)).status === 'AwaitingResolution') break;
      await new Promise((r) => setTimeout(r, 200));
    }
    expect((await handle.query(settlementStatus)).status).toBe('AwaitingResolution');
    return { partnerId: p.id, workflowId };
  }

  /** Reloads the page until `target` shows, as a person waiting for the list to catch up would. */
  async function refreshUntilVisible(page: Page, target: Locator, timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        return await target.waitFor({ state: 'visible', timeout: 5000 });
      } catch (err) {
        if (Date.now() > deadline) throw err;
        await page.reload();
      }
    }
  }

  /**
   * More Actions → Send an Update → pick the Update → type over the one JSON object → click the
   * "Data" label (the README's tip: the editor reformats the JSON when it loses focus, and the
   * dialog grows; clicking Submit while that happens is swallowed) → click Submit once.
   */
  async function sendUpdate(page: Page, name: string, payload: object): Promise<Locator> {
    await page.getByRole('button', { name: 'More Actions' }).click();
    await page.getByRole('menuitem', { name: 'Send an Update' }).click();
    const dialog = page.locator('dialog[open]');
    await dialog.getByTestId('update-select-button').click();
    await dialog.getByRole('option', { name: new RegExp(`^\\s*${name}`) }).click();
    const editor = dialog.locator('.cm-content');
    await editor.click();
    // The dialog keeps the last payload sent: select it all and type over it (README tip).
    await page.keyboard.press('ControlOrMeta+A');
    await page.keyboard.press('Backspace');
    await page.keyboard.type(JSON.stringify(payload));
    await dialog.getByText('Data', { exact: true }).click();
    // Reformatted over several lines: the dialog has its final size and Submit stays put.
    await waitUntil(async () => (await editor.innerText()).includes('\n'), 'the payload editor to reformat');
    await dialog.getByTestId('confirm-modal-button').click();
    return dialog;
  }

  it('finds the waiting cycle, sees a refusal without a stack trace, resolves, approves twice, and sees it complete', async () => {
    const { partnerId, workflowId } = await cycleAwaitingAnOperator();
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    /** Signs the browser in as a demo operator on the UI's own origin, as a person would. */
    const signInAs = async (name: string) => {
      await page.goto(`${UI}/clearhouse/codec/sign-in`);
      await page.getByRole('button', { name: new RegExp(`^Sign in as ${name} `) }).click();
      await visible(page.getByRole('heading', { name: `Signed in as ${name}` }));
    };
    const openCycle = async () => {
      await page.goto(`${UI}/namespaces/default/workflows/${encodeURIComponent(workflowId)}`);
      await visible(page.getByRole('button', { name: 'More Actions' }));
    };
    try {
      await signInAs('ana');
      // 1. The saved filter: cycles of this partner waiting for a resolution.
      const query = `PartnerId = "${partnerId}" AND SettlementStatus = "AwaitingResolution"`;
      await page.goto(`${UI}/namespaces/default/workflows?query=${encodeURIComponent(query)}`);
      const link = page.getByRole('link', { name: workflowId, exact: true });
      await refreshUntilVisible(page, link);
      if (SHOTS) await saveScreenshot(page, 'operator-1-waiting-cycles', SHOTS);
      await link.click();

      // 2. What it waits for, and until when; the timeline's labels say what each timer is.
      await visible(page.getByText('reminder 1 (every 4h; escalated after 3)').first());
      await page.getByText('User Metadata', { exact: true }).click();
      // The UI renders Current Details (markdown) in a sandboxed frame.
      const details = page.locator('iframe#user-metadata-current-details').contentFrame();
      await visible(details.getByText(/waiting for operators to resolve 2 exception\(s\)/));
      await visible(details.getByText(/next reminder at 2026-\d\d-\d\d \d\d:\d\d Europe\/London/));
      if (SHOTS) await saveScreenshot(page, 'operator-2-current-details', SHOTS);

      // 3. A decision typed as before, with a name and no target: refused, saying how to send it.
      let dialog = await sendUpdate(page, 'resolveException', {
        exceptionId: 'x',
        resolution: 'accept_ours',
        reason: 'checked',
        operator: 'mallory',
      });
      await visible(dialog.getByRole('alert').filter({ hasText: 'not sealed' }));
      await dialog.getByTestId('cancel-modal-button').click();
      await hidden(dialog);

      // A sealed payload the validator refuses: its message, and nothing of our source.
      const target = (update: string) => ({ workflowId, update });
      dialog = await sendUpdate(page, 'resolveException', {
        ...target('resolveException'),
        exceptionId: 'no-such-exception',
        resolution: 'accept_ours',
        reason: 'checked',
      });
      const refusal = dialog.getByRole('alert').filter({ hasText: 'unknown exceptionId' });
      await visible(refusal);
      const text = await dialog.innerText();
      expect(text).not.toMatch(/\.ts:\d+|\bat \w+ \(|workflows\//);
      if (SHOTS) await saveScreenshot(page, 'operator-3-refused-update', SHOTS);
      // The refusal names the open exceptions: the operator takes the ids from there.
      const ids = /open ones: (.+)$/.exec((await refusal.innerText()).trim())![1]!.split(', ');
      expect(ids).toHaveLength(2);
      await dialog.getByTestId('cancel-modal-button').click();
      await hidden(dialog);

      // 4. Resolve both; each one click of Submit sends it and closes the dialog.
      for (const [i, exceptionId] of ids.entries()) {
        dialog = await sendUpdate(page, 'resolveException', {
          ...target('resolveException'),
          exceptionId,
          resolution: i === 0 ? 'accept_ours' : 'write_off',
          reason: 'checked against our round log',
        });
        await hidden(dialog);
      }
      const detailsTab = page.getByText('User Metadata', { exact: true });
      const payoutWait = page
        .locator('iframe#user-metadata-current-details')
        .contentFrame()
        .getByText(/waiting for 2 different operators to approve the payout/);
      await refreshUntilVisible(page, detailsTab);
      await detailsTab.click();
      await refreshUntilVisible(page, payoutWait);

      // 5. Maker-checker between signed-in people: ana approves; ana again is refused whatever
      // name she types; signed in as bo, the payout completes.
      for (const [operator, refused] of [
        ['ana', false],
        ['ana', true],
        ['bo', false],
      ] as const) {
        if (operator === 'bo') {
          await signInAs('bo');
          await openCycle();
        }
        dialog = await sendUpdate(page, 'approvePayout', { ...target('approvePayout'), comment: 'Ana' });
        if (refused) {
          await visible(dialog.getByRole('alert').filter({ hasText: 'already approved' }));
          await dialog.getByTestId('cancel-modal-button').click();
        }
        await hidden(dialog);
      }
      await refreshUntilVisible(page, page.getByText('Completed', { exact: true }).first());
      // The timeline of the completed cycle: each step under its label.
      await page.getByText('Timeline', { exact: true }).first().click();
      await visible(page.getByText(/signed webhook to the partner/).first());
      if (SHOTS) await saveScreenshot(page, 'operator-4-completed', SHOTS);
      const result = await stack.temporal.workflow.getHandle(workflowId).result();
      expect(result.status).toBe('Completed');
      expect(result.approvals).toEqual([
        { actor: 'clearhouse#ana', name: 'ana' },
        { actor: 'clearhouse#bo', name: 'bo' },
      ]);
      // The exceptions the UI resolved are in the book, each by the sealed actor.
      const book = await stack.api(`/v1/exceptions?settlementId=${encodeURIComponent(workflowId)}`);
      expect(result.exceptionsOpen).toBe(0);
      expect(book.body.exceptions.map((e: any) => e.actor)).toEqual(['clearhouse#ana', 'clearhouse#ana']);
      // Decisions made in the UI are in the audit trail: the sealed actors, source temporal-ui
      // (signed in the seal), and the client identity the history records for the Update.
      const audit = await stack.api(
        `/v1/audit?target=${encodeURIComponent(workflowId)}&action=settlement.approvePayout`,
      );
      expect(
        (audit.body.events as any[])
          .map((e) => [e.actor, e.source, typeof e.details.clientIdentity])
          .reverse(),
      ).toEqual([
        ['clearhouse#ana', 'temporal-ui', 'string'],
        ['clearhouse#bo', 'temporal-ui', 'string'],
      ]);
    } catch (err) {
      const name = `operator-ui-failure-${Date.now()}`;
      await saveScreenshot(page, name).catch(() => {});
      await page
        .content()
        .then((html) => writeFileSync(path.join(ARTIFACTS_DIR, `${name}.html`), html))
        .catch(() => {});
      throw err;
    } finally {
      await page.close();
    }
  }, 240_000);

  it('refuses an Update with only the reason: no stack trace or source path reaches any client', async () => {
    const { workflowId } = await cycleAwaitingAnOperator();
    const err: unknown = await stack.temporal.workflow
      .getHandle(workflowId)
      .executeUpdate(resolveException, {
        args: [
          sealed(
            stack.config,
            'ana',
            { workflowId, decision: 'resolveException' },
            { exceptionId: 'x', resolution: 'accept_ours', reason: 'r' },
          ) as never,
        ],
      })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkflowUpdateFailedError);
    const cause = (err as WorkflowUpdateFailedError).cause!;
    expect(cause.message).toMatch(/^unknown exceptionId x; open ones: /);
    expect(cause.stack ?? '').not.toMatch(/\.ts:\d+|settlement/);
  }, 120_000);
});
