import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import { freePort } from '../../scripts/lib/free-port';
import { dropTestData, eventually, issueBody, uniqueName } from '../support/test-app';
import { OtlpCollector, type CollectedSpan } from './otlp-collector';

/**
 * Tracing on the real entry point: src/main.ts runs as a child process (ts-node, transpile only —
 * tracing must start before Nest and the instrumented modules load, so it cannot be an in-process
 * app), exporting OTLP/HTTP JSON to a collector this test runs. A job submitted over REST must be
 * ONE trace: the POST /jobs server span at its root, BullMQ's producer/consumer spans carrying the
 * context through every stage message (STAGE_CONTINUE_MAX=0: one message per stage), a span per
 * stage attempt, per agent call and per commit, with the `aicd.*` attributes; and the process's log
 * line written inside the job carries that trace id. Without OTEL_EXPORTER_OTLP_ENDPOINT nothing
 * is exported and no SDK module is loaded. Every child's process group is killed on every exit path.
 */
const ROOT = path.resolve(__dirname, '..', '..');
const STAGE_NAMES = ['planning', 'coding', 'reviewing', 'pr-open'];
const running = new Set<number>();
const killAll = () => {
  for (const pid of running) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
};
process.once('exit', killAll);

/** The inherited environment without any OTEL_* variable of the developer's. */
function baseEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('OTEL_')));
}

interface AppProcess {
  proc: ChildProcess;
  base: string;
  output: () => string;
  exited: Promise<number | null>;
}

async function startApp(prefix: string, env: Record<string, string>): Promise<AppProcess> {
  const port = await freePort();
  const proc = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', 'src/main.ts'], {
    cwd: ROOT,
    detached: true, // its own process group, killed as a whole
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...baseEnv(),
      PORT: String(port),
      QUEUE_PREFIX: prefix,
      MONGODB_DB: prefix,
      ALLOW_TENANT_HEADER: 'true',
      MOCK_AGENT_DELAY_MS: '0',
      STAGE_BACKOFF_MS: '50',
      STAGE_CONTINUE_MAX: '0',
      SWEEP_INTERVAL_MS: '0',
      LOG_LEVEL: 'info',
      ...env,
    },
  });
  running.add(proc.pid!);
  let out = '';
  proc.stdout!.on('data', (c: Buffer) => (out += c.toString('utf8')));
  proc.stderr!.on('data', (c: Buffer) => (out += c.toString('utf8')));
  const exited = new Promise<number | null>((resolve) =>
    proc.once('exit', (code) => {
      running.delete(proc.pid!);
      resolve(code);
    }),
  );
  const base = `http://127.0.0.1:${port}`;
  await eventually(
    async () => {
      if (proc.exitCode !== null) throw new Error(`the service exited (${proc.exitCode}):\n${out}`);
      return (await fetch(`${base}/healthz`).catch(() => null))?.status === 200 ? true : undefined;
    },
    40_000,
    () => `the service did not start:\n${out}`,
  );
  return { proc, base, output: () => out, exited };
}

/** SIGTERM to the group, SIGKILL after 15 s; resolves with the exit code. */
async function stopApp(app: AppProcess): Promise<number | null> {
  if (app.proc.exitCode === null) process.kill(-app.proc.pid!, 'SIGTERM');
  const timer = setTimeout(() => running.has(app.proc.pid!) && process.kill(-app.proc.pid!, 'SIGKILL'), 15_000);
  try {
    return await app.exited;
  } finally {
    clearTimeout(timer);
  }
}

/** Runs `node -r ts-node/register/transpile-only -e <script>` (async: the collector in this process must keep answering). */
function runScript(script: string, env: NodeJS.ProcessEnv): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const proc = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', '-e', script], { cwd: ROOT, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    running.add(proc.pid!);
    let stdout = '';
    let stderr = '';
    proc.stdout!.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
    proc.stderr!.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    const timer = setTimeout(() => process.kill(-proc.pid!, 'SIGKILL'), 20_000);
    proc.once('exit', (status) => {
      clearTimeout(timer);
      running.delete(proc.pid!);
      resolve({ status, stdout, stderr });
    });
  });
}

