import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { raiseAlert } from '../db/alerts';
import { toIngestItem } from '../providers/simulated/generator';
import {
  startJsonCursorProvider,
  type SimulatedProvider,
  type SimulatedTx,
} from '../providers/simulated/json-cursor-server';
import { ARTIFACTS_DIR, launchBrowser, saveScreenshot } from './support/browser';
import { axeViolations, rendered, visible, WAIT_MS, type AxeFinding } from './support/console';
import { uniqueId } from './support/env';
import { onboardPartner } from './support/partners';
import { settlingPartner } from './support/settlement';
import { startStack, type Stack } from './support/stack';

// The console in a real browser (headless Chromium driven by playwright-core), as a person uses
// it: signed out, /console sends to the sign-in; one click signs ana in (development); the
// overview; a partner's figure followed by pointer clicks down to one transaction; a cycle and
// its link to the Temporal UI; an alert acknowledged with a note (shown, and in the audit
// trail); the accessibility check (axe-core, WCAG 2.1 A/AA) on every page visited; then a
// partner user, invited through the API, who sees its own figures and nothing of anyone else's.
// Everything runs under the console's real content-security policy: a violation fails the test.
// CLEARHOUSE_SCREENSHOTS_DIR=docs/images saves the README's screenshots from this run.

const SHOTS = process.env.CLEARHOUSE_SCREENSHOTS_DIR;
const UI_SERVER = process.env.CLEARHOUSE_TEST_TEMPORAL_UI_URL!;
const VIEWPORT = { width: 1280, height: 800 };

const isoDay = (ms: number) => new Date(ms).toISOString().slice(0, 10);

