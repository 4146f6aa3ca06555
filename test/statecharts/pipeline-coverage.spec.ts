/**
 * Generated transition coverage of every built-in pipeline template's compiled statechart (see
 * ./pipeline-paths.ts): the legal transitions are read from the machine's state nodes, paths are
 * generated with xstate/graph under several limits variants, replayed on the pure machine with an
 * inspecting actor, and every legal transition must be taken by some path — except the ones
 * listed in {@link UNREACHABLE_TRANSITIONS}, which no event sequence can take (dead branches the
 * compiler emits), each with the reason, checked on the explored graph. Pure: no services (Jest's
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

/** Why a transition cannot be taken. */
type UnreachableReason =
  /** `needsUnreachable` on a step without needs: `some` over no needs is always false. */
  | 'no-needs'
  /**
   * `needsUnreachable` on a step whose needs are all `on: always`: such a need is unreachable
   * only when the upstream step is `canceled`, and a step is marked canceled only by CANCEL,
   * which leaves `running` for the final `canceled` state.
   */
  | 'always-needs-never-canceled'
  /**
   * `keptStatus(succeeded|failed)` on the step every other step is upstream of: it is kept only
   * when `running` is re-entered, but RETRY_STEP resets it (it descends from every step), and it
   * can only be terminal once every step is (its needs met), when onDone leaves `running` at once
   * — so no step is running to quarantine the run while it is terminal.
   */
  | 'sink-never-kept';

/**
 * Legal transitions no path can take (provably: see the reasons), per machine. Asserted to be
 * exactly the uncovered ones; when the compiler stops emitting them (or they become reachable),
 * this list must change.
 */
export const UNREACHABLE_TRANSITIONS: Record<string, { id: string; reason: UnreachableReason }[]> = {
  'pipeline:plan-dev-test-verify@1': [
    { id: 'running.plan.waiting:always:2', reason: 'no-needs' },
    { id: 'running.verify.waiting:always:0', reason: 'sink-never-kept' },
    { id: 'running.verify.waiting:always:1', reason: 'sink-never-kept' },
  ],
  'pipeline:fan-out-fan-in@1': [
    { id: 'running.prepare.waiting:always:2', reason: 'no-needs' },
    { id: 'running.cleanup.waiting:always:2', reason: 'always-needs-never-canceled' },
  ],
  'pipeline:dev-test-regression@1': [
    { id: 'running.dev.waiting:always:2', reason: 'no-needs' },
    { id: 'running.report.waiting:always:0', reason: 'sink-never-kept' },
    { id: 'running.report.waiting:always:1', reason: 'sink-never-kept' },
    { id: 'running.report.waiting:always:2', reason: 'always-needs-never-canceled' },
  ],
};

/**
 * Invariant violations the generated paths find, per machine and limits variant: compiler bugs,
 * named so that they are not hidden (and asserted to be exactly these, so a fix shows up).
 *
 * maxParallel: when a spawned step succeeds, its parent goes `awaitingSpawn → running`
 * (`restartAfterSpawn`, no capacity check) in the same eventless microstep in which a `ready`
 * step's `hasCapacity` sees the freed slot (it counts running steps and earlier ready ones, not a
 * parent about to restart), so both start. Shortest case, maxParallel 2: START,
 * STEP_SUCCEEDED(prepare v1), STEP_SPAWNED(build-a v1), STEP_SUCCEEDED(build-a~1 v1) → build-a,
 * build-b and build-c running.
 */
