import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ApiError } from '../src/api/client';
import type { PipelineRun, RunAuditEvent, RunChangeEvent, StepAttemptRecord, TemplateStep } from '../src/api/types';
import { actionErrorText } from '../src/job/actionText';
import { currentStateOf, currentStatesOf } from '../src/job/mermaid';
import { parseLiveEvent } from '../src/live/parse';
import { dagMermaid } from '../src/runs/dag';
import { applyRunEvent, readRunFilters, toApiRunFilters, writeRunFilters, type RunRow } from '../src/runs/runList';
import { actorText, parseInputs, startRunProblem } from '../src/runs/runText';
import { attemptsUnsettled, retryable, stepRows, stepSpans } from '../src/runs/steps';

const row = (id: string, status: RunRow['status'], version: number, template = 'ui-demo'): RunRow => ({
  id,
  template: { name: template, version: 1 },
  status,
  version,
  progress: { done: 0, total: 2, percent: 0 },
  updatedAt: '2026-01-01T00:00:00.000Z',
  createdAt: '2026-01-01T00:00:00.000Z',
});
const event = (runId: string, status: RunChangeEvent['status'], version: number, extra: Partial<RunChangeEvent> = {}): RunChangeEvent => ({
  kind: 'run',
  runId,
  template: { name: 'ui-demo', version: 1 },
  status,
  version,
  updatedAt: '2026-01-01T00:01:00.000Z',
  events: [],
  progress: { done: 1, total: 2, percent: 50 },
  created: false,
  ...extra,
});
const at = (s: number) => `2026-01-01T00:00:${String(s).padStart(2, '0')}.000Z`;
const ev = (seq: number, step: string, from: string, to: string, s: number): RunAuditEvent => ({ seq, at: at(s), kind: 'step', step, from, to, event: 'X', actor: { kind: 'worker', id: 'vm:1' } });
const attempt = (step: string, visit: number, status: StepAttemptRecord['status']): StepAttemptRecord => ({
  id: `r:${step}:${visit}:1`, step, templateStep: step, visit, attempt: 1, tool: 'shell', router: null, status, host: 'vm', pid: 1,
  startedAt: at(1), heartbeatAt: at(1), endedAt: null, durationMs: null, exitCode: null, usage: null, error: null, stdoutTail: '', stderrTail: '', produced: [],
});
const steps: TemplateStep[] = [
  { id: 'build', tool: 'shell', needs: [] },
  { id: 'test', tool: 'shell', needs: [{ step: 'build', on: 'success' }] },
  { id: 'clean-up', tool: 'function', needs: [{ step: 'test', on: 'always' }] },
];

describe('run list', () => {
  it('keeps status and template in the route query and sends them as given', () => {
    const params = writeRunFilters({ status: 'failed', template: ' ui-demo ' });
    assert.equal(params.toString(), 'status=failed&template=ui-demo');
    assert.deepEqual(readRunFilters(params), { status: 'failed', template: 'ui-demo' });
    assert.deepEqual(toApiRunFilters({ status: '', template: 'x' }), { template: 'x' });
  });

  it('patches a listed run from a live event (to the top of the first page), drops one leaving the filter, adds a new one', () => {
    const rows = [row('a', 'running', 2), row('b', 'running', 1)];
    assert.deepEqual(applyRunEvent(rows, event('b', 'succeeded', 3), {}, true).map((r) => [r.id, r.status, r.progress.percent]), [['b', 'succeeded', 50], ['a', 'running', 0]]);
    assert.deepEqual(applyRunEvent(rows, event('b', 'succeeded', 3), {}, false).map((r) => r.id), ['a', 'b']);
    assert.equal(applyRunEvent(rows, event('a', 'pending', 1), {}, true), rows); // older than the row
    assert.deepEqual(applyRunEvent(rows, event('a', 'failed', 3), { status: 'running' }, true).map((r) => r.id), ['b']);
    assert.deepEqual(applyRunEvent(rows, event('n', 'pending', 1, { created: true }), {}, true).map((r) => r.id), ['n', 'a', 'b']);
    assert.equal(applyRunEvent(rows, event('n', 'pending', 1, { created: true }), {}, false), rows);
    assert.equal(applyRunEvent(rows, event('n', 'pending', 1, { created: true }), { template: 'other' }, true), rows);
  });
});

