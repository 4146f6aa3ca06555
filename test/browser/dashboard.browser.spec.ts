/**
 * The dashboard in a real browser: Debian's Chromium driven by playwright-core (no browser
 * download), against the real service (API + workers, MockAgent) on the real Redis and
 * MongoDB-wire server, serving the built ui/dist. Screenshots go to docs/screenshots/ (README).
 */
import { existsSync, mkdirSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { uiDirectory } from '../../src/dashboard/operator-pages';
import { TenantRepository } from '../../src/tenants/tenant.repository';
import { issueApiKey } from '../../src/tenants/tenant-admin';
import { issueBody, startTestApp, waitForState, type TestApp } from '../support/test-app';
import { CHROMIUM, CHROMIUM_ARGS, expectAttr, expectText, SCREENSHOTS } from './browser-support';

describe('dashboard in Chromium', () => {
  let t: TestApp;
  let base: string;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let acmeKey: string;
  let globexJob: string;
  /** Requests the page made to anything but the service: the dashboard must work offline. */
  const offsite: string[] = [];

  const shot = (name: string) => page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage: false });
  const api = (method: string, url: string, body?: unknown) =>
    fetch(`${base}${url}`, { method, headers: { authorization: `Bearer ${acmeKey}`, ...(body ? { 'content-type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : undefined });

  beforeAll(async () => {
    const index = path.join(uiDirectory({ UI_DIR: '' }), 'index.html');
    if (!existsSync(index)) throw new Error(`${index} is missing: run npm run build:ui (npm test does) before the browser tests`);
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium (.ci/run does), or set CHROMIUM_PATH`);
    mkdirSync(SCREENSHOTS, { recursive: true });
    t = await startTestApp('browser', { ALLOW_TENANT_HEADER: 'false', MOCK_AGENT_DELAY_MS: '400' });
    await t.app.listen(0, '127.0.0.1');
    base = `http://127.0.0.1:${(t.app.getHttpServer().address() as AddressInfo).port}`;
    const tenants = t.app.get(TenantRepository);
    acmeKey = (await issueApiKey(tenants, { tenantId: 'acme', repositories: [] })).apiKey;
    const globexKey = (await issueApiKey(tenants, { tenantId: 'globex', repositories: [] })).apiKey;
    const g = await fetch(`${base}/jobs`, { method: 'POST', headers: { authorization: `Bearer ${globexKey}`, 'content-type': 'application/json' }, body: JSON.stringify(issueBody(900)) });
    globexJob = ((await g.json()) as { id: string }).id;
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
    context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
    page = await context.newPage();
    await page.route('**/*', (route) => {
      const url = route.request().url();
      if (url.startsWith(base) || url.startsWith('data:') || url.startsWith('blob:')) return route.continue();
      offsite.push(url);
      return route.abort();
    });
  }, 60_000);

  afterAll(async () => {
    await browser?.close().catch(() => undefined);
    await t?.close();
  });

  it('signs in with an API key (a wrong key is refused in words; the key stays out of the URL)', async () => {
    await page.goto(`${base}/ui/`);
    await page.getByTestId('signin-key').fill('aicd_this-is-not-a-valid-key-0000000000000');
    await page.getByTestId('signin-submit').click();
    await expectText(page.getByTestId('signin-error'), /not valid/i);
    await shot('sign-in-refused');
    await page.getByTestId('signin-key').fill(acmeKey);
    await page.getByTestId('signin-submit').click();
    await expectText(page.getByTestId('tenant'), /^acme$/);
    expect(page.url()).not.toContain(acmeKey);
    expect(await page.evaluate('JSON.stringify(sessionStorage)')).toContain(acmeKey.slice(0, 12));
    expect(await page.evaluate('JSON.stringify(localStorage)')).not.toContain(acmeKey.slice(0, 12));
  });

  it('submits a job from the UI; its row appears in the list live and the highlighted state reaches COMPLETED without a reload', async () => {
    await page.goto(`${base}/ui/#/jobs`);
    await page.getByTestId('submit-repositoryId').fill('acme/widgets');
    await page.getByTestId('submit-issueId').fill('101');
    await page.getByTestId('submit-title').fill('Fix the flaky widget test');
    await page.getByTestId('submit-body').fill('The widget test fails one run in ten.\nmock: delay=700');
    await page.getByTestId('submit-url').fill('https://github.com/acme/widgets/issues/101');
    await page.getByTestId('submit-button').click();
    const id = await page.getByTestId('submit-result').getAttribute('data-job-id', { timeout: 10_000 });
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    const job = await (await api('GET', `/jobs/${id}`)).json();
    expect(job).toEqual(expect.objectContaining({ tenantId: 'acme', repositoryId: 'acme/widgets', issue: expect.objectContaining({ title: 'Fix the flaky widget test' }) }));
    await page.locator(`[data-testid="job-row"][data-job-id="${id}"]`).waitFor({ timeout: 10_000 });
    await shot('jobs-list');

    await page.locator(`[data-testid="job-row"][data-job-id="${id}"] [data-testid="job-link"]`).click();
    await page.getByTestId('statechart').waitFor();
    // A marker a reload would wipe; and every state the highlighted node showed.
    await page.evaluate('window.__noReload = true');
    // In the page (a string: this program has no DOM types): every state the highlighted node showed.
    const seen = (await page.evaluate(`new Promise((resolve) => {
      const deadline = Date.now() + 30000, states = [];
      const look = () => {
        const chart = document.querySelector('[data-testid="statechart"]');
        const s = chart && chart.getAttribute('data-current-state');
        const node = chart && chart.querySelector('svg [data-current="true"]');
        if (s && node && states[states.length - 1] !== s) states.push(s);
        if (s === 'COMPLETED' || Date.now() > deadline) resolve(states); else setTimeout(look, 20);
      };
      look();
    })`)) as string[];
    expect(seen.at(-1)).toBe('COMPLETED');
    expect(seen.length).toBeGreaterThanOrEqual(2); // it changed while we watched
    expect(await page.evaluate('window.__noReload')).toBe(true);
    const highlighted = await page.locator('[data-testid="statechart"] svg [data-current="true"]').textContent();
    expect(highlighted).toContain('COMPLETED');
    await expectAttr(page.getByTestId('job-state'), 'data-state', 'COMPLETED');
    expect((await page.getByTestId('timeline-visit').count()) >= 5).toBe(true);
    await shot('job-completed');
    await page.getByTestId('statechart-zoom').selectOption('0.75');
    await page.getByTestId('statechart').screenshot({ path: path.join(SCREENSHOTS, 'statechart.png') });
  }, 60_000);

  it('cancels a slow job from the UI: the job is CANCELLED and its running attempt shows as aborted', async () => {
    const res = await api('POST', '/jobs', issueBody(102, 'mock: delay=60000'));
    const id = ((await res.json()) as { id: string }).id;
    await page.goto(`${base}/ui/#/jobs/${id}`);
    // Wait until the planning call is running (its attempt record exists), then cancel.
    await eventuallyAsync(async () => ((await (await api('GET', `/jobs/${id}/attempts`)).json()) as unknown[]).length > 0 || t.calls.some((c) => c.jobId === id));
    await page.getByTestId('action-CANCEL').click();
    await page.getByTestId('confirm-dialog').waitFor();
    await page.getByTestId('confirm').click();
    await expectAttr(page.getByTestId('job-state'), 'data-state', 'CANCELLED', 15_000);
    await waitForState(t, id, ['CANCELLED']);
    await page.locator('[data-testid="attempt"][data-status="aborted"]').first().waitFor({ timeout: 15_000 });
    await expectAttr(page.getByTestId('statechart'), 'data-current-state', 'CANCELLED', 15_000);
    await expectText(page.getByTestId('timeline-actor').last(), /^by api key:[0-9a-f]{8}$/); // the audit trail: which key cancelled it
    await shot('job-cancelled');
  }, 60_000);

  it('cancels every job matching a filter at once: confirmed, reported in words, rows turn CANCELLED live', async () => {
    const ids: string[] = [];
    for (const n of [110, 111]) {
      const res = await api('POST', '/jobs', issueBody(n, 'mock: delay=60000', { repositoryId: 'acme/bulk' }));
      ids.push(((await res.json()) as { id: string }).id);
    }
    await page.goto(`${base}/ui/#/jobs?repositoryId=acme%2Fbulk`);
    for (const id of ids) await page.locator(`[data-testid="job-row"][data-job-id="${id}"]`).waitFor();
    expect(await page.getByTestId('job-row').count()).toBe(2); // the filter holds: only acme/bulk
    await page.getByTestId('bulk-MARK_CANCELLED').click();
    await page.getByTestId('confirm-dialog').waitFor();
    expect(await page.getByTestId('confirm-dialog').textContent()).toContain('the 2 jobs matching');
    await page.getByTestId('confirm').click();
    await expectText(page.getByTestId('bulk-result'), /^2 of 2 cancelled\.$/);
    for (const id of ids) await expectAttr(page.locator(`[data-testid="job-row"][data-job-id="${id}"]`), 'data-state', 'CANCELLED', 15_000);
    for (const id of ids) await waitForState(t, id, ['CANCELLED']);
    await expectAttr(page.getByTestId('count-CANCELLED'), 'data-count', '2'); // the counts follow too
    await shot('bulk-cancel');
  }, 60_000);

  it('shows none of another tenant\'s jobs: not in the list, and its page says there is no such job', async () => {
    await page.goto(`${base}/ui/#/jobs`);
    await page.getByTestId('job-row').first().waitFor();
    const ids: string[] = [];
    for (const row of await page.getByTestId('job-row').all()) ids.push((await row.getAttribute('data-job-id')) ?? '');
    expect(ids.length).toBeGreaterThanOrEqual(2);
    expect(ids).not.toContain(globexJob);
    await page.goto(`${base}/ui/#/jobs/${globexJob}`);
    await page.getByTestId('job-not-found').waitFor();
    expect(await page.content()).not.toContain('Issue 900');
  });

  it('shows a 409 in words: RETRY confirmed after the job was cancelled elsewhere', async () => {
    const res = await api('POST', '/jobs', issueBody(103, 'mock: fail=planning'));
    const id = ((await res.json()) as { id: string }).id;
    await waitForState(t, id, ['FAILED']);
    await page.goto(`${base}/ui/#/jobs/${id}`);
    await expectAttr(page.getByTestId('job-state'), 'data-state', 'FAILED');
    await page.getByTestId('action-RETRY').click();
    await page.getByTestId('confirm-dialog').waitFor();
    expect((await api('POST', `/jobs/${id}/cancel`)).status).toBe(200); // someone else, meanwhile
    await page.getByTestId('confirm').click();
    const error = page.getByTestId('action-error');
    await expectText(error, /RETRY/);
    const words = (await error.textContent()) ?? '';
    expect(words).toMatch(/CANCELLED/);
    expect(words).not.toMatch(/[{}]|ILLEGAL_EVENT|409/); // words, not the raw body
    await expectAttr(page.getByTestId('job-state'), 'data-state', 'CANCELLED'); // and the page caught up
    await shot('conflict-in-words');
  }, 60_000);

  it('shows the live workers with their stages and the queues', async () => {
    await page.goto(`${base}/ui/#/workers`);
    await page.locator('[data-testid="worker-row"][data-alive="true"]').first().waitFor();
    await page.getByTestId('queue-row').nth(4).waitFor();
    expect(await page.getByTestId('queue-row').count()).toBe(5);
    await shot('workers');
    expect(offsite).toEqual([]); // nothing but the service was asked for anything
  });
});

async function eventuallyAsync(check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('condition not met in time');
}
