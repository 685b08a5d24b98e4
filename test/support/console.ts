import { readFileSync } from 'node:fs';
import type { Locator, Page } from 'playwright-core';

// Helpers of the console's browser test (test/console.test.ts): waiting as a person would,
// and the accessibility check (axe-core from npm, run inside the page).

export const WAIT_MS = 20_000;

export const visible = (l: Locator, timeout = WAIT_MS) => l.waitFor({ state: 'visible', timeout });

/** Waits until the console's router has rendered its page (main no longer busy). */
export const rendered = (page: Page) =>
  // A locator, not waitForFunction: that one evaluates a string inside the page, which the
  // console's CSP (no 'unsafe-eval') refuses.
  page.locator('main#view:not([aria-busy])').waitFor({ state: 'attached', timeout: WAIT_MS });

let axeSource: string | null = null;

export interface AxeFinding {
  id: string;
  impact: string | null;
  tags: string[];
  help: string;
  nodes: string[];
}

/**
 * axe-core on the page as it is: the WCAG 2.0/2.1 A and AA rules (runOnly tags wcag2a, wcag2aa,
 * wcag21a, wcag21aa), plus any violation of the full rule set with impact serious or critical.
 *
 * How axe gets in: the console's CSP (`script-src 'self'`) refuses a script element with inline
 * content, which is what `page.addScriptTag({ path })` adds; so axe's source is evaluated through
 * the DevTools protocol (page.evaluate), which the page's CSP does not govern. No bypassCSP: the
 * console itself runs under its real policy throughout the test.
 */
export async function axeViolations(page: Page): Promise<AxeFinding[]> {
  if (!(await page.evaluate(`typeof window.axe === 'object'`))) {
    axeSource ??= readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
    await page.evaluate(axeSource);
  }
  return page.evaluate(`(async () => {
    const pick = (v) => ({
      id: v.id,
      impact: v.impact,
      tags: v.tags,
      help: v.help,
      nodes: v.nodes.slice(0, 5).map((n) => JSON.stringify(n.target) + ' ' + (n.failureSummary || '')),
    });
    const wcag = await window.axe.run(document, {
      runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] },
      resultTypes: ['violations'],
    });
    const all = await window.axe.run(document, { resultTypes: ['violations'] });
    const serious = all.violations.filter(
      (v) => (v.impact === 'serious' || v.impact === 'critical') && !wcag.violations.some((w) => w.id === v.id),
    );
    return [...wcag.violations, ...serious].map(pick);
  })()`);
}