/** Submits a job over REST and waits for COMPLETED; returns its id. */
async function runJob(app: AppProcess, body: string): Promise<string> {
  const res = await fetch(`${app.base}/jobs`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-tenant-id': 'acme' }, body: JSON.stringify(issueBody(1, body)) });
  expect(res.status).toBe(201);
  const id = ((await res.json()) as { id: string }).id;
  await eventually(
    async () => (((await (await fetch(`${app.base}/jobs/${id}`, { headers: { 'x-tenant-id': 'acme' } })).json()) as { state: string }).state === 'COMPLETED' ? true : undefined),
    20_000,
    () => `job ${id} not completed:\n${app.output().slice(-3000)}`,
  );
  return id;
}

describe('tracing (OTLP/HTTP export from the real process)', () => {
  const collector = new OtlpCollector();
  const prefixes: string[] = [];
  let endpoint = '';

  beforeAll(async () => {
    endpoint = await collector.start();
  });
  afterAll(async () => {
    killAll();
    await collector.stop();
    for (const p of prefixes) await dropTestData(p, p);
  });

  it('makes a job one trace: REST request → enqueue → each stage → agent call and commit, and logs its trace id', async () => {
    const prefix = uniqueName('otel');
    prefixes.push(prefix);
    const app = await startApp(prefix, { OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, OTEL_BSP_SCHEDULE_DELAY: '100' });
    let jobId = '';
    try {
      jobId = await runJob(app, 'mock: transient=planning:1'); // the failed first attempt logs a warning inside the trace
      const ofJob = () => collector.spans.filter((s) => s.attributes['aicd.job_id'] === jobId);
      // Wait until the last stage's commit arrived and every job span's ancestors did too.
      await eventually(
        async () => {
          const byId = new Map(collector.spans.map((s) => [s.spanId, s]));
          const complete = ofJob().some((s) => s.name === 'aicd.commit' && s.attributes['aicd.to_state'] === 'COMPLETED');
          return complete && ofJob().every((s) => rootOf(s, byId).parentSpanId === undefined) ? true : undefined;
        },
        15_000,
        () => `spans so far: ${collector.spans.map((s) => s.name).join(', ')}; rejected: ${collector.rejected.join('; ')}`,
      );
    } finally {
      expect(await stopApp(app)).toBe(0);
    }
    expect(collector.rejected).toEqual([]);

    // ONE trace for everything that names the job.
    const traceIds = new Set(collector.spans.filter((s) => s.attributes['aicd.job_id'] === jobId).map((s) => s.traceId));
    expect(traceIds.size).toBe(1);
    const [traceId] = traceIds;
    const trace = collector.spans.filter((s) => s.traceId === traceId);
    const byId = new Map(trace.map((s) => [s.spanId, s]));
    for (const s of trace) expect(s.serviceName).toBe('aicd-orchestrator');

    // Its root is the REST request's server span.
    const roots = trace.filter((s) => !s.parentSpanId);
    expect(roots).toHaveLength(1);
    const [rest] = roots;
    expect(rest.kind).toBe(2);
    expect(rest.attributes['http.request.method'] ?? rest.attributes['http.method']).toBe('POST');
    expect(rest.attributes['url.path'] ?? rest.attributes['http.target']).toBe('/jobs');
    for (const s of trace) expect(rootOf(s, byId)).toBe(rest);

    // Each stage: enqueued (producer), delivered (consumer), run (stage span under the delivery).
    const stageSpans = trace.filter((s) => s.name.startsWith('aicd.stage '));
    for (const stage of STAGE_NAMES) {
      expect(trace.some((s) => s.kind === 4 && s.name.startsWith(`add ${stage}`))).toBe(true);
      expect(trace.some((s) => s.kind === 5 && s.name === `process ${stage}`)).toBe(true);
      const spans = stageSpans.filter((s) => s.attributes['aicd.stage'] === stage);
      expect(spans.length).toBeGreaterThanOrEqual(1);
      for (const s of spans) {
        expect(s.name).toBe(`aicd.stage ${stage}`);
        expect(s.attributes).toMatchObject({ 'aicd.job_id': jobId, 'aicd.tool': stage === 'pr-open' ? 'pr:mock' : 'mock' });
        expect(typeof s.attributes['aicd.attempt']).toBe('number');
        expect(byId.get(s.parentSpanId!)).toMatchObject({ kind: 5, name: `process ${stage}` });
      }
      // The agent call inside the stage.
      const calls = trace.filter((s) => s.name === `aicd.agent_call ${stage}`);
      expect(calls.length).toBe(spans.length);
      for (const c of calls) {
        expect(c.attributes).toMatchObject({ 'aicd.stage': stage, 'aicd.job_id': jobId, 'aicd.tool': stage === 'pr-open' ? 'pr:mock' : 'mock' });
        expect(byId.get(c.parentSpanId!)?.name).toBe(`aicd.stage ${stage}`);
        expect(c.attributes['aicd.attempt']).toBe(byId.get(c.parentSpanId!)?.attributes['aicd.attempt']);
      }
    }
    // Planning ran twice: attempt 1 failed transiently (retried), attempt 2 succeeded.
    expect(stageSpans.filter((s) => s.attributes['aicd.stage'] === 'planning').map((s) => [s.attributes['aicd.attempt'], s.attributes['aicd.outcome']]).sort()).toEqual([
      [1, 'retry'],
      [2, 'succeeded'],
    ]);
    // One commit per version, each inside a stage span: QUEUED→CODING, →REVIEWING, →PR_OPEN, →COMPLETED.
    const commits = trace.filter((s) => s.name === 'aicd.commit');
    expect(commits.map((c) => [c.attributes['aicd.version'], c.attributes['aicd.to_state']]).sort()).toEqual([
      [0, 'CODING'],
      [1, 'REVIEWING'],
      [2, 'PR_OPEN'],
      [3, 'COMPLETED'],
    ]);
    for (const c of commits) expect(byId.get(c.parentSpanId!)?.name).toMatch(/^aicd\.stage /);

    // A log line of the process, written inside the job's trace, carries its id.
    const logged = app
      .output()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { trace_id?: string; span_id?: string; msg?: string })
      .filter((l) => l.trace_id === traceId);
    expect(logged.some((l) => l.msg?.includes(jobId) && l.msg.includes('attempt 1/3 failed'))).toBe(true);
    for (const l of logged) expect(trace.some((s) => s.spanId === l.span_id)).toBe(true);
  });

  it('exports nothing and loads no SDK without OTEL_EXPORTER_OTLP_ENDPOINT', async () => {
    // The bootstrap module alone: no @opentelemetry module is loaded.
    const probe = await runScript("require('./src/observability/tracing'); console.log(JSON.stringify(Object.keys(require.cache).filter((k) => k.includes('@opentelemetry') || k.includes('bullmq-otel'))))", baseEnv());
    expect([probe.status, probe.stderr]).toEqual([0, '']);
    expect(JSON.parse(probe.stdout.trim())).toEqual([]);

    // The whole service, with only the traces-specific endpoint pointing at the collector.
    collector.reset();
    const prefix = uniqueName('nootel');
    prefixes.push(prefix);
    const app = await startApp(prefix, { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${endpoint}/v1/traces`, OTEL_BSP_SCHEDULE_DELAY: '100' });
    try {
      await runJob(app, 'mock: transient=planning:1');
    } finally {
      expect(await stopApp(app)).toBe(0);
    }
    expect(app.output()).toContain('attempt 1/3 failed');
    expect(app.output()).not.toContain('trace_id');
    expect(collector.requests).toBe(0);
    expect(collector.spans).toEqual([]);
  });

  it('names the service OTEL_SERVICE_NAME', async () => {
    collector.reset();
    const script = [
      "const sdk = require('./src/observability/tracing-sdk');",
      'if (!sdk.startTracing()) process.exit(3);',
      "require('@opentelemetry/api').trace.getTracer('probe').startSpan('probe').end();",
      'sdk.flushTracing().then(() => process.exit(0));',
    ].join('\n');
    const probe = await runScript(script, { ...baseEnv(), OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, OTEL_SERVICE_NAME: 'aicd-probe' });
    expect([probe.status, probe.stderr]).toEqual([0, '']);
    expect(collector.spans.map((s) => [s.name, s.serviceName])).toEqual([['probe', 'aicd-probe']]);
  });
});

/** The topmost ancestor of `span` among `byId` (itself when its parent is not there). */
function rootOf(span: CollectedSpan, byId: Map<string, CollectedSpan>): CollectedSpan {
  let s = span;
  for (let parent = s.parentSpanId && byId.get(s.parentSpanId); parent; parent = s.parentSpanId && byId.get(s.parentSpanId)) s = parent;
  return s;
}