describe('live events', () => {
  it('parses run events (with their run events), skips unknown kinds and malformed data', () => {
    const e = parseLiveEvent('run', JSON.stringify({ runId: 'run_1', status: 'running', version: 2, events: [{ seq: 1 }] }));
    assert.equal(e?.kind, 'run');
    assert.equal(e?.kind === 'run' && e.events.length, 1);
    assert.deepEqual((parseLiveEvent('run', '{"runId":"run_1","status":"running"}') as RunChangeEvent).events, []); // none given
    assert.equal(parseLiveEvent('deployment', '{"id":"x"}'), null);
    assert.equal(parseLiveEvent('run', '{not json'), null);
    assert.equal(parseLiveEvent('job', '{"jobId":"j","state":"QUEUED"}')?.kind, 'job');
  });
});

describe('the DAG as a Mermaid flowchart', () => {
  const run: Pick<PipelineRun, 'steps' | 'spawned'> = {
    steps: { build: { status: 'succeeded', visit: 2 }, test: { status: 'awaitingSpawn', visit: 1 }, 'clean-up': { status: 'waiting', visit: 0 } },
    spawned: [{ id: 'build~1', parentStepId: 'test', status: 'running', depth: 1, visit: 1, regressionContext: { reason: 'tests fail' } }],
  };

  it('draws the needs as edges, the spawned step off its parent, and classes every node by its status', () => {
    const { text, nodes } = dagMermaid(steps, run);
    const lines = text.split('\n').map((l) => l.trim());
    assert.equal(lines[0], 'flowchart LR');
    assert.ok(lines.includes('n_build("build<br/>succeeded · visit 2")'));
    assert.ok(lines.includes('n_build_1[/"build~1<br/>running"/]'));
    assert.ok(lines.includes('n_build --> n_test'));
    assert.ok(lines.includes('n_test -. always .-> n_clean_up'));
    assert.ok(lines.includes('n_test -. spawned .-> n_build_1'));
    assert.ok(lines.includes('class n_test awaitingSpawn'));
    assert.ok(lines.includes('class n_clean_up waiting'));
    assert.deepEqual([...nodes].map(([id, n]) => `${id}=${n.step}:${n.status}`), ['n_build=build:succeeded', 'n_test=test:awaitingSpawn', 'n_clean_up=clean-up:waiting', 'n_build_1=build~1:running']);
  });

  it('gives clashing ids a suffix, and draws the run\'s steps without edges before the template is known', () => {
    const { nodes, text } = dagMermaid(null, { steps: { 'a-b': { status: 'running', visit: 1 }, a_b: { status: 'waiting', visit: 0 } }, spawned: [] });
    assert.deepEqual([...nodes.keys()], ['n_a_b', 'n_a_b_2']);
    assert.ok(!text.includes('-->'));
  });
});

describe('steps', () => {
  const events = [ev(1, 'build', 'waiting', 'running', 1), ev(2, 'build', 'running', 'succeeded', 4), ev(3, 'test', 'waiting', 'running', 4), ev(4, 'test', 'running', 'awaitingSpawn', 6), ev(5, 'test', 'awaitingSpawn', 'running', 9)];

  it('times each step from its last entry into running to its next change', () => {
    const spans = stepSpans(events);
    assert.deepEqual(spans.get('build'), { from: at(1), to: at(4) });
    assert.deepEqual(spans.get('test'), { from: at(9), to: null });
  });

  it('lists the template\'s steps with needs, attempts and spans, then the spawned ones; offers a retry on failed, skipped and interrupted steps', () => {
    const run: Pick<PipelineRun, 'steps' | 'spawned'> = {
      steps: { build: { status: 'succeeded', visit: 1 }, test: { status: 'failed', visit: 2, error: { code: 'EXIT_1', message: 'x' } }, 'clean-up': { status: 'skipped', visit: 0, reason: 'needs test' } },
      spawned: [{ id: 'build~1', parentStepId: 'test', status: 'succeeded', depth: 1, visit: 1, regressionContext: { reason: 'r' } }],
    };
    const rows = stepRows(steps, run, events, [attempt('build', 1, 'succeeded'), attempt('test', 1, 'failed'), attempt('test', 2, 'failed')]);
    assert.deepEqual(rows.map((r) => [r.step, r.status, r.attempts, r.needs.length]), [['build', 'succeeded', 1, 0], ['test', 'failed', 2, 1], ['clean-up', 'skipped', 0, 1], ['build~1', 'succeeded', 0, 0]]);
    assert.deepEqual(rows.map(retryable), [false, true, true, false]);
    assert.equal(retryable({ ...rows[0]!, status: 'waiting', error: { code: 'EXIT_3', message: '' } }), true); // a quarantined run's interrupted step
  });

  it('knows when the attempts lag the run', () => {
    const running: Pick<PipelineRun, 'status' | 'steps' | 'spawned'> = { status: 'running', steps: { build: { status: 'running', visit: 1 } }, spawned: [] };
    assert.equal(attemptsUnsettled(running, []), true); // its attempt is not recorded yet
    assert.equal(attemptsUnsettled(running, [attempt('build', 1, 'running')]), false);
    const canceled = { ...running, status: 'canceled' as const, steps: { build: { status: 'canceled' as const, visit: 1 } } };
    assert.equal(attemptsUnsettled(canceled, [attempt('build', 1, 'running')]), true); // being aborted
    assert.equal(attemptsUnsettled(canceled, [attempt('build', 1, 'aborted')]), false);
  });
});

