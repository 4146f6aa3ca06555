/**
 * Compiles a pipeline template version to an XState v5 statechart. Pure and deterministic: the
 * same template gives the same machine (state order = step order), so its exported chart and its
 * generated path tests are stable.
 *
 * Shape (see README "Pipelines"):
 * - top level: the run statuses of seed 002 — `pending → running → succeeded | failed`,
 *   `running → quarantined → running` (RELEASE), `failed | quarantined → running` (RETRY_STEP),
 *   `pending | running | quarantined → canceled` (CANCEL);
 * - `running` is a parallel state with one region per template step:
 *   `waiting → ready → running → succeeded | failed`, `waiting | ready → skipped`, and the spawn
 *   loop `running → awaitingSpawn → running` (regression, seed 004 §3);
 * - the context mirrors every step's status (`steps`), which the guards read: a region cannot see
 *   its neighbours' states, and a re-entered `running` (after RELEASE or RETRY_STEP) restores each
 *   region from it (`waiting → succeeded [kept…]`).
 * Steps spawned at run time live in the context (`spawned`), not in regions: their events are
 * handled by the `running` state itself.
 */
import { assign, setup, type AnyStateMachine } from 'xstate';
import { ancestors, type PipelineTemplate } from './template.schema';
import {
  TERMINAL_STEP_STATUSES,
  type CompiledNeed,
  type PipelineContext,
  type PipelineEvent,
  type PipelineInput,
  type SpawnedStep,
  type StepState,
} from './pipeline.types';

/** Machine id of every compiled pipeline; its `version` is `<template>@<version>`. */
export const PIPELINE_MACHINE_ID = 'pipeline';

/** Bumped when the compiled shape changes (stored with every run snapshot). */
export const PIPELINE_COMPILER_VERSION = '1';

type Params = { step: string };
type Ev<T extends PipelineEvent['type']> = Extract<PipelineEvent, { type: T }>;

/** The step an event is about, if any. */
function eventStep(event: PipelineEvent): string | undefined {
  return 'step' in event ? event.step : undefined;
}

/** Whether `event` reports on the current visit of template step `step`. */
function isCurrentVisit(context: PipelineContext, event: PipelineEvent, step: string): boolean {
  if (eventStep(event) !== step || !('visit' in event)) return false;
  return context.steps[step]?.visit === event.visit;
}

/** The spawned step `event` reports on, when it reports on its current visit. */
function currentSpawned(context: PipelineContext, event: PipelineEvent): SpawnedStep | undefined {
  const id = eventStep(event);
  if (!id || !('visit' in event)) return undefined;
  const s = context.spawned.find((x) => x.id === id);
  return s && s.status === 'running' && s.visit === event.visit ? s : undefined;
}

/** Whether one dependency is met / can no longer be met, by the rule in README "Dependency rules". */
export function needVerdict(need: CompiledNeed, upstream: StepState['status']): 'met' | 'unreachable' | 'pending' {
  const terminal = upstream === 'succeeded' || upstream === 'failed' || upstream === 'skipped' || upstream === 'canceled';
  if (!terminal) return 'pending';
  switch (need.on) {
    case 'success':
      return upstream === 'succeeded' ? 'met' : 'unreachable';
    case 'failure':
      return upstream === 'failed' || upstream === 'skipped' ? 'met' : 'unreachable';
    case 'always':
      return upstream === 'canceled' ? 'unreachable' : 'met';
  }
}

/**
 * Slots taken: steps running, and steps awaiting their spawned step (the spawned step runs in the
 * spawner's slot, which the spawner takes back when it runs again).
 */
function runningCount(context: PipelineContext): number {
  return Object.values(context.steps).filter((s) => s.status === 'running' || s.status === 'awaitingSpawn').length;
}

/** Every step that depends on `step`, directly or transitively (in template order). */
function descendants(template: PipelineTemplate, step: string): string[] {
  const out = new Set<string>([step]);
  let grew = true;
  while (grew) {
    grew = false;
    for (const s of template.steps) {
      if (!out.has(s.id) && s.needs.some((n) => out.has(n.step))) {
        out.add(s.id);
        grew = true;
      }
    }
  }
  return template.steps.map((s) => s.id).filter((id) => out.has(id));
}

function setStep(context: PipelineContext, step: string, patch: Partial<StepState>): Record<string, StepState> {
  return { ...context.steps, [step]: { ...context.steps[step], ...patch } };
}