describe('the console (real browser)', () => {
  let stack: Stack;
  let provider: SimulatedProvider;
  let browser: Browser;
  // Partner A (the one drilled into, and whose user signs in) and partner B (never shown to A).
  let a: { id: string; apiKey: string };
  let b: { id: string; apiKey: string };
  const A_NAME = 'Aurora Play Ltd';
  const B_NAME = 'Borealis Gaming Ltd';
  const today = isoDay(Date.now());
  const yesterday = isoDay(Date.now() - 86_400_000);
  let cycleId: string;
  let integrityAlertId: string;
  let aOperationalAlertId: string;
  let drillTx: SimulatedTx;

  beforeAll(async () => {
    provider = await startJsonCursorProvider();
    stack = await startStack({ overrides: { TEMPORAL_UI_URL: UI_SERVER } });

    // A: yesterday's business day settled through a cycle (its provider reports the same), and
    // some of today's play.
    const settled: SimulatedTx[] = Array.from({ length: 12 }, (_, i) => ({
      id: uniqueId(`a${i}`),
      type: i % 3 === 2 ? 'win' : 'bet',
      roundId: `ra-${i >> 1}`,
      gameId: `game-${i % 2}`,
      currency: 'EUR',
      amountMinor: BigInt(1000 + i * 125),
      occurredAtMs: Date.parse(`${yesterday}T10:00:00Z`) + i * 60_000,
    }));
    drillTx = settled[0]!;
    provider.setTransactions(settled);
    const [partnerA, partnerB] = await Promise.all([
      settlingPartner(stack, provider, settled),
      onboardPartner(stack, { timezone: 'UTC', settlementCurrency: 'EUR' }),
    ]);
    a = partnerA;
    b = partnerB;
    await stack.db.pool.query('UPDATE partners SET name = $2 WHERE id = $1', [a.id, A_NAME]);
    await stack.db.pool.query('UPDATE partners SET name = $2 WHERE id = $1', [b.id, B_NAME]);

    const now = Date.now();
    const todayOf = (prefix: string, n: number): SimulatedTx[] =>
      Array.from({ length: n }, (_, i) => ({
        id: uniqueId(`${prefix}${i}`),
        type: i % 2 === 1 ? 'win' : 'bet',
        roundId: `${prefix}-r${i >> 1}`,
        gameId: 'game-0',
        currency: 'EUR',
        amountMinor: BigInt(2000 - i * 150),
        // Within today's business day (UTC) and the last hour, whatever the time now.
        occurredAtMs: Math.max(Date.parse(`${today}T00:00:00Z`), now - 30 * 60_000) + i * 1000,
      }));
    for (const [p, prefix] of [
      [a, 'at'],
      [b, 'bt'],
    ] as const) {
      const body = { batchId: uniqueId('b'), transactions: todayOf(prefix, 6).map((t) => toIngestItem(t)) };
      const res = await stack.api('/v1/transactions', { body, token: p.apiKey });
      expect(res.status).toBe(200);
    }

    // A's cycle for yesterday (the statement page and its Temporal UI link).
    const started = await stack.api('/v1/settlements', { body: { partnerId: a.id, periodStart: yesterday } });
    expect(started.status).toBe(202);
    cycleId = started.body.id as string;

    // A canonical game mapped to A's game-0 (an admin's two calls).
    const game = await stack.api('/v1/canonical-games/book-of-sun', {
      method: 'PUT',
      body: {
        name: 'Book of Sun',
        studio: 'Sunrise Studio',
        theoreticalRtp: '0.96',
        stdDev: '8.5',
        jackpotContributionRate: '0',
      },
    });
    expect([200, 201]).toContain(game.status);
    const mapped = await stack.api(`/v1/partners/${a.id}/game-mappings`, {
      method: 'PUT',
      body: { mappings: [{ gameId: 'game-0', canonicalId: 'book-of-sun' }] },
    });
    expect(mapped.status).toBe(200);

    // Alerts as the watch raises them: an integrity one about A (operators only), an
    // operational one about A (A's users see it) and one about B (A's users never do).
    const window = { windowStart: `${yesterday}T00:00:00Z`, windowEnd: `${today}T00:00:00Z` };
    integrityAlertId = (
      await raiseAlert(stack.db.pool, {
        kind: 'rtp_drift',
        dedupKey: `rtp_drift:book-of-sun:${a.id}`,
        partnerId: a.id,
        subject: 'game:book-of-sun',
        severity: 'critical',
        disclosure: 'integrity',
        title: 'Book of Sun pays above its band',
        evidence: {
          explanation: 'observed RTP 104.1% against 96.0% (z = 4.2, threshold 3)',
          query: 'SELECT sum(win_minor), sum(bet_minor) FROM positions WHERE …',
          observedRtp: 1.041,
          z: 4.2,
        },
        ...window,
      })
    ).id;
    aOperationalAlertId = (
      await raiseAlert(stack.db.pool, {
        kind: 'late_report',
        dedupKey: `late_report:${a.id}:${yesterday}`,
        partnerId: a.id,
        subject: `partner:${a.id}`,
        severity: 'warning',
        disclosure: 'operational',
        title: `Provider report for ${yesterday} is late`,
        evidence: { explanation: 'no report 30 minutes after the cut-off', query: 'SELECT …' },
        ...window,
      })
    ).id;
    await raiseAlert(stack.db.pool, {
      kind: 'late_report',
      dedupKey: `late_report:${b.id}:${yesterday}`,
      partnerId: b.id,
      subject: `partner:${b.id}`,
      severity: 'warning',
      disclosure: 'operational',
      title: `Borealis report for ${yesterday} is late`,
      evidence: { explanation: 'no report', query: 'SELECT …' },
      ...window,
    });

    // The cycle's record is in Postgres once its workflow started.
    for (let i = 0; i < 100; i++) {
      if ((await stack.api(`/v1/settlements/${encodeURIComponent(cycleId)}/record`)).status === 200) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    browser = await launchBrowser();
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await stack?.close();
    await provider?.close();
  });

  /** Fails on any CSP violation the page reports (the console runs under its real policy). */
  function watchCsp(page: Page, violations: string[]): void {
    page.on('console', (msg) => {
      const text = msg.text();
      if (/Content Security Policy|Refused to (load|apply|execute|connect)/i.test(text))
        violations.push(text);
    });
    page.on('pageerror', (err) => violations.push(`page error: ${err.message}`));
  }

  const axeReport: Record<string, AxeFinding[]> = {};
  /** The accessibility check of the page as it is now; every finding is kept for the report. */
  async function checkA11y(page: Page, name: string): Promise<void> {
    const found = await axeViolations(page);
    axeReport[name] = found;
    expect({ page: name, violations: found }).toEqual({ page: name, violations: [] });
  }

  /** Waits until the page's main heading shows (the route rendered) and checks it. */
  async function arrived(page: Page, heading: string | RegExp, name: string): Promise<void> {
    await visible(page.getByRole('heading', { level: 1, name: heading }));
    await rendered(page);
    await checkA11y(page, name);
  }

  /** What has the keyboard focus: its text (or label), id, and whether a focus outline shows. */
  function focused(page: Page): Promise<{ text: string; id: string; outline: boolean }> {
    return page.evaluate(`(() => {
      const el = document.activeElement;
      const style = getComputedStyle(el);
      const label = el.labels && el.labels[0] ? el.labels[0].textContent : '';
      return {
        text: (label || el.textContent || '').trim().slice(0, 200),
        id: el.id,
        outline: style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0,
      };
    })()`);
  }

  /** Presses Tab (Shift+Tab backwards) until the focus is on `text`, as a keyboard user would. */
  async function tabTo(page: Page, text: string, backwards = false): Promise<void> {
    for (let i = 0; i < 80; i++) {
      const now = await focused(page);
      if (now.text === text) {
        expect({ text, outline: now.outline }).toEqual({ text, outline: true });
        return;
      }
      await page.keyboard.press(backwards ? 'Shift+Tab' : 'Tab');
    }
    throw new Error(`Tab never reached ${text}`);
  }

  async function failureArtifacts(page: Page, name: string): Promise<void> {
    const file = `${name}-${Date.now()}`;
    await saveScreenshot(page, file).catch(() => {});
    await page
      .content()
      .then((html) => writeFileSync(path.join(ARTIFACTS_DIR, `${file}.html`), html))
      .catch(() => {});
  }

  it('signs ana in, follows a figure to a transaction and a cycle to the Temporal UI, acknowledges an alert; then a partner user sees only its own', async () => {
    const context: BrowserContext = await browser.newContext({ viewport: VIEWPORT, acceptDownloads: true });
    const page = await context.newPage();
    const csp: string[] = [];
    watchCsp(page, csp);
    const base = stack.baseUrl;
    try {
      // 1. Signed out, the console sends to the sign-in; one click signs ana in.
      await page.goto(`${base}/console`);
      await page.waitForURL(/\/console\/sign-in/, { timeout: WAIT_MS });
      await checkA11y(page, 'sign-in');
      await page.getByRole('button', { name: /^Sign in as ana\b/ }).click();
      await arrived(page, 'Overview', 'overview (operator)');

      // 2. The overview: A's figures, equal to the API's.
      const revenue = page.locator('table', {
        has: page.locator('caption', { hasText: 'GGR and NGR (before gaming tax) per partner' }),
      });
      const rowA = revenue.getByRole('row').filter({ hasText: a.id });
      await visible(rowA.first());
      await visible(revenue.getByRole('row').filter({ hasText: b.id }).first());
      const monthStart = `${today.slice(0, 8)}01`;
      const api = await stack.api(
        `/v1/insights/revenue?from=${monthStart}&to=${today}&groupBy=partner&partnerId=${a.id}`,
      );
      expect(api.status).toBe(200);
      const eur = (api.body.rows as any[]).find((r) => r.currency === 'EUR');
      const shown = (s: string) =>
        `${s.startsWith('-') ? '−' : ''}${s.replace(/^-/, '').replace(/\B(?=(\d{3})+(?!\d))/g, ',')} EUR`;
      const periodGgr = rowA.first().getByRole('cell').nth(4).getByRole('link');
      await expect(periodGgr.innerText()).resolves.toBe(shown(eur.ggr));
      await visible(page.getByRole('link', { name: 'Book of Sun pays above its band' }));
      if (SHOTS) await saveScreenshot(page, 'console-1-overview', SHOTS);

      // 3. Down to one transaction, by pointer clicks: partner → business day → game → transaction.
      await periodGgr.click();
      await arrived(page, new RegExp(A_NAME), 'partner');
      await page.getByRole('link', { name: yesterday, exact: true }).first().click();
      await arrived(page, new RegExp(`business day ${yesterday}`), 'business day');
      await page.getByRole('link', { name: drillTx.gameId, exact: true }).first().click();
      await arrived(page, new RegExp(`${drillTx.gameId} on ${yesterday}`), 'game of the day');
      if (SHOTS) await saveScreenshot(page, 'console-2-drill-down', SHOTS);
      await page.getByRole('link', { name: drillTx.id, exact: true }).click();
      await arrived(page, `Transaction ${drillTx.id}`, 'transaction');

      // 4. The cycle: from the cycles list to its record, and its link to the Temporal UI.
      await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Cycles' }).click();
      await arrived(page, 'Settlement cycles', 'cycles');
      await page.getByRole('link', { name: cycleId, exact: true }).first().click();
      await arrived(page, new RegExp(cycleId.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')), 'cycle');
      const toTemporal = page.getByRole('link', { name: /Temporal UI/ }).first();
      await visible(toTemporal);
      const href = (await toTemporal.getAttribute('href'))!;
      expect(
        href.startsWith(`${UI_SERVER}/namespaces/default/workflows/${encodeURIComponent(cycleId)}`),
      ).toBe(true);
      const ui = await context.newPage();
      try {
        await ui.goto(href);
        await visible(ui.getByText(cycleId).first(), 30_000);
      } finally {
        await ui.close();
      }

      // 5. An alert acknowledged with a note — by keyboard alone, from the skip link on: shown
      // afterwards, and in the audit trail.
      await page.reload(); // a fresh page: the keyboard starts at its top
      await visible(page.getByRole('heading', { level: 1 }));
      await rendered(page);
      await page.keyboard.press('Tab');
      expect(await focused(page)).toMatchObject({ text: 'Skip to content', outline: true });
      await page.keyboard.press('Enter');
      expect(await focused(page)).toMatchObject({ id: 'view' });
      await page.keyboard.press('Shift+Tab'); // back into the header: to the nav's Alerts link
      await tabTo(page, 'Alerts', true);
      await page.keyboard.press('Enter');
      await arrived(page, 'Alerts', 'alerts');
      expect(await focused(page)).toMatchObject({ id: 'view' }); // focus moved to the new page
      await tabTo(page, 'Book of Sun pays above its band');
      await page.keyboard.press('Enter');
      await arrived(page, 'Book of Sun pays above its band', 'alert');
      const note = 'Checked the maths sheet: the studio confirmed a promotion; watching.';
      await tabTo(page, 'Note');
      await page.keyboard.type(note);
      await tabTo(page, 'Acknowledge');
      await page.keyboard.press('Enter');
      await visible(page.getByText(/Acknowledged by ana/));
      await visible(page.getByText(note));
      await checkA11y(page, 'alert (acknowledged)');
      const audit = await stack.api(
        `/v1/audit?target=${encodeURIComponent(`/v1/alerts/${integrityAlertId}/acknowledgement`)}`,
      );
      expect(audit.status).toBe(200);
      expect((audit.body.events as any[]).map((e) => e.actor)).toEqual(['clearhouse#ana']);

      // 6. The operators' other pages, each checked.
      for (const [link, heading, name] of [
        ['Exceptions', 'Exceptions', 'exceptions'],
        ['Partners', 'Partners', 'partners'],
        ['Ledger', 'Ledger accounts', 'ledger accounts'],
        ['Audit', 'Audit trail', 'audit'],
        ['Games & RTP', 'Games and RTP', 'games'],
      ] as const) {
        await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: link }).click();
        await arrived(page, heading, name);
      }
      await page.getByRole('link', { name: 'book-of-sun', exact: true }).first().click();
      await arrived(page, 'Book of Sun', 'game RTP');

      // 6b. After the statement: periods (none closed yet: the empty list, then A's month by its
      // address), restatements, disputes and payouts, each with its empty state.
      await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Periods' }).click();
      await arrived(page, 'Accounting periods', 'periods');
      await visible(page.getByText('No period matches', { exact: false }));
      const month = yesterday.slice(0, 7);
      await page.getByLabel('Partner of the month').fill(a.id);
      await page.getByLabel('Month (YYYY-MM)').fill(month);
      await page.getByRole('button', { name: 'Open the month' }).click();
      await arrived(page, `Period ${month} of ${a.id}`, 'period');
      const period = await stack.api(`/v1/periods/${a.id}/${month}`);
      expect(period.status).toBe(200);
      await visible(page.getByRole('heading', { level: 2, name: 'Period report' }));
      for (const c of period.body.report.currencies as { currency: string }[])
        await visible(page.locator('caption', { hasText: `${c.currency}: opening, movements by kind` }));
      for (const [link, heading, empty, name] of [
        ['Restatements', 'Restatements', 'No restatement matches.', 'restatements'],
        ['Disputes', 'Disputes', 'No dispute waits for a decision.', 'disputes'],
        ['Payouts', 'Payouts', null, 'payouts'],
      ] as const) {
        await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: link }).click();
        await arrived(page, heading, name);
        if (empty) await visible(page.getByText(empty));
      }

      // 7. Signed out.
      await page.getByRole('button', { name: 'Sign out' }).click();
      await page.waitForURL(/\/console\/sign-in/, { timeout: WAIT_MS });

      // 8. A partner user of A, invited through the API; sets a password, signs out, signs in.
      const invited = await stack.api(`/v1/partners/${a.id}/users`, {
        body: { login: 'fiona.aurora', displayName: 'Fiona Finance', roles: ['admin'] },
      });
      expect(invited.status).toBe(201);
      const invitation = new URL(invited.body.invitation.url as string, base);
      await page.goto(`${base}${invitation.pathname}${invitation.search}`);
      await checkA11y(page, 'invitation');
      const password = 'correct horse battery staple';
      await page.getByLabel('New password').fill(password);
      await page.getByLabel('Repeat the password').fill(password);
      await page.getByRole('button', { name: /Set the password/ }).click();
      await visible(page.getByRole('heading', { level: 1, name: /Overview/ }));
      await page.getByRole('button', { name: 'Sign out' }).click();
      await page.waitForURL(/\/console\/sign-in/, { timeout: WAIT_MS });
      await page.getByLabel('Login').fill('fiona.aurora');
      await page.getByLabel('Password', { exact: true }).fill(password);
      await page.getByRole('button', { name: 'Sign in', exact: true }).click();
      await arrived(page, /Overview/, 'overview (partner)');

      // What a partner user must never see: the other partner, operators' names and notes.
      const forbidden = [
        b.id,
        B_NAME,
        'Borealis',
        note,
        /\bana\b/,
        'clearhouse#',
        'contract-approver',
        'test-approver',
      ];
      const onlyItsOwn = async (where: string) => {
        const text = await page.locator('body').innerText();
        for (const f of forbidden) {
          const leaked = typeof f === 'string' ? text.includes(f) : f.test(text);
          if (leaked) throw new Error(`${where}: the partner's page shows ${String(f)}`);
        }
      };

      const revenueRows = page
        .locator('table', {
          has: page.locator('caption', { hasText: 'GGR and NGR (before gaming tax) per partner' }),
        })
        .getByRole('row')
        .filter({ hasText: A_NAME });
      await visible(revenueRows.first());
      await onlyItsOwn('overview');
      const nav = page.getByRole('navigation', { name: 'Main' });
      for (const operatorOnly of ['Audit', 'Ledger', 'Games & RTP'])
        expect(await nav.getByRole('link', { name: operatorOnly }).count()).toBe(0);
      if (SHOTS) await saveScreenshot(page, 'console-3-partner-overview', SHOTS);

      // The CSV export of a table holds its rows only.
      const download = page.waitForEvent('download', { timeout: WAIT_MS });
      await page
        .locator('.paged-table', {
          has: page.locator('caption', { hasText: 'GGR and NGR (before gaming tax) per partner' }),
        })
        .getByRole('button', { name: 'Export CSV' })
        .click();
      const csv = readFileSync(await (await download).path(), 'utf8');
      expect(csv).toContain(a.id);
      expect(csv).not.toContain(b.id);

      // Down the same path, its own figures only.
      await nav.getByRole('link', { name: 'Figures' }).click();
      await arrived(page, new RegExp(A_NAME), 'partner (partner user)');
      await onlyItsOwn('partner');
      await page.getByRole('link', { name: yesterday, exact: true }).first().click();
      await arrived(page, new RegExp(`business day ${yesterday}`), 'business day (partner user)');
      await page.getByRole('link', { name: drillTx.gameId, exact: true }).first().click();
      await arrived(page, new RegExp(`${drillTx.gameId} on ${yesterday}`), 'game of the day (partner user)');
      await page.getByRole('link', { name: drillTx.id, exact: true }).click();
      await arrived(page, `Transaction ${drillTx.id}`, 'transaction (partner user)');
      await onlyItsOwn('transaction');

      await nav.getByRole('link', { name: 'Cycles' }).click();
      await arrived(page, 'Settlement cycles', 'cycles (partner user)');
      await page.getByRole('link', { name: cycleId, exact: true }).first().click();
      await arrived(page, new RegExp(cycleId.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')), 'cycle (partner user)');
      await onlyItsOwn('cycle');
      expect(await page.getByRole('link', { name: /Temporal UI/ }).count()).toBe(0);

      await nav.getByRole('link', { name: 'Exceptions' }).click();
      await arrived(page, 'Exceptions', 'exceptions (partner user)');
      await onlyItsOwn('exceptions');

      await nav.getByRole('link', { name: 'Disputes' }).click();
      await arrived(page, 'Disputes', 'disputes (partner user)');
      expect(await page.getByRole('columnheader', { name: 'Partner', exact: true }).count()).toBe(0);
      expect(await page.getByLabel('Partner id').count()).toBe(0);
      await onlyItsOwn('disputes');

      await nav.getByRole('link', { name: 'Alerts' }).click();
      await arrived(page, 'Alerts', 'alerts (partner user)');
      await visible(page.getByRole('link', { name: `Provider report for ${yesterday} is late` }));
      expect(await page.getByRole('link', { name: 'Book of Sun pays above its band' }).count()).toBe(0);
      await onlyItsOwn('alerts');
      await page.getByRole('link', { name: `Provider report for ${yesterday} is late` }).click();
      await arrived(page, `Provider report for ${yesterday} is late`, 'alert (partner user)');
      expect(await page.getByRole('button', { name: 'Acknowledge' }).count()).toBe(0);
      await onlyItsOwn('alert');
      expect(aOperationalAlertId).toBeTruthy();

      // Operator-only pages answer "not available"; another partner's page as a missing one.
      for (const [url, name] of [
        ['/console/audit', 'audit'],
        ['/console/ledger/accounts', 'ledger'],
        ['/console/games', 'games'],
      ] as const) {
        await page.goto(`${base}${url}`);
        await arrived(page, 'Not available', `${name} (partner user)`);
      }
      await page.goto(`${base}/console/partners/${b.id}`);
      await arrived(page, /Not found|Not available/, 'other partner (partner user)');
      await onlyItsOwn('other partner');

      expect(csp).toEqual([]);
    } catch (err) {
      await failureArtifacts(page, 'console-failure');
      throw err;
    } finally {
      // The accessibility findings of every page, for the record (empty when all pass).
      mkdirSync(ARTIFACTS_DIR, { recursive: true });
      writeFileSync(path.join(ARTIFACTS_DIR, 'console-axe.json'), JSON.stringify(axeReport, null, 2));
      await context.close();
    }
  }, 150_000);

  it('serves the console under its content-security policy, the three vendor files and nothing else from node_modules', async () => {
    const index = await fetch(`${stack.baseUrl}/console/partners/anything`);
    expect(index.status).toBe(200);
    expect(index.headers.get('content-security-policy')).toBe(
      "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    );
    expect(await index.text()).toContain('<main id="view"');
    for (const file of ['uPlot.iife.min.js', 'uPlot.min.css', 'chart.umd.min.js']) {
      const res = await fetch(`${stack.baseUrl}/console/vendor/${file}`);
      expect(res.status).toBe(200);
      await res.arrayBuffer();
    }
    for (const probe of [
      '/console/vendor/',
      '/console/vendor/package.json',
      '/console/vendor/..%2F..%2Fpackage.json',
      '/console/vendor/uPlot.esm.js',
      '/console/assets/nothing.js',
      '/console/assets/..%2F..%2Fpackage.json',
    ]) {
      const res = await fetch(`${stack.baseUrl}${probe}`);
      expect({ probe, status: res.status }).toEqual({ probe, status: 404 });
      await res.arrayBuffer();
    }
    // The sign-in's own paths are never the app.
    const signOut = await fetch(`${stack.baseUrl}/console/sign-out`);
    expect(signOut.status).not.toBe(200);
    await signOut.arrayBuffer();
  });
});
