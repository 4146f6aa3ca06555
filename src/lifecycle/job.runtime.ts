import { createActor, waitFor, type InspectionEvent, type SnapshotFrom } from 'xstate';
import { guardText } from './guard-text';
import { jobMachine, JOB_MACHINE_VERSION, type JobMachine } from './job.machine';
import {
  EXTERNAL_EVENT_TYPES,
  seedEventName,
  STAGE_ACTOR_ID,
  STAGE_STATE,
  type JobContext,
  type JobEvent,
  type JobEventType,
  type JobInput,
  type JobState,
  type Stage,
  type StageFault,
} from './job.types';

/** A persisted snapshot of the job machine (`actor.getPersistedSnapshot()`), JSON-serialisable. */
export interface PersistedJobSnapshot {
  status: string;
  value: unknown;
  context: JobContext;
  /** Invoked children by id; a working stage's child is `{ snapshot: { status: 'active', input } }`. */
  children?: Record<string, { snapshot?: { status?: string; input?: unknown }; src?: unknown }>;
  historyValue?: unknown;
  [key: string]: unknown;
}
export type JobSnapshot = SnapshotFrom<JobMachine>;

/** A transition taken while advancing the machine (time and attempt are added when committed). */
export interface AppliedTransition {
  from: JobState;
  to: JobState;
  /** Seed event name, see `seedEventName`. */
  event: string;
  /** Guard of the branch taken (`isApproved`, `isOverBudget(coding)`); absent when unguarded. */
  guard?: string;
}

/** Result of advancing a job's actor: what to commit. */
export interface Advance {
  snapshot: PersistedJobSnapshot;
  state: JobState;
  context: JobContext;
  transitions: AppliedTransition[];
}

/** Thrown when an event is not accepted in the current state. `code` = ILLEGAL_EVENT. */
export class IllegalEventError extends Error {
  readonly code = 'ILLEGAL_EVENT';
  constructor(
    readonly state: JobState,
    readonly eventType: string,
    readonly accepted: JobEventType[],
  ) {
    super(`event ${eventType} is not accepted in state ${state}; accepted: ${accepted.join(', ') || 'none'}`);
    this.name = 'IllegalEventError';
  }
}

/** The top-level state of a machine snapshot. */
export function stateOf(snapshot: { value: unknown }): JobState {
  const v = snapshot.value;
  return (typeof v === 'string' ? v : Object.keys(v as object)[0]) as JobState;
}

/**
 * Creates and starts an actor, recording every microstep that changes or re-enters a state.
 * `bind` is called with the new actor's system before it starts (see {@link runStage}).
 */
function startRecording(machine: JobMachine, options: { snapshot?: PersistedJobSnapshot; input?: JobInput; bind?: (system: object) => void }) {
  const transitions: AppliedTransition[] = [];
  let previous: JobState | undefined = options.snapshot
    ? stateOf(options.snapshot as unknown as { value: unknown })
    : undefined;
  const actor = createActor(machine, {
    ...(options.snapshot ? { snapshot: options.snapshot } : { input: options.input as JobInput }),
    inspect: (ev: InspectionEvent) => {
      if (ev.type !== '@xstate.microstep' || ev.actorRef !== actor) return;
      const to = stateOf(ev.snapshot as unknown as { value: unknown });
      if (previous !== undefined && ev._transitions.length > 0) {
        const guard = guardText((ev._transitions[0] as { guard?: unknown }).guard);
        transitions.push({ from: previous, to, event: seedEventName(ev.event), ...(guard ? { guard } : {}) });
      }
      previous = to;
    },
  } as never);
  options.bind?.(actor.system);
  actor.start();
  return { actor, transitions };
}

/** Builds the persisted snapshot of a new job in QUEUED. Calls no agent. */
export function createJobSnapshot(input: JobInput): Advance {
  const { actor } = startRecording(jobMachine, { input });
  return finish(actor, []);
}