/** The initial context of a run. */
function initialContext(input: PipelineInput): PipelineContext {
  return {
    runId: input.runId,
    tenantId: input.tenantId,
    template: input.template,
    limits: input.limits,
    steps: Object.fromEntries(input.stepIds.map((id) => [id, { status: 'waiting', visit: 0 } satisfies StepState])),
    spawned: [],
    failedAttempts: 0,
    error: null,
  };
}

/**
 * Compiles `template` (stored as `version`) to its statechart.
 * @returns a machine with id `pipeline` and version `<name>@<version>`; its input is {@link PipelineInput}.
 */
export function compilePipeline(template: PipelineTemplate, version: number) {
  const needs = new Map<string, CompiledNeed[]>(template.steps.map((s) => [s.id, s.needs.map((n) => ({ step: n.step, on: n.on }))]));
  const onlySuccessNeeds = (step: string) => (needs.get(step) ?? []).every((n) => n.on === 'success');
  const overBudget = (context: PipelineContext, extra: number) =>
    context.limits.maxFailedAttempts > 0 && context.failedAttempts + extra >= context.limits.maxFailedAttempts;
  const failedCount = (event: PipelineEvent) => (event.type === 'STEP_FAILED' ? 1 : event.type === 'STEP_ATTEMPT_FAILED' ? 1 : 0);
  const quarantineAction = (context: PipelineContext, event: PipelineEvent) => {
    const step = eventStep(event) ?? '?';
    const e = event as Ev<'STEP_FAILED'>;
    const code = e.quarantine ? e.code : 'FAILURE_BUDGET_EXHAUSTED';
    const message = e.quarantine
      ? `step ${step}: ${e.code}: ${e.message} (a quarantine-class error)`
      : `step ${step} failed (${e.code}: ${e.message}); ${context.failedAttempts + 1} failed attempts reached the run's maxFailedAttempts (${context.limits.maxFailedAttempts})`;
    const steps: Record<string, StepState> = {};
    for (const [id, s] of Object.entries(context.steps)) {
      const interrupted = s.status === 'running' || s.status === 'ready' || s.status === 'awaitingSpawn';
      steps[id] = !interrupted ? s : id === step ? { ...s, status: 'waiting', reason: `quarantined the run: ${code}`, error: { code: e.code, message: e.message } } : { ...s, status: 'waiting', reason: 'interrupted by quarantine' };
    }
    return {
      steps,
      spawned: context.spawned.map((s) => (s.status === 'running' || s.status === 'ready' ? { ...s, status: 'canceled' as const, ...(s.id === step ? { error: { code: e.code, message: e.message } } : {}) } : s)),
      failedAttempts: context.failedAttempts + failedCount(event),
      error: { code: 'QUARANTINED', message: `${code}: ${message}` },
    };
  };

  const machineSetup = setup({
    types: {} as { context: PipelineContext; events: PipelineEvent; input: PipelineInput },
    guards: {
      keptStatus: ({ context }, p: Params & { status: string }) => context.steps[p.step]?.status === p.status,
      needsUnreachable: ({ context }, p: Params) => (needs.get(p.step) ?? []).some((n) => needVerdict(n, context.steps[n.step].status) === 'unreachable'),
      needsMet: ({ context }, p: Params) => (needs.get(p.step) ?? []).every((n) => needVerdict(n, context.steps[n.step].status) === 'met'),
      stoppedByFailFast: ({ context }, p: Params) =>
        context.limits.failFast && onlySuccessNeeds(p.step) && Object.values(context.steps).some((s) => s.status === 'failed'),
      // Eventless transitions of all regions are selected together on one context, so a step
      // counts the ready steps before it (template order) as if they had started already.
      hasCapacity: ({ context }, p: Params) => {
        const ids = Object.keys(context.steps);
        const before = ids.slice(0, ids.indexOf(p.step)).filter((id) => context.steps[id].status === 'ready').length;
        return runningCount(context) + before < context.limits.maxParallel;
      },
      isCurrent: ({ context, event }, p: Params) => isCurrentVisit(context, event, p.step),
      quarantines: ({ context, event }, p: Params) =>
        isCurrentVisit(context, event, p.step) && ((event as Ev<'STEP_FAILED'>).quarantine === true || overBudget(context, 1)),
      spawnAllowed: ({ context, event }, p: Params) => {
        if (!isCurrentVisit(context, event, p.step)) return false;
        const rounds = context.spawned.filter((s) => s.parentStepId === p.step).length;
        const total = Object.keys(context.steps).length + context.spawned.length;
        return rounds < context.limits.maxSpawnDepth && total < context.limits.maxStepsPerRun;
      },
      spawnSucceeded: ({ context }, p: Params) => lastSpawn(context, p.step)?.status === 'succeeded',
      spawnFailed: ({ context }, p: Params) => {
        const s = lastSpawn(context, p.step)?.status;
        return s === 'failed' || s === 'canceled';
      },
      isSpawnedCurrent: ({ context, event }) => currentSpawned(context, event) !== undefined,
      quarantinesSpawned: ({ context, event }) =>
        currentSpawned(context, event) !== undefined && ((event as Ev<'STEP_FAILED'>).quarantine === true || overBudget(context, 1)),
      anyStepFailed: ({ context }) => Object.values(context.steps).some((s) => s.status === 'failed'),
      isKnownStep: ({ context, event }) => {
        const step = eventStep(event);
        return step !== undefined && Object.hasOwn(context.steps, step);
      },
    },
    actions: {
      markSkipped: assign(({ context }, p: Params & { why: string }) => {
        const reasons = (needs.get(p.step) ?? [])
          .filter((n) => needVerdict(n, context.steps[n.step].status) === 'unreachable')
          .map((n) => `needs ${n.step} on ${n.on}; ${n.step} ${context.steps[n.step].status}`);
        return { steps: setStep(context, p.step, { status: 'skipped', reason: p.why === 'fail-fast' ? 'failFast: another step failed' : reasons.join('; ') }) };
      }),
      markReady: assign(({ context }, p: Params) => ({ steps: setStep(context, p.step, { status: 'ready', reason: undefined }) })),
      startStep: assign(({ context }, p: Params) => ({ steps: setStep(context, p.step, { status: 'running', visit: context.steps[p.step].visit + 1, error: undefined }) })),
      succeed: assign(({ context, event }, p: Params) => ({
        steps: setStep(context, p.step, { status: 'succeeded', reason: undefined, artifacts: (event as Ev<'STEP_SUCCEEDED'>).artifacts ?? {}, attemptId: (event as Ev<'STEP_SUCCEEDED'>).attempt }),
      })),
      fail: assign(({ context, event }, p: Params) => {
        const e = event as Ev<'STEP_FAILED'>;
        return { steps: setStep(context, p.step, { status: 'failed', error: { code: e.code, message: e.message } }), failedAttempts: context.failedAttempts + 1 };
      }),
      countFailure: assign(({ context }) => ({ failedAttempts: context.failedAttempts + 1 })),
      quarantine: assign(({ context, event }) => quarantineAction(context, event)),
      spawn: assign(({ context, event }, p: Params) => {
        const e = event as Ev<'STEP_SPAWNED'>;
        const n = context.spawned.filter((s) => s.templateStep === e.spawn).length + 1;
        const rounds = context.spawned.filter((s) => s.parentStepId === p.step).length;
        const child: SpawnedStep = {
          id: `${e.spawn}~${n}`,
          templateStep: e.spawn,
          parentStepId: p.step,
          depth: rounds + 1,
          parentVisit: e.visit,
          status: 'running',
          visit: 1,
          regressionContext: { reason: e.reason, ...(e.failingOutput !== undefined ? { failingOutput: e.failingOutput } : {}) },
        };
        return { steps: setStep(context, p.step, { status: 'awaitingSpawn' }), spawned: [...context.spawned, child] };
      }),
      failSpawnLimit: assign(({ context }, p: Params) => {
        const rounds = context.spawned.filter((s) => s.parentStepId === p.step).length;
        const total = Object.keys(context.steps).length + context.spawned.length;
        const error =
          rounds >= context.limits.maxSpawnDepth
            ? { code: 'MAX_SPAWN_DEPTH', message: `step ${p.step} asked for spawn ${rounds + 1}, over maxSpawnDepth (${context.limits.maxSpawnDepth})` }
            : { code: 'MAX_STEPS_PER_RUN', message: `step ${p.step} asked for a spawn; the run has ${total} steps, maxStepsPerRun is ${context.limits.maxStepsPerRun}` };
        return { steps: setStep(context, p.step, { status: 'failed', error }), failedAttempts: context.failedAttempts + 1 };
      }),
      restartAfterSpawn: assign(({ context }, p: Params) => ({ steps: setStep(context, p.step, { status: 'running', visit: context.steps[p.step].visit + 1 }) })),
      failFromSpawn: assign(({ context }, p: Params) => {
        const child = lastSpawn(context, p.step);
        const error = { code: 'SPAWNED_STEP_FAILED', message: `spawned step ${child?.id} ${child?.status}: ${child?.error?.code ?? ''} ${child?.error?.message ?? ''}`.trim() };
        return { steps: setStep(context, p.step, { status: 'failed', error }) };
      }),
      spawnedSucceeded: assign(({ context, event }) => ({
        spawned: context.spawned.map((s) => (s === currentSpawned(context, event) ? { ...s, status: 'succeeded' as const, artifacts: (event as Ev<'STEP_SUCCEEDED'>).artifacts ?? {}, attemptId: (event as Ev<'STEP_SUCCEEDED'>).attempt } : s)),
      })),
      spawnedFailed: assign(({ context, event }) => {
        const e = event as Ev<'STEP_FAILED'>;
        return {
          spawned: context.spawned.map((s) => (s === currentSpawned(context, event) ? { ...s, status: 'failed' as const, error: { code: e.code, message: e.message } } : s)),
          failedAttempts: context.failedAttempts + 1,
        };
      }),
      recordFailure: assign(({ context }) => {
        const failed = Object.entries(context.steps).filter(([, s]) => s.status === 'failed').map(([id]) => id);
        return { error: { code: 'STEP_FAILED', message: `step${failed.length > 1 ? 's' : ''} ${failed.join(', ')} failed` } };
      }),
      cancelSteps: assign(({ context, event }) => ({
        steps: Object.fromEntries(
          Object.entries(context.steps).map(([id, s]) => [id, TERMINAL_STEP_STATUSES.includes(s.status) ? s : { ...s, status: 'canceled' as const, reason: 'run canceled' }]),
        ),
        spawned: context.spawned.map((s) => (s.status === 'running' || s.status === 'ready' ? { ...s, status: 'canceled' as const } : s)),
        error: { code: 'CANCELED', message: (event as Ev<'CANCEL'>).reason ?? 'run canceled' },
      })),
      release: assign(({ context }) => ({ error: null, failedAttempts: 0, steps: context.steps })),
      resetFrom: assign(({ context, event }) => {
        const from = (event as Ev<'RETRY_STEP'>).step;
        const reset = new Set(descendants(template, from));
        const steps: Record<string, StepState> = {};
        for (const [id, s] of Object.entries(context.steps)) {
          steps[id] = reset.has(id) || s.status === 'skipped' ? { status: 'waiting', visit: s.visit } : s;
        }
        return { steps, error: null, failedAttempts: 0 };
      }),
    },
  });

  const regions: Record<string, object> = {};
  const allIds = template.steps.map((s) => s.id);
  for (const step of template.steps) {
    const p = { step: step.id };
    // Branches no event sequence can take are not emitted (the generated path tests prove the
    // rest reachable): a step with no need other than `always` can never find a need unreachable
    // (an `always` need fails only on a canceled upstream, and a canceled run has left `running`);
    // a step that depends on every other step is always reset by RETRY_STEP and ends last, so its
    // status is never kept across a re-entry of `running`.
    const mayBeUnreachable = step.needs.some((n) => n.on !== 'always');
    const upstream = ancestors(template.steps, step.id);
    const mayBeKept = allIds.some((id) => id !== step.id && !upstream.has(id));
    const needText = step.needs.length ? `needs ${step.needs.map((n) => `${n.step} on ${n.on}`).join(', ')}` : 'no needs';
    const failFast = template.failFast && onlySuccessNeeds(step.id) ? [{ guard: { type: 'stoppedByFailFast', params: p }, target: 'skipped', actions: { type: 'markSkipped', params: { ...p, why: 'fail-fast' } } }] : [];
    regions[step.id] = {
      initial: 'waiting',
      description: `step ${step.id}: tool ${step.tool}; ${needText}`,
      states: {
        waiting: {
          always: [
            ...(mayBeKept
              ? [
                  { guard: { type: 'keptStatus', params: { ...p, status: 'succeeded' } }, target: 'succeeded' },
                  { guard: { type: 'keptStatus', params: { ...p, status: 'failed' } }, target: 'failed' },
                ]
              : []),
            ...(mayBeUnreachable ? [{ guard: { type: 'needsUnreachable', params: p }, target: 'skipped', actions: { type: 'markSkipped', params: { ...p, why: 'needs' } } }] : []),
            ...failFast,
            { guard: { type: 'needsMet', params: p }, target: 'ready', actions: { type: 'markReady', params: p } },
          ],
        },
        ready: {
          always: [...failFast, { guard: { type: 'hasCapacity', params: p }, target: 'running', actions: { type: 'startStep', params: p } }],
        },
        running: {
          on: {
            STEP_SUCCEEDED: { guard: { type: 'isCurrent', params: p }, target: 'succeeded', actions: { type: 'succeed', params: p } },
            STEP_FAILED: [
              { guard: { type: 'quarantines', params: p }, target: `#${PIPELINE_MACHINE_ID}.quarantined`, actions: 'quarantine' },
              { guard: { type: 'isCurrent', params: p }, target: 'failed', actions: { type: 'fail', params: p } },
            ],
            STEP_ATTEMPT_FAILED: [
              { guard: { type: 'quarantines', params: p }, target: `#${PIPELINE_MACHINE_ID}.quarantined`, actions: 'quarantine' },
              { guard: { type: 'isCurrent', params: p }, actions: 'countFailure' },
            ],
            STEP_SPAWNED: [
              { guard: { type: 'spawnAllowed', params: p }, target: 'awaitingSpawn', actions: { type: 'spawn', params: p } },
              { guard: { type: 'isCurrent', params: p }, target: 'failed', actions: { type: 'failSpawnLimit', params: p } },
            ],
          },
        },
        awaitingSpawn: {
          always: [
            { guard: { type: 'spawnSucceeded', params: p }, target: 'running', actions: { type: 'restartAfterSpawn', params: p } },
            { guard: { type: 'spawnFailed', params: p }, target: 'failed', actions: { type: 'failFromSpawn', params: p } },
          ],
        },
        succeeded: { type: 'final' },
        failed: { type: 'final' },
        skipped: { type: 'final' },
      },
    };
  }

  return machineSetup.createMachine({
    id: PIPELINE_MACHINE_ID,
    version: `${template.name}@${version}`,
    context: ({ input }) => initialContext(input),
    initial: 'pending',
    states: {
      pending: {
        description: 'the run is stored; its first steps start on START',
        on: { START: { target: 'running' }, CANCEL: { target: 'canceled', actions: 'cancelSteps' } },
      },
      running: {
        type: 'parallel',
        description: 'steps run as their needs allow, at most maxParallel at once',
        states: regions,
        onDone: [{ guard: 'anyStepFailed', target: 'failed', actions: 'recordFailure' }, { target: 'succeeded' }],
        on: {
          CANCEL: { target: 'canceled', actions: 'cancelSteps' },
          // Steps spawned at run time (no region of their own).
          STEP_SUCCEEDED: { guard: 'isSpawnedCurrent', actions: 'spawnedSucceeded' },
          STEP_FAILED: [
            { guard: 'quarantinesSpawned', target: 'quarantined', actions: 'quarantine' },
            { guard: 'isSpawnedCurrent', actions: 'spawnedFailed' },
          ],
          STEP_ATTEMPT_FAILED: [
            { guard: 'quarantinesSpawned', target: 'quarantined', actions: 'quarantine' },
            { guard: 'isSpawnedCurrent', actions: 'countFailure' },
          ],
        },
      },
      quarantined: {
        description: 'kept for inspection; nothing runs until RELEASE',
        on: {
          RELEASE: { target: 'running', actions: 'release' },
          RETRY_STEP: { guard: 'isKnownStep', target: 'running', actions: 'resetFrom' },
          CANCEL: { target: 'canceled', actions: 'cancelSteps' },
        },
      },
      succeeded: { type: 'final', description: 'every step succeeded or was skipped' },
      failed: {
        description: 'a step failed; RETRY_STEP reruns from a step, keeping what is upstream of it',
        on: { RETRY_STEP: { guard: 'isKnownStep', target: 'running', actions: 'resetFrom' } },
      },
      canceled: { type: 'final', description: 'canceled; running steps were killed' },
    },
  });
}

/** The spawned step a template step waits for (its latest spawn). */
function lastSpawn(context: PipelineContext, step: string): SpawnedStep | undefined {
  const mine = context.spawned.filter((s) => s.parentStepId === step);
  return mine[mine.length - 1];
}

export type PipelineMachine = ReturnType<typeof compilePipeline>;
export type { AnyStateMachine };
