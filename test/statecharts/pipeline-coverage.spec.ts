/**
 * Generated transition coverage of every built-in pipeline template's compiled statechart (see
 * ./pipeline-paths.ts): the legal transitions are read from the machine's state nodes, paths are
 * generated with xstate/graph under several limits variants, replayed on the pure machine with an
 * inspecting actor, and every legal transition must be taken by some path (N/N). Pure: no services (Jest's
 * setup still wants REDIS_URL and MONGODB_URI set; any value does:
 * `REDIS_URL=redis://unused MONGODB_URI=mongodb://unused npx jest test/statecharts/pipeline-coverage.spec.ts`).
 */
import type { AnyStateMachine } from 'xstate';
import type { PipelineContext, PipelineEvent } from '../../src/pipelines/pipeline.types';
import type { PipelineTemplate } from '../../src/pipelines/template.schema';
import {
  ALWAYS,
  builtInPipelines,
  coveringPaths,
  describeReplay,
  edgePath,
  explorePipeline,
  invariantViolations,
  legalPipelineTransitions,
  LIMITS_VARIANTS,
  pipelineInput,
  replayPipelinePath,
  runningSteps,
  TransitionRecorder,
  variantsFor,
  type BuiltInPipeline,
  type Exploration,
  type LegalPipelineTransition,
  type PipelinePath,
} from './pipeline-paths';

/**
 * Branches the compiler does not emit because no event sequence could take them (see
 * pipeline.compiler.ts): `needsUnreachable` for a step whose needs are none or all `on: always`
 * (an `always` need fails only on a canceled upstream, and a canceled run has left `running`), and
 * `keptStatus` for a step every other step is upstream of (RETRY_STEP always resets it, and it
 * ends last, when the run leaves `running`). This generated test found them reachable by no path
 * and found `maxParallel` exceeded after a spawned step succeeded; both are fixed in the compiler.
 */
function omitted(template: PipelineTemplate, stepId: string): { unreachable: boolean; kept: boolean } {
  const step = template.steps.find((s) => s.id === stepId)!;
  const ups = new Set<string>();
  const todo = step.needs.map((n) => n.step);
  while (todo.length) {
    const id = todo.pop()!;
    if (ups.has(id)) continue;
    ups.add(id);
    todo.push(...template.steps.find((s) => s.id === id)!.needs.map((n) => n.step));
  }
  return { unreachable: step.needs.every((n) => n.on === 'always'), kept: template.steps.every((s) => s.id === stepId || ups.has(s.id)) };
}

/** Transitive dependents of `step` (itself included), like the compiler's `resetFrom`. */
function descendants(template: PipelineTemplate, step: string): Set<string> {
  const out = new Set([step]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const s of template.steps) {
      if (!out.has(s.id) && s.needs.some((n) => out.has(n.step))) {
        out.add(s.id);
        grew = true;
      }
    }
  }
  return out;
}

const stepOfRegionTransition = (id: string) => id.split(':')[0].split('.')[1];

interface MachineRun {
  pipeline: BuiltInPipeline;
  legal: LegalPipelineTransition[];
  explorations: Exploration[];
  covering: { byTransition: Map<string, PipelinePath>; paths: PipelinePath[] };
  ms: number;
}

