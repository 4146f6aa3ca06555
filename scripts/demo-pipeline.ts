/**
 * The demo's pipeline part (called by scripts/demo.ts): the built-in template `dev-test-regression`
 * run on the real fixture repository of "real hands" (google/uuid v1.6.0 broken in one function),
 * by the demo's own service (its step worker runs the shell steps).
 *
 * - The run's workspace is a clone of the fixture's bare remote (`inputs.repository`).
 * - `dev` makes a wrong fix the first time; `test` runs the project's own `go test ./...`, fails,
 *   and spawns `dev` with the failing output as its regression context; the spawned `dev~1` reads
 *   that context and makes the right fix; `test` runs again and passes; `report` runs either way.
 * - Printed: the run's step table (status, attempts, duration, artifacts, spawned steps) and the
 *   spawned step's regression context; checked: the run converged in one regression round.
 */
import { createUuidFixture, VERSION_LINES } from './lib/fixture-repo';
import type { Answer } from './lib/service-process';

export interface PipelineDemoDeps {
  say(line?: string): void;
  ms(at?: number): string;
  http<T = Record<string, unknown>>(method: string, url: string, headers?: Record<string, string>, body?: string): Promise<Answer<T>>;
  /** Headers that authenticate as the demo tenant. */
  auth: Record<string, string>;
  timeoutMs: number;
}

interface RunView {
  id: string;
  status: string;
  steps: Record<string, { status: string; visit: number; artifacts?: Record<string, string>; error?: { code: string; message: string } }>;
  spawned: { id: string; parentStepId: string; status: string; depth: number; regressionContext: { reason: string; failingOutput?: string } }[];
  error: { code: string; message: string } | null;
}
interface AttemptView {
  step: string;
  attempt: number;
  visit: number;
  status: string;
  durationMs: number | null;
  produced: string[];
}

const sleep = (n: number) => new Promise((r) => setTimeout(r, n));

/** A shell-safe `sed` that replaces one line of uuid.go. */
function replaceLine(from: string, to: string): string {
  const esc = (s: string) => s.replace(/[[\]\\/.*^$&]/g, '\\$&');
  return `sed -i 's/${esc(from)}/${esc(to)}/' uuid.go`;
}

/** @returns the demo's table rows (one: the run) and whether it held. */
export async function pipelineDemo(d: PipelineDemoDeps): Promise<{ ok: boolean; runId: string | null; problem?: string; cleanup(): void }> {
  const fixture = createUuidFixture();
  const { say, ms } = d;
  try {
    const inputs = {
      repository: fixture.bare,
      // First dev: the wrong fix. A spawned dev (it has a regression context): the right one.
      dev: `if [ -n "$AICD_REGRESSION_REASON" ]; then echo "regression: $AICD_REGRESSION_REASON" | head -c 300; echo; ${replaceLine(VERSION_LINES.wrongFix, VERSION_LINES.rightFix)}; else ${replaceLine(VERSION_LINES.broken, VERSION_LINES.wrongFix)}; fi; grep -n 'return Version(uuid' uuid.go`,
      // The template's test step keeps its output as the artifact test-log and fails with go test.
      test: 'go test ./...',
    };
    const started = Date.now();
    const res = await d.http<RunView>('POST', '/runs', d.auth, JSON.stringify({ template: 'dev-test-regression', inputs }));
    say(`${ms()}  POST /runs dev-test-regression on ${fixture.repositoryId} (the broken fixture)  → ${res.status} ${res.body.id ?? JSON.stringify(res.body)}`);
    if (res.status !== 201) return { ok: false, runId: null, problem: `POST /runs answered ${res.status}`, cleanup: fixture.cleanup };
    const id = res.body.id;
    let run = res.body;
    let seen = 0;
    while (Date.now() - started < d.timeoutMs) {
      const got = await d.http<RunView>('GET', `/runs/${id}`, d.auth);
      run = got.body;
      const events = (await d.http<{ kind: string; step?: string; from: string; to: string; event: string; detail?: string }[]>('GET', `/runs/${id}/events`, d.auth)).body;
      for (const e of events.slice(seen)) {
        if (e.kind === 'run' || ['running', 'succeeded', 'failed', 'awaitingSpawn', 'skipped'].includes(e.to)) {
          say(`${ms()}  ${e.kind === 'run' ? 'run' : `step ${e.step}`} ${e.from} → ${e.to} (${e.event})${e.detail ? `: ${e.detail.slice(0, 90)}` : ''}`);
        }
      }
      seen = events.length;
      if (['succeeded', 'failed', 'quarantined', 'canceled'].includes(run.status)) break;
      await sleep(200);
    }
    const attempts = (await d.http<AttemptView[]>('GET', `/runs/${id}/attempts`, d.auth)).body;
    say();
    say(`run ${id}: ${run.status}`);
    const rows: string[][] = [];
    const ids = [...Object.keys(run.steps), ...run.spawned.map((s) => s.id)];
    for (const step of ids) {
      const mine = attempts.filter((a) => a.step === step);
      const st = run.steps[step] ?? run.spawned.find((s) => s.id === step);
      const spawnedBy = run.spawned.find((s) => s.id === step)?.parentStepId;
      const spawns = run.spawned.filter((s) => s.parentStepId === step).map((s) => s.id);
      rows.push([
        step,
        st?.status ?? '?',
        String(mine.length),
        `${mine.reduce((n, a) => n + (a.durationMs ?? 0), 0)} ms`,
        String(mine.reduce((n, a) => n + a.produced.length, 0)),
        spawnedBy ? `spawned by ${spawnedBy}` : spawns.length ? `spawned ${spawns.join(', ')}` : '',
      ]);
    }
    const header = ['step', 'status', 'attempts', 'duration', 'artifacts', 'spawn'];
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
    const line = (r: string[]) => `  ${r.map((c, i) => c.padEnd(widths[i])).join('  ')}`;
    say(line(header));
    for (const r of rows) say(line(r));
    const child = run.spawned[0];
    if (child) say(`  ${child.id} regression context: ${child.regressionContext.reason.slice(0, 100)}`);
    const converged = run.status === 'succeeded' && run.spawned.length === 1 && child?.parentStepId === 'test' && run.steps.test.visit === 2;
    return {
      ok: converged,
      runId: id,
      ...(converged ? {} : { problem: `run ${run.status} with ${run.spawned.length} spawned step(s)${run.error ? ` (${run.error.code}: ${run.error.message})` : ''}` }),
      cleanup: fixture.cleanup,
    };
  } catch (e) {
    fixture.cleanup();
    throw e;
  }
}
