import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';

// A real Chromium (Debian's package; never a browser download) driven by playwright-core.
// `.ci/run` installs it when missing; CHROMIUM_PATH points elsewhere.
const CANDIDATES = [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser'];

export function chromiumPath(): string {
  const found = CANDIDATES.find((p): p is string => !!p && existsSync(p));
  if (!found) {
    throw new Error('no Chromium: install Debian package chromium (.ci/run does) or set CHROMIUM_PATH');
  }
  return found;
}

export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: chromiumPath(),
    // As root (CI, containers) Chromium refuses its sandbox.
    args: process.getuid?.() === 0 ? ['--no-sandbox'] : [],
  });
}

/** Where a failing browser test leaves its screenshots (gitignored). */
export const ARTIFACTS_DIR = path.join(__dirname, '..', '..', 'test-artifacts');

export async function saveScreenshot(page: Page, name: string, dir = ARTIFACTS_DIR): Promise<string> {
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${name}.png`);
  await page.screenshot({ path: file });
  return file;
}