export const KNOWN_INVARIANT_VIOLATIONS: string[] = [
  'pipeline:fan-out-fan-in@1 no-budget maxParallel',
  'pipeline:fan-out-fan-in@1 budget-2 maxParallel',
  'pipeline:fan-out-fan-in@1 serial maxParallel',
];

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
    expect(Object.keys(UNREACHABLE_TRANSITIONS)).toEqual(runs.map((r) => r.pipeline.label));
    // The state space is bounded by abstractState: generating every machine's paths takes seconds.
    console.log(`pipeline paths generated in ${generationMs} ms (${runs.map((r) => `${r.pipeline.label} ${r.ms} ms`).join(', ')})`);
  });

  describe.each(runs.map((r) => [r.pipeline.label, r] as const))('%s', (label, run) => {
    const { pipeline, legal, explorations, covering } = run;
    const { template, machine } = pipeline;
    const legalIds = new Set(legal.map((t) => t.id));
    const unreachable = UNREACHABLE_TRANSITIONS[label];

    it('lists the legal transitions from the state nodes: 14 per step region, 14 at the top level', () => {
      // Per step: waiting 4 (+1 failFast), ready 1 (+1 failFast), running 7 (STEP_SUCCEEDED 1,
      // STEP_FAILED 2, STEP_ATTEMPT_FAILED 2, STEP_SPAWNED 2), awaitingSpawn 2. Top level: pending 2,
      // running 8 (CANCEL, the spawned steps' 5, onDone 2), quarantined 3, failed 1.
      const failFastSteps = template.failFast ? template.steps.filter((s) => s.needs.every((n) => n.on === 'success')).length : 0;
      expect(legal).toHaveLength(14 + 14 * template.steps.length + 2 * failFastSteps);
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
      expect(legal.filter((t) => t.eventType === ALWAYS)).toHaveLength(7 * template.steps.length + 2 * failFastSteps);
    });

    it('covers every reachable legal transition (prints "transition coverage: N/M"); the rest are the named unreachable ones', () => {
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
          `${unreachable.length ? `${unreachable.length} provably unreachable: ${unreachable.map((u) => u.id).join(', ')}; ` : ''}` +
          `variants ${explorations.map((x) => x.variant.name).join(', ')}; ${vertices} states, ${edges} edges explored in ${run.ms} ms)`,
      );
      const uncovered = legal.filter((t) => !covered.has(t.id)).map((t) => t.id);
      expect(uncovered.filter((id) => !unreachable.some((u) => u.id === id))).toEqual([]);
      expect(uncovered).toEqual(unreachable.map((u) => u.id));
      expect(n + unreachable.length).toBe(legal.length);
      // Every id the replays (and the traversal) report is a legal transition.
      expect([...taken, ...covered].filter((id) => !legalIds.has(id))).toEqual([]);
      expect(explorations.flatMap((x) => x.edges.flatMap((e) => e.taken)).filter((id) => !legalIds.has(id))).toEqual([]);
      // Every accepted event takes some transition.
      expect(explorations.flatMap((x) => x.edges.filter((e) => e.taken.length === 0).map((e) => e.event.type))).toEqual([]);
    });

    it('the unreachable transitions are so for the stated reason, on every explored state', () => {
      for (const { id, reason } of unreachable) {
        const t = legal.find((l) => l.id === id)!;
        expect(t).toBeDefined();
        const step = template.steps.find((s) => s.id === stepOfRegionTransition(id))!;
        const all = explorations.flatMap((x) => [...x.vertices.map((v) => v.snapshot), ...x.edges.map((e) => e.next)]);
        switch (reason) {
          case 'no-needs':
            expect({ id, guard: t.guard, needs: step.needs }).toEqual({ id, guard: `needsUnreachable(${step.id})`, needs: [] });
            break;
          case 'always-needs-never-canceled': {
            expect({ id, guard: t.guard, on: [...new Set(step.needs.map((n) => n.on))] }).toEqual({ id, guard: `needsUnreachable(${step.id})`, on: ['always'] });
            // No explored snapshot outside the final `canceled` state has a canceled step.
            const canceled = all.filter((s) => s.value !== 'canceled' && Object.values((s.context as PipelineContext).steps).some((x) => x.status === 'canceled'));
            expect(canceled).toHaveLength(0);
            break;
          }
          case 'sink-never-kept': {
            expect(t.guard).toMatch(new RegExp(`^keptStatus\\(${step.id}, (succeeded|failed)\\)$`));
            // Every step is upstream of it, so RETRY_STEP of any step resets it …
            for (const s of template.steps) expect({ retry: s.id, resets: descendants(template, s.id).has(step.id) }).toEqual({ retry: s.id, resets: true });
            // … and no explored run rests in `quarantined` (the only way back with kept statuses) with it terminal.
            const kept = all.filter((s) => s.value === 'quarantined' && ['succeeded', 'failed'].includes((s.context as PipelineContext).steps[step.id].status));
            expect(kept).toHaveLength(0);
            break;
          }
        }
      }
    });

    it('the generated paths keep the run invariants (maxParallel, needs before running, succeeded only without failures) — but for the named compiler bugs', () => {
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
      expect([...found.keys()].sort()).toEqual(KNOWN_INVARIANT_VIOLATIONS.filter((k) => k.startsWith(`${label} `)).sort());
      // The checks also hold on the covering paths replayed with an actor, but for the same bugs.
      for (const path of covering.paths) {
        for (const step of replayPipelinePath(machine, path).steps) {
          for (const message of invariantViolations(template, step.snapshot)) {
            expect(KNOWN_INVARIANT_VIOLATIONS).toContain(`${label} ${path.variant} ${message.split(':')[0]}`);
          }
        }
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

  describe('known compiler bug: maxParallel is exceeded when a spawned step succeeds', () => {
    const fanOut = runs.find((r) => r.pipeline.label === 'pipeline:fan-out-fan-in@1')!.pipeline;
    it('START, prepare succeeds, build-a spawns, build-a~1 succeeds → three builds running with maxParallel 2', () => {
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
      // Pinned: when the compiler is fixed, this fails — remove the entries of KNOWN_INVARIANT_VIOLATIONS and this test.
      expect(runningSteps(end.snapshot).map((s) => s.step)).toEqual(['build-a', 'build-b', 'build-c']);
      expect(end.taken).toEqual(
        expect.arrayContaining(['running:STEP_SUCCEEDED:0', 'running.build-a.awaitingSpawn:always:0', 'running.build-c.ready:always:0']),
      );
    });
  });
});