function finish(actor: ReturnType<typeof startRecording>['actor'], transitions: AppliedTransition[]): Advance {
  const snap = actor.getSnapshot();
  const persisted = actor.getPersistedSnapshot() as unknown as PersistedJobSnapshot;
  actor.stop();
  return { snapshot: persisted, state: stateOf(snap), context: snap.context, transitions };
}

/** Event types from {@link EXTERNAL_EVENT_TYPES} the snapshot accepts right now. */
export function acceptedEvents(persisted: PersistedJobSnapshot): JobEventType[] {
  const snap = jobMachine.resolveState(persisted as never) as JobSnapshot;
  return EXTERNAL_EVENT_TYPES.filter((type) => snap.can({ type } as JobEvent));
}

/**
 * Applies one external event to a persisted snapshot, with the default (parked) stage actors, so
 * no agent is called: a stage entered here is run later by its worker.
 * @throws IllegalEventError when the current state does not accept the event.
 */
export function applyEvent(persisted: PersistedJobSnapshot, event: JobEvent): Advance {
  const resolved = jobMachine.resolveState(persisted as never) as JobSnapshot;
  if (!resolved.can(event)) {
    throw new IllegalEventError(stateOf(resolved), event.type, acceptedEvents(persisted));
  }
  const { actor, transitions } = startRecording(jobMachine, { snapshot: persisted });
  actor.send(event);
  return finish(actor, transitions);
}

/** Outcome of running one stage. */
export type StageRun =
  /** The machine left the stage (or finished its work in it): commit this. */
  | ({ kind: 'advanced' } & Advance)
  /** A transient fault with attempts left: commit nothing, let the queue retry. */
  | { kind: 'retry'; fault: StageFault };

/**
 * Rehydrates the actor from `persisted` with `machine` (the job machine with this stage's actor
 * provided), lets the invoked stage actor run, and waits until the machine leaves the stage's
 * state or the invoked actor settles inside it (e.g. a transient fault, or PR_OPEN waiting for
 * MARK_COMPLETED). For planning, a QUEUED snapshot first receives START_PLANNING.
 * @param signal aborts the wait (the invoked actor sees its own signal when the actor stops).
 * @param bind called with the actor's system before the actor starts, so that a machine provided
 *   once (its stage actors shared by every run) can give this run's invoked actor what it needs:
 *   its logic receives the same `system` (XState's `fromPromise` creator argument).
 * @throws Error when the snapshot is not in the stage's state (or QUEUED for planning).
 */
export async function runStage(
  machine: JobMachine,
  persisted: PersistedJobSnapshot,
  stage: Stage,
  signal?: AbortSignal,
  bind?: (system: object) => void,
): Promise<StageRun> {
  const stageState = STAGE_STATE[stage];
  const current = stateOf(persisted as unknown as { value: unknown });
  if (current !== stageState && !(stage === 'planning' && current === 'QUEUED')) {
    throw new Error(`snapshot is in ${current}, not in ${stageState}`);
  }
  const { actor, transitions } = startRecording(machine, { snapshot: persisted, bind });
  try {
    if (current === 'QUEUED') actor.send({ type: 'START_PLANNING' });
    const childId = STAGE_ACTOR_ID[stage];
    const settled = (s: JobSnapshot) => {
      if (stateOf(s) !== stageState) return true;
      const child = (s.children as Record<string, { getSnapshot(): { status: string } } | undefined>)[childId];
      return !child || child.getSnapshot().status !== 'active';
    };
    await waitFor(actor, settled, { timeout: Infinity, ...(signal ? { signal } : {}) });
    const snap = actor.getSnapshot();
    if (stateOf(snap) === stageState && snap.context.lastFault) {
      const fault = snap.context.lastFault;
      actor.stop();
      return { kind: 'retry', fault };
    }
    return { kind: 'advanced', ...finish(actor, transitions) };
  } catch (e) {
    actor.stop();
    throw e;
  }
}

export { JOB_MACHINE_VERSION };