describe('pipeline statecharts: generated transition coverage', () => {
  const started = Date.now();
  const runs: MachineRun[] = builtInPipelines().map((pipeline) => {
    const t0 = Date.now();
    const explorations = variantsFor(pipeline.template).map((v) => explorePipeline(pipeline, v));
    return { pipeline, legal: legalPipelineTransitions(pipeline.machine), explorations, covering: coveringPaths(explorations), ms: Date.now() - t0 };
  });
  const generationMs = Date.now() - started;

  it('generates paths for the three built-in templates', () => {
    expect(runs.map((r) => r.pipeline.label)).toEqual(['pipeline:plan-dev-test-verify@1', 'pipeline:fan-out-fan-in@1', 'pipeline:dev-test-regression@1']);
    // The state space is bounded by abstractState: generating every machine's paths takes seconds.
    console.log(`pipeline paths generated in ${generationMs} ms (${runs.map((r) => `${r.pipeline.label} ${r.ms} ms`).join(', ')})`);
  });

  describe.each(runs.map((r) => [r.pipeline.label, r] as const))('%s', (label, run) => {
    const { pipeline, legal, explorations, covering } = run;
    const { template, machine } = pipeline;
    const legalIds = new Set(legal.map((t) => t.id));
    const omittedBranches = template.steps.reduce((n, s) => n + (omitted(template, s.id).unreachable ? 1 : 0) + (omitted(template, s.id).kept ? 2 : 0), 0);

    it('lists the legal transitions from the state nodes: at most 14 per step region, 14 at the top level', () => {
      // Per step: waiting 4 (+1 failFast; minus the omitted ones), ready 1 (+1 failFast), running 7
      // (STEP_SUCCEEDED 1, STEP_FAILED 2, STEP_ATTEMPT_FAILED 2, STEP_SPAWNED 2), awaitingSpawn 2.
      // Top level: pending 2, running 8 (CANCEL, the spawned steps' 5, onDone 2), quarantined 3, failed 1.
      const failFastSteps = template.failFast ? template.steps.filter((s) => s.needs.every((n) => n.on === 'success')).length : 0;
      expect(legal).toHaveLength(14 + 14 * template.steps.length + 2 * failFastSteps - omittedBranches);
      for (const s of template.steps) {
        const o = omitted(template, s.id);
        expect({ step: s.id, needsUnreachable: legal.some((t) => t.guard === `needsUnreachable(${s.id})`) }).toEqual({ step: s.id, needsUnreachable: !o.unreachable });
        expect({ step: s.id, keptStatus: legal.some((t) => t.guard?.startsWith(`keptStatus(${s.id},`)) }).toEqual({ step: s.id, keptStatus: !o.kept });
      }
      expect(new Set(legal.map((t) => t.id)).size).toBe(legal.length);
      // failFast false: the compiler omits the stoppedByFailFast branches.
      expect(legal.filter((t) => t.guard?.startsWith('stoppedByFailFast')).length).toBe(2 * failFastSteps);
      expect(legal.filter((t) => t.source === 'running' && t.eventType === 'xstate.done.state.pipeline.running').map((t) => [t.target, t.guard])).toEqual([
        ['failed', 'anyStepFailed'],
        ['succeeded', null],
      ]);
      expect(legal.filter((t) => t.targetless).map((t) => t.id)).toEqual([
        // The walk lists a node's own transitions before its children's.
        'running:STEP_SUCCEEDED:0',
        'running:STEP_FAILED:1',
        'running:STEP_ATTEMPT_FAILED:1',
        ...template.steps.map((s) => `running.${s.id}.running:STEP_ATTEMPT_FAILED:1`),
      ]);
      expect(legal.filter((t) => t.eventType === ALWAYS)).toHaveLength(7 * template.steps.length + 2 * failFastSteps - omittedBranches);
    });

    it('covers every legal transition (prints "transition coverage: N/M")', () => {
      const covered = new Set<string>();
      const taken = new Set<string>();
      for (const [id, path] of covering.byTransition) {
        const replay = replayPipelinePath(machine, path);
        for (const step of replay.steps) for (const t of step.taken) taken.add(t);
        // The path's last event takes the transition it was chosen for (the actor agrees with the traversal).
        expect({ id, last: replay.steps.at(-1)!.taken.includes(id) }).toEqual({ id, last: true });
      }
      for (const path of covering.paths) {
        const replay = replayPipelinePath(machine, path);
        for (const step of replay.steps) for (const t of step.taken) covered.add(t);
        // The traversal's recorder (machine.transition with an inspecting scope) takes the same transitions as the actor.
        const recorder = new TransitionRecorder(machine, path.input);
        let snapshot = recorder.initial(path.input);
        const recorded = path.events.map((event) => {
          const { next, taken } = recorder.step(snapshot, event);
          snapshot = next;
          return taken;
        });
        expect(recorded).toEqual(replay.steps.map((s) => s.taken));
        expect(snapshot.value).toEqual(replay.steps.at(-1)!.snapshot.value);
      }
      const n = legal.filter((t) => covered.has(t.id)).length;
      const vertices = explorations.reduce((a, x) => a + x.vertices.length, 0);
      const edges = explorations.reduce((a, x) => a + x.edges.length, 0);
      console.log(
        `transition coverage: ${n}/${legal.length} (${label}, ${covering.paths.length} paths; ` +
          `variants ${explorations.map((x) => x.variant.name).join(', ')}; ${vertices} states, ${edges} edges explored in ${run.ms} ms)`,
      );
      const uncovered = legal.filter((t) => !covered.has(t.id)).map((t) => t.id);
      expect(uncovered).toEqual([]);
      expect(n).toBe(legal.length);
      // Every id the replays (and the traversal) report is a legal transition.
      expect([...taken, ...covered].filter((id) => !legalIds.has(id))).toEqual([]);
      expect(explorations.flatMap((x) => x.edges.flatMap((e) => e.taken)).filter((id) => !legalIds.has(id))).toEqual([]);
      // Every accepted event takes some transition.
      expect(explorations.flatMap((x) => x.edges.filter((e) => e.taken.length === 0).map((e) => e.event.type))).toEqual([]);
    });

    it('the generated paths keep the run invariants (maxParallel, needs before running, succeeded only without failures)', () => {
      // Every snapshot on every generated path: each path's states are explored vertices, and
      // every edge's target.
      const found = new Map<string, { message: string; path: PipelinePath }>();
      for (const x of explorations) {
        const check = (snapshot: Parameters<typeof invariantViolations>[1], path: PipelinePath) => {
          for (const message of invariantViolations(template, snapshot)) {
            const key = `${label} ${x.variant.name} ${message.split(':')[0]}`;
            const current = found.get(key);
            if (!current || path.events.length < current.path.events.length) found.set(key, { message, path });
          }
        };
        for (const v of x.vertices) check(v.snapshot, v.path);
        for (const e of x.edges) check(e.next, edgePath(e));
      }
      for (const [key, { message, path }] of found) {
        console.log(`invariant violation (${key}): ${message}\n  shortest path: ${describeReplay(replayPipelinePath(machine, path))}`);
      }
      expect([...found.keys()]).toEqual([]);
      // The checks also hold on the covering paths replayed with an actor.
      for (const path of covering.paths) {
        for (const step of replayPipelinePath(machine, path).steps) expect(invariantViolations(template, step.snapshot)).toEqual([]);
      }
    });

    it('the limits variants drive the failure-budget branch: only with a budget does a plain STEP_FAILED quarantine', () => {
      // The budget variant is the one that quarantines by the failure budget (a plain STEP_FAILED quarantines).
      const budget = explorations.find((x) => x.variant.name === 'budget-2')!;
      expect(budget.edges.some((e) => e.event.type === 'STEP_FAILED' && !e.event.quarantine && e.taken.some((id) => id.endsWith(':STEP_FAILED:0')))).toBe(true);
      const noBudget = explorations.find((x) => x.variant.name === 'no-budget')!;
      expect(noBudget.edges.some((e) => e.event.type === 'STEP_FAILED' && !e.event.quarantine && e.taken.some((id) => id.endsWith(':STEP_FAILED:0')))).toBe(false);
    });
  });

  describe('regression: maxParallel holds when a spawned step succeeds (found by these paths)', () => {
    const fanOut = runs.find((r) => r.pipeline.label === 'pipeline:fan-out-fan-in@1')!.pipeline;
    it('START, prepare succeeds, build-a spawns, build-a~1 succeeds → build-a runs again beside build-b; build-c still waits (maxParallel 2)', () => {
      const variant = LIMITS_VARIANTS.find((v) => v.name === 'no-budget')!;
      const events: PipelineEvent[] = [
        { type: 'START' },
        { type: 'STEP_SUCCEEDED', step: 'prepare', visit: 1 },
        { type: 'STEP_SPAWNED', step: 'build-a', visit: 1, spawn: 'build-a', reason: 'regression' },
        { type: 'STEP_SUCCEEDED', step: 'build-a~1', visit: 1 },
      ];
      const replay = replayPipelinePath(fanOut.machine as AnyStateMachine, { pipeline: fanOut.label, variant: variant.name, input: pipelineInput(fanOut.template, variant), events });
      const end = replay.steps.at(-1)!;
      expect((end.snapshot.context as PipelineContext).limits.maxParallel).toBe(2);
      // The spawner held its slot while its spawned step ran, and takes it back.
      expect(runningSteps(end.snapshot).map((s) => s.step)).toEqual(['build-a', 'build-b']);
      expect((end.snapshot.context as PipelineContext).steps['build-c'].status).toBe('ready');
      expect(end.taken).toEqual(expect.arrayContaining(['running:STEP_SUCCEEDED:0', 'running.build-a.awaitingSpawn:always:0']));
      expect(end.taken).not.toContain('running.build-c.ready:always:0');
    });
  });
});
