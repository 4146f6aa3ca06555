/**
 * The dashboard's pipeline Runs pages in a real browser (Debian's Chromium driven by
 * playwright-core), against the real service — API, pipeline step workers, Redis, the
 * MongoDB-wire server — serving the built ui/dist, as dashboard.browser.spec.ts does for jobs.
 * Screenshots go to docs/screenshots/ (README "Dashboard").
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { uiDirectory } from '../../src/dashboard/operator-pages';
import { TenantRepository } from '../../src/tenants/tenant.repository';
import { issueApiKey } from '../../src/tenants/tenant-admin';
import { eventually, startTestApp, type TestApp } from '../support/test-app';
import { CHROMIUM, CHROMIUM_ARGS, expectAttr, expectText, SCREENSHOTS } from './browser-support';

/** Waits (at most 30 s) until the test creates the file `<inputs.gates>/<name>`: the test decides when a step ends. */
const gate = (name: string) => `for i in $(seq 300); do [ -e "$AICD_INPUT_GATES/${name}" ] && break; sleep 0.1; done`;
/** Four steps: build → (test, report) → cleanup (always after test); build and test wait for their gate, so the page is seen drawing them running. */
const DEMO = {
  name: 'ui-demo',
  steps: [
    { id: 'build', tool: 'shell', with: { run: `echo "building $AICD_INPUT_GREETING"; mkdir -p out; echo app > out/app; ${gate('build')}` }, outputs: { binary: { files: 'out/*' } } },
    { id: 'test', tool: 'shell', needs: ['build'], inputs: ['binary'], with: { run: `echo testing; ls "$AICD_INPUT_PATH_BINARY"; ${gate('test')}` } },
    { id: 'report', tool: 'function', needs: ['build'], with: { name: 'echo', value: { ok: true } }, outputs: { summary: { json: true } } },
    { id: 'cleanup', tool: 'function', needs: [{ step: 'test', on: 'always' }, 'report'], with: { name: 'noop' } },
  ],
};
/** One step that sleeps for a minute (to be cancelled). */
const SLOW = { name: 'ui-slow', steps: [{ id: 'wait', tool: 'shell', with: { run: 'echo waiting; sleep 60' } }] };
/** A failing step with a failure budget of one attempt: the run is quarantined, and so is the template (after one such run). */
const BUDGET = {
  name: 'ui-budget',
  maxFailedAttempts: 1,
  quarantineAfterConsecutiveFailures: 1,
  steps: [{ id: 'flaky', tool: 'shell', with: { run: 'echo boom >&2; exit 3' } }, { id: 'after', tool: 'function', needs: ['flaky'], with: { name: 'noop' } }],
};

/** test fails the first time (a marker file in the run's shared workspace), spawning dev again (dev~1), then passes. */
const REGRESS = {
  name: 'ui-regress',
  steps: [
    { id: 'dev', tool: 'shell', with: { run: 'echo dev' } },
    { id: 'test', tool: 'shell', needs: ['dev'], with: { run: 'if [ -e .tested ]; then echo ok; else touch .tested; echo "1 of 3 tests failed" >&2; exit 1; fi', spawnOnFailure: 'dev' } },
  ],
};