describe('runs in words', () => {
  it('says who moved a run', () => {
    assert.equal(actorText({ kind: 'api', id: 'key:3f9a1c02' }), 'api key:3f9a1c02');
    assert.equal(actorText({ kind: 'worker', id: 'vm:1553' }), 'worker vm:1553');
  });

  it('says why an action on a run was refused', () => {
    const e = new ApiError(409, { statusCode: 409, code: 'ILLEGAL_EVENT', state: 'canceled', event: 'RELEASE', acceptedEvents: [], message: 'x' });
    assert.equal(actionErrorText(e, 'RELEASE', 'run'), 'Cannot send RELEASE: the run is canceled, which accepts no events.');
    const busy = new ApiError(409, { statusCode: 409, code: 'CONCURRENT_UPDATE', message: 'run r kept changing; try again' });
    assert.equal(actionErrorText(busy, 'CANCEL', 'run'), 'Cannot send CANCEL: run r kept changing; try again (CONCURRENT_UPDATE). The run changed meanwhile; it has been reloaded.');
  });

  it('says why a run did not start: quarantined template, unknown template, fields of a 400', () => {
    const q = new ApiError(409, { statusCode: 409, code: 'TEMPLATE_QUARANTINED', message: 'template t is quarantined (the last 2 runs failed); release it with POST /pipeline-templates/t/release' });
    assert.equal(startRunProblem(q, 't').general, 'Cannot start t: the template is quarantined (the last 2 runs failed). Release it with POST /pipeline-templates/t/release to start runs again.');
    assert.match(startRunProblem(new ApiError(404, { code: 'TEMPLATE_NOT_FOUND', message: 'template t not found' }), 't').fields.template ?? '', /^There is no template t/);
    const bad = new ApiError(400, { message: 'x', errors: [{ field: 'inputs', messages: ['inputs must be an object'] }, { field: 'other', messages: ['?'] }] });
    assert.deepEqual(startRunProblem(bad, 't'), { fields: { inputs: 'inputs must be an object' }, general: 'other: ?' });
  });

  it('reads the inputs textarea as a JSON object', () => {
    assert.deepEqual(parseInputs(' '), { ok: true, value: {} });
    assert.deepEqual(parseInputs('{"a": 1}'), { ok: true, value: { a: 1 } });
    assert.equal(parseInputs('[1]').ok, false);
    assert.match((parseInputs('{a') as { message: string }).message, /^Inputs must be JSON/);
  });
});

describe('statechart highlights', () => {
  it('reads every current state of a run\'s chart (one per region)', () => {
    const text = 'stateDiagram-v2\n    class a,b visited\n    class running_build_running,running_test_waiting current\n';
    assert.deepEqual(currentStatesOf(text), ['running_build_running', 'running_test_waiting']);
    assert.equal(currentStateOf(text), 'running_build_running');
    assert.equal(currentStateOf('stateDiagram-v2\n'), null);
  });
});
