/** What the browser specs share: where Chromium is, how it is started, and polling assertions on locators. */
import * as path from 'node:path';
import type { Page } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const SCREENSHOTS = path.resolve(__dirname, '..', '..', 'docs', 'screenshots');
/** The flags of a headless browser in CI: no sandbox (root), no GPU, no calls home. */
export const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

type Locator = ReturnType<Page['getByTestId']>;

/** Waits until the locator's text matches `pattern`. */
export async function expectText(locator: Locator, pattern: RegExp, timeout = 10_000): Promise<void> {
  await locator.waitFor({ timeout });
  const deadline = Date.now() + timeout;
  let text = '';
  while (Date.now() < deadline) {
    text = (await locator.textContent()) ?? '';
    if (pattern.test(text)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`expected text matching ${pattern}, got ${JSON.stringify(text)}`);
}

/** Waits until the locator's attribute `name` is `value`. */
export async function expectAttr(locator: Locator, name: string, value: string, timeout = 10_000): Promise<void> {
  await locator.waitFor({ timeout });
  const deadline = Date.now() + timeout;
  let got: string | null = null;
  while (Date.now() < deadline) {
    got = await locator.getAttribute(name);
    if (got === value) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`expected ${name}=${value}, got ${got}`);
}