describe('dashboard runs in Chromium', () => {
  let t: TestApp;
  let base: string;
  let browser: Browser;
  let page: Page;
  let key: string;
  const workRoot = mkdtempSync(path.join(tmpdir(), 'aicd-ui-runs-'));
  const gates = mkdtempSync(path.join(tmpdir(), 'aicd-ui-gates-'));
  const offsite: string[] = [];
  const runs: Record<string, string> = {};

  const shot = (name: string, fullPage = false) => page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage });
  const api = async (method: string, url: string, body?: unknown) => {
    const res = await fetch(`${base}${url}`, { method, headers: { authorization: `Bearer ${key}`, ...(body ? { 'content-type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : undefined });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> & { id: string; status: string } };
  };
  const waitForRun = (id: string, statuses: string[]) =>
    eventually(
      async () => {
        const r = await api('GET', `/runs/${id}`);
        return statuses.includes(r.body.status) ? r.body : undefined;
      },
      20_000,
      async () => `run ${id}: ${JSON.stringify((await api('GET', `/runs/${id}`)).body)}`,
    );

  beforeAll(async () => {
    const index = path.join(uiDirectory({ UI_DIR: '' }), 'index.html');
    if (!existsSync(index)) throw new Error(`${index} is missing: run npm run build:ui (npm test does) before the browser tests`);
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium (.ci/run does), or set CHROMIUM_PATH`);
    mkdirSync(SCREENSHOTS, { recursive: true });
    t = await startTestApp('browser_runs', { ALLOW_TENANT_HEADER: 'false', PIPELINE_WORK_ROOT: workRoot });
    await t.app.listen(0, '127.0.0.1');
    base = `http://127.0.0.1:${(t.app.getHttpServer().address() as AddressInfo).port}`;
    key = (await issueApiKey(t.app.get(TenantRepository), { tenantId: 'acme', repositories: [] })).apiKey;
    for (const template of [DEMO, SLOW, BUDGET, REGRESS]) expect((await api('POST', '/pipeline-templates', template)).status).toBe(201);
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
    page = await (await browser.newContext({ viewport: { width: 1400, height: 900 } })).newPage();
    await page.route('**/*', (route) => {
      const url = route.request().url();
      if (url.startsWith(base) || url.startsWith('data:') || url.startsWith('blob:')) return route.continue();
      offsite.push(url);
      return route.abort();
    });
    await page.goto(`${base}/ui/`);
    await page.getByTestId('signin-key').fill(key);
    await page.getByTestId('signin-submit').click();
    await expectText(page.getByTestId('tenant'), /^acme$/);
  }, 60_000);

  afterAll(async () => {
    await browser?.close().catch(() => undefined);
    await t?.close();
    rmSync(workRoot, { recursive: true, force: true });
    rmSync(gates, { recursive: true, force: true });
  });

  it('starts a run from the UI: its row appears live, and on its page the status and the DAG\'s step nodes reach succeeded without a reload', async () => {
    await page.goto(`${base}/ui/#/runs`);
    await page.getByTestId('start-run-template').selectOption('ui-demo');
    await expectText(page.getByTestId('start-run-steps'), /4 steps: build, test, report, cleanup/);
    await page.getByTestId('start-run-inputs').fill('{"greeting": "hello"');
    await page.getByTestId('start-run-button').click();
    await expectText(page.getByTestId('start-run-error-inputs'), /^Inputs must be JSON/); // refused before it is sent
    await page.getByTestId('start-run-inputs').fill(JSON.stringify({ greeting: 'hello', gates }));
    await page.getByTestId('start-run-button').click();
    const id = (await page.getByTestId('start-run-result').getAttribute('data-run-id', { timeout: 10_000 }))!;
    runs.demo = id;
    expect(id).toMatch(/^run_[0-9a-f-]{36}$/);
    expect((await api('GET', `/runs/${id}`)).body).toEqual(expect.objectContaining({ template: { name: 'ui-demo', version: 1 }, inputs: { greeting: 'hello', gates } }));
    await page.locator(`[data-testid="run-row"][data-run-id="${id}"]`).waitFor({ timeout: 10_000 }); // live: no reload of the list

    await page.getByTestId('start-run-link').click(); // in-app navigation
    await page.getByTestId('run-page').waitFor();
    await page.evaluate('window.__noReload = true'); // a reload would wipe it
    const node = (step: string) => page.locator(`[data-testid="dag"] [data-testid="dag-node"][data-step="${step}"]`);
    // In the page (a string: this program has no DOM types): every drawn node's step and status.
    const dag = async () =>
      (await page.evaluate(`[...document.querySelectorAll('[data-testid="dag"] [data-testid="dag-node"]')].map((n) => n.getAttribute('data-step') + '=' + n.getAttribute('data-status')).join(' ')`)) as string;
    // build runs until its gate opens; then test runs until its own; the page follows each step live.
    await expectAttr(node('build'), 'data-status', 'running', 15_000);
    await expectAttr(page.getByTestId('run-status'), 'data-state', 'running');
    expect(await dag()).toBe('build=running test=waiting report=waiting cleanup=waiting');
    writeFileSync(path.join(gates, 'build'), '');
    await expectAttr(node('test'), 'data-status', 'running', 15_000);
    await expectAttr(node('build'), 'data-status', 'succeeded');
    await expectAttr(node('report'), 'data-status', 'succeeded', 15_000);
    expect(await dag()).toBe('build=succeeded test=running report=succeeded cleanup=waiting');
    await expectAttr(page.getByTestId('run-status'), 'data-state', 'running');
    writeFileSync(path.join(gates, 'test'), '');
    await expectAttr(page.getByTestId('run-status'), 'data-state', 'succeeded', 15_000);
    await expectAttr(node('cleanup'), 'data-status', 'succeeded', 15_000);
    expect(await dag()).toBe('build=succeeded test=succeeded report=succeeded cleanup=succeeded');
    expect(await page.evaluate('window.__noReload')).toBe(true);

    // The rest of the page caught up too: the step table, the run's statechart, progress, the timeline with who moved it, output tails, artifacts with lineage.
    for (const step of ['build', 'test', 'report', 'cleanup']) await expectAttr(page.locator(`[data-testid="step-row"][data-step="${step}"]`), 'data-status', 'succeeded');
    await page.getByTestId('statechart').scrollIntoViewIfNeeded(); // the run's chart is drawn when on screen
    await expectAttr(page.getByTestId('statechart'), 'data-current-state', 'succeeded', 15_000);
    expect(await page.locator('[data-testid="statechart"] svg [data-current="true"]').count()).toBe(1);
    await expectAttr(page.getByTestId('run-progress'), 'data-percent', '100');
    await page.locator('[data-testid="run-event"][data-kind="run"][data-to="succeeded"]').waitFor();
    await expectText(page.getByTestId('run-event-actor').first(), /^by api key:[0-9a-f]{8}$/); // who started it
    await expectText(page.locator('[data-testid="run-event"][data-step="build"][data-to="succeeded"] [data-testid="run-event-actor"]'), /^by worker \S+:\d+$/);
    await expectAttr(page.locator('[data-testid="run-attempt"][data-step="cleanup"]'), 'data-status', 'succeeded');
    await page.locator('[data-testid="run-attempt"][data-step="build"] summary').click(); // succeeded attempts start closed
    await expectText(page.locator('[data-testid="run-attempt"][data-step="build"] [data-testid="attempt-stdout"]'), /building hello/);
    await page.locator('[data-testid="run-artifact"][data-name="summary"]').waitFor();
    const binary = page.locator('[data-testid="run-artifact"][data-name="binary"]');
    await expectText(binary.getByTestId('artifact-readers'), /^test v1 #1$/);
    await binary.getByTestId('artifact-lineage-button').click();
    await expectText(binary.getByTestId('artifact-lineage'), /produced by build v1 #1 of run_.*read by test v1 #1 at .* \(hash matched\)/);
    await page.evaluate('window.scrollTo(0, 0)');
    await shot('run-page');
  }, 60_000);

  it('cancels a run with a slow step from the page: confirmed, the run is canceled and the step\'s attempt shows as aborted', async () => {
    const id = (await api('POST', '/runs', { template: 'ui-slow' })).body.id;
    runs.slow = id;
    await page.goto(`${base}/ui/#/runs/${id}`);
    // The step's attempt appears once a worker runs it (it follows the run's commit).
    await page.locator('[data-testid="run-attempt"][data-step="wait"][data-status="running"]').waitFor({ timeout: 15_000 });
    await expectAttr(page.locator('[data-testid="dag-node"][data-step="wait"]'), 'data-status', 'running');
    await page.getByTestId('action-CANCEL').click();
    await page.getByTestId('confirm-dialog').waitFor();
    expect(await page.getByTestId('confirm-dialog').textContent()).toContain('process is killed');
    await page.getByTestId('confirm').click();
    await expectAttr(page.getByTestId('run-status'), 'data-state', 'canceled', 15_000);
    await expectText(page.getByTestId('action-result'), /^Sent CANCEL: the run is canceled\.$/);
    const attempt = page.locator('[data-testid="run-attempt"][data-step="wait"]');
    await expectAttr(attempt, 'data-status', 'aborted', 15_000); // its record lands just after the commit
    await expectAttr(attempt.getByTestId('attempt-error'), 'data-code', 'ABORTED');
    await expectText(attempt.getByTestId('attempt-stdout'), /waiting/);
    await expectAttr(page.locator('[data-testid="dag-node"][data-step="wait"]'), 'data-status', 'canceled');
    await page.getByTestId('statechart').scrollIntoViewIfNeeded();
    await expectAttr(page.getByTestId('statechart'), 'data-current-state', 'canceled', 15_000);
    await expectText(page.locator('[data-testid="run-event"][data-kind="run"][data-to="canceled"] [data-testid="run-event-actor"]'), /^by api key:[0-9a-f]{8}$/);
    expect(await page.getByTestId('action-CANCEL').isDisabled()).toBe(true); // nothing is accepted any more
    const attempts = (await api('GET', `/runs/${id}/attempts`)).body as unknown as { status: string }[];
    expect(attempts.map((a) => a.status)).toEqual(['aborted']);
    await attempt.scrollIntoViewIfNeeded();
    await shot('run-canceled');
  }, 60_000);

  it('shows a 409 in words: Release confirmed after the quarantined run was canceled elsewhere', async () => {
    const id = (await api('POST', '/runs', { template: 'ui-budget' })).body.id;
    runs.budget = id;
    await waitForRun(id, ['quarantined']);
    await page.goto(`${base}/ui/#/runs/${id}`);
    await expectAttr(page.getByTestId('run-status'), 'data-state', 'quarantined');
    await expectAttr(page.getByTestId('run-error'), 'data-code', 'QUARANTINED');
    expect(await page.locator('[data-testid="step-retry"][data-step="flaky"]').isEnabled()).toBe(true); // its interrupted step can be retried
    await expectAttr(page.locator('[data-testid="run-attempt"][data-step="flaky"] [data-testid="attempt-error"]'), 'data-code', 'EXIT_3');
    await page.getByTestId('action-RELEASE').click();
    await page.getByTestId('confirm-dialog').waitFor();
    expect((await api('POST', `/runs/${id}/cancel`)).status).toBe(200); // someone else, meanwhile
    await page.getByTestId('confirm').click();
    const error = page.getByTestId('action-error');
    await expectText(error, /^Cannot send RELEASE: the run is canceled, which accepts no events\.$/);
    expect(await error.textContent()).not.toMatch(/[{}]|ILLEGAL_EVENT|409/); // words, not the raw body
    await expectAttr(page.getByTestId('run-status'), 'data-state', 'canceled'); // and the page caught up
    expect(await page.locator('[data-testid="step-retry"][data-step="flaky"]').count()).toBe(0); // its step is canceled
    await shot('run-conflict-in-words');
  }, 60_000);

  it('shows a regression: the spawned step off its parent in the DAG, with its regression context', async () => {
    const id = (await api('POST', '/runs', { template: 'ui-regress' })).body.id;
    await page.goto(`${base}/ui/#/runs/${id}`);
    await expectAttr(page.getByTestId('run-status'), 'data-state', 'succeeded', 20_000);
    const spawned = page.locator('[data-testid="spawned-step"][data-step="dev~1"]');
    await expectAttr(spawned, 'data-parent', 'test');
    await expectText(spawned, /1 of 3 tests failed/);
    await expectAttr(page.locator('[data-testid="dag-node"][data-step="dev~1"]'), 'data-status', 'succeeded');
    await expectAttr(page.locator('[data-testid="step-row"][data-step="test"]'), 'data-visit', '2'); // it ran again after dev~1
    await page.locator('[data-testid="run-event"][data-step="test"][data-to="awaitingSpawn"]').waitFor();
  }, 60_000);

  it('lists runs by status and template, and says in words why a quarantined template does not start', async () => {
    await page.goto(`${base}/ui/#/runs`);
    for (const id of Object.values(runs)) await page.locator(`[data-testid="run-row"][data-run-id="${id}"]`).waitFor();
    await page.getByTestId('run-filter-status').selectOption('canceled');
    await expectAttr(page.locator(`[data-testid="run-row"][data-run-id="${runs.slow}"]`), 'data-status', 'canceled');
    await page.locator(`[data-testid="run-row"][data-run-id="${runs.demo}"]`).waitFor({ state: 'detached' });
    // The list re-renders after the filter's reload: wait for it to settle at the slow and the budget run.
    await page.waitForFunction(`document.querySelectorAll('[data-testid="run-row"]').length === 2`, undefined, { timeout: 10_000 }).catch(() => undefined);
    expect((await page.getByTestId('run-row').all()).length).toBe(2); // the slow and the budget run
    expect(page.url()).toContain('status=canceled'); // the filter is in the route
    await page.getByTestId('run-filter-status').selectOption('');
    await page.getByTestId('run-filter-template').selectOption('ui-demo');
    await page.locator(`[data-testid="run-row"][data-run-id="${runs.demo}"]`).waitFor();
    // The demo row is also in the unfiltered list shown just before: the template filter has
    // applied once the ui-slow run's row is gone (counting at once raced the refetch).
    await page.locator(`[data-testid="run-row"][data-run-id="${runs.slow}"]`).waitFor({ state: 'detached' });
    await eventually(async () => ((await page.getByTestId('run-row').count()) === 1 ? true : undefined), 10_000, async () => `run rows with the template filter: ${await page.getByTestId('run-row').count()}`);
    expect(await page.getByTestId('run-row').count()).toBe(1);
    await page.getByTestId('run-filter-clear').click();
    await page.locator(`[data-testid="run-row"][data-run-id="${runs.slow}"]`).waitFor();

    await page.getByTestId('start-run-template').selectOption('ui-budget');
    await expectText(page.getByTestId('start-run-steps'), /quarantined/);
    await page.getByTestId('start-run-inputs').fill('{}');
    await page.getByTestId('start-run-button').click();
    await expectText(page.getByTestId('start-run-error'), /^Cannot start ui-budget: the template is quarantined \(the last 1 runs failed .*\)\. Release it with POST \/pipeline-templates\/ui-budget\/release to start runs again\.$/);
    expect(await page.getByTestId('start-run-error').textContent()).not.toMatch(/409|TEMPLATE_QUARANTINED/);
    await shot('runs-list');
    expect(offsite).toEqual([]); // nothing but the service was asked for anything
  }, 60_000);
});
