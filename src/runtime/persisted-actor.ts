/**
 * A persisted actor, for any machine: rehydrate from a persisted snapshot (or create from input),
 * send events, and return the new persisted snapshot. Pure (XState only): the runtime around it
 * reads the document, calls this, and commits with compare-and-set (see version-claims.ts).
 */
import { createActor, type AnyStateMachine, type EventObject } from 'xstate';

/** A snapshot as `actor.getPersistedSnapshot()` returns it (JSON-serialisable). */
export interface PersistedSnapshot {
  status: string;
  value: unknown;
  context: unknown;
  [key: string]: unknown;
}

/** Thrown when an event is not accepted by the current state. `code` = ILLEGAL_EVENT. */
export class EventNotAcceptedError extends Error {
  readonly code = 'ILLEGAL_EVENT';
  constructor(
    readonly state: string,
    readonly eventType: string,
    readonly accepted: string[],
  ) {
    super(`event ${eventType} is not accepted in state ${state}; accepted: ${accepted.join(', ') || 'none'}`);
    this.name = 'EventNotAcceptedError';
  }
}

/** What advancing an actor gave. */
export interface AdvancedActor<C> {
  snapshot: PersistedSnapshot;
  value: unknown;
  context: C;
  status: string;
}

/** Creates a new actor from `input` and persists its initial snapshot. */
export function createPersisted<C>(machine: AnyStateMachine, input: unknown): AdvancedActor<C> {
  const actor = createActor(machine, { input });
  actor.start();
  return persist<C>(actor);
}

/**
 * Rehydrates `persisted` with `machine`, sends `events` in order and persists the result.
 * @param options.strict when true, an event the current state cannot take throws
 *   {@link EventNotAcceptedError} (with `stateName(value)` and the `candidates` it accepts).
 */
export function advancePersisted<C>(
  machine: AnyStateMachine,
  persisted: PersistedSnapshot,
  events: EventObject[],
  options: { strict?: boolean; stateName?: (value: unknown) => string; candidates?: EventObject[] } = {},
): AdvancedActor<C> {
  const actor = createActor(machine, { snapshot: persisted as never });
  actor.start();
  try {
    for (const event of events) {
      if (options.strict && !actor.getSnapshot().can(event)) {
        const snap = actor.getSnapshot();
        const name = options.stateName?.(snap.value) ?? JSON.stringify(snap.value);
        const accepted = (options.candidates ?? []).filter((e) => snap.can(e)).map((e) => e.type);
        throw new EventNotAcceptedError(name, event.type, [...new Set(accepted)]);
      }
      actor.send(event);
    }
    return persist<C>(actor);
  } finally {
    actor.stop();
  }
}

/** One event's effect in {@link advanceEach}. */
export type EachResult<C> = { accepted: true; value: unknown; context: C; status: string } | { accepted: false; refused: EventNotAcceptedError };

/**
 * Rehydrates `persisted` once and sends `events` in order, each only if the state it meets accepts
 * it (a refused one is skipped and reported, the others still apply): the group commit of several
 * writers' events in one compare-and-set. @returns each event's result (the state after it) and
 * the final persisted snapshot.
 */
export function advanceEach<C>(
  machine: AnyStateMachine,
  persisted: PersistedSnapshot,
  events: EventObject[],
  options: { stateName?: (value: unknown) => string; candidates?: EventObject[] } = {},
): { results: EachResult<C>[]; final: AdvancedActor<C> } {
  const actor = createActor(machine, { snapshot: persisted as never });
  actor.start();
  try {
    const results = events.map((event): EachResult<C> => {
      const snap = actor.getSnapshot();
      if (!snap.can(event)) {
        const accepted = (options.candidates ?? []).filter((e) => snap.can(e)).map((e) => e.type);
        return { accepted: false, refused: new EventNotAcceptedError(options.stateName?.(snap.value) ?? JSON.stringify(snap.value), event.type, [...new Set(accepted)]) };
      }
      actor.send(event);
      const after = actor.getSnapshot();
      return { accepted: true, value: after.value, context: after.context as C, status: after.status };
    });
    return { results, final: persist<C>(actor) };
  } finally {
    actor.stop();
  }
}

/** Whether the persisted snapshot accepts `event` now. */
export function accepts(machine: AnyStateMachine, persisted: PersistedSnapshot, event: EventObject): boolean {
  return (machine.resolveState(persisted as never) as { can(e: EventObject): boolean }).can(event);
}

function persist<C>(actor: ReturnType<typeof createActor<AnyStateMachine>>): AdvancedActor<C> {
  const snap = actor.getSnapshot();
  return { snapshot: actor.getPersistedSnapshot() as unknown as PersistedSnapshot, value: snap.value, context: snap.context as C, status: snap.status };
}
