/**
 * The one stage runner of every persisted machine: what a BullMQ processor does with one message
 * of a job stage (src/queues/job-stage-work.ts) or of a pipeline step visit
 * (src/runs/step-work.ts). The work says what to run and how to commit it; the runner holds the
 * delivery rules, the same for both:
 * - a message that asks for what the machine no longer waits for is `stale` (a duplicate or late
 *   delivery);
 * - work that may not start yet (a tenant or running-step limit, a deadline, a live earlier
 *   execution) waits without spending an attempt (BullMQ's manual delay, see delivery.ts);
 * - one AbortController per delivery, reached by a cancel in any process, by this worker's
 *   shutdown and by BullMQ (trackDelivery);
 * - after a commit, the work may continue in process with what the machine waits for next (no
 *   queue round trip); what it does not continue with is handed off as a message. If the process
 *   dies mid-continuation, the message that started it stalls and is redelivered: the work's
 *   `admit` finds the machine ahead of it and hands off what it now waits for (or, for runs, the
 *   sweeper re-sends the missing step messages);
 * - an attempt that failed transiently is retried by BullMQ with backoff (the first unit of a
 *   delivery: its message is thrown back) or handed off as a message that knows the attempts
 *   already made (a continued unit: it has no message of its own);
 * - a commit into a dead state (a FAILED job) fails the message for good (`UnrecoverableError`):
 *   BullMQ's failed set is the dead letter.
 */
import { UnrecoverableError, type Job } from 'bullmq';
import { trackDelivery, waitWithoutAttempt, type AbortRegistry, type TrackedDelivery } from './delivery';

/** What the runner knows of the delivery when it asks the work to admit a message. */
export interface DeliveryInfo {
  /** True when BullMQ redelivered the message after its worker stalled or died (`stalledCounter > 0`). */
  redelivered: boolean;
  /** Failed deliveries of this message so far (BullMQ `attemptsMade`). */
  attemptsMade: number;
}

/** The work's answer to a message. */
export type Admission<U> =
  /** The machine no longer waits for this: nothing runs. */
  | { kind: 'stale' }
  /** Not yet: the message waits `ms` and comes back without spending an attempt; `reason` is kept on it. */
  | { kind: 'wait'; ms: number; reason: string }
  /** Run `unit`. `attemptsBefore`: attempts made before this message existed (a continued unit handed off after a failure). */
  | { kind: 'run'; unit: U; attemptsBefore?: number };

/** The attempt's number and budget, as the runner counts them. */
export interface AttemptCount {
  /** 1-based. */
  attempt: number;
  maxAttempts: number;
  redelivered: boolean;
}

/** What one attempt of a unit came to. */
export type AttemptResult<A> =
  /** The machine advanced and the commit landed. `after`: what the work needs to continue or hand off. `deadLetter`: the message fails for good with this reason. */
  | { kind: 'committed'; after: A; deadLetter?: string; label?: string }
  /** Another writer committed first (a cancel, a duplicate delivery): the result was discarded. */
  | { kind: 'lost'; label?: string }
  /** A transient failure with attempts left. `waitMs`: wait that long without spending the attempt (an open circuit); else back off `backoffMs`. */
  | { kind: 'retry'; attempt: number; reason: string; waitMs?: number; backoffMs: number }
  /** The delivery's controller was aborted (cancel or shutdown) before or during the attempt. */
  | { kind: 'aborted' };

/** What the work continues with in process: the unit and its attempt budget. */
export interface Continuation<U> {
  unit: U;
  maxAttempts: number;
}

/** A persisted machine's work, as the stage runner drives it. `M` message, `U` unit of work, `A` state after a commit. */
export interface StageWork<M, U, A> {
  /** Reads what `message` asks for and decides whether and when it runs (side effects allowed: e.g. hand off the message a stale redelivery shows missing). */
  admit(message: M, delivery: DeliveryInfo): Promise<Admission<U>>;
  /** The cancellation key and version of a unit (a job's or run's id and the version it was read at). */
  key(unit: U): { key: string; version: number };
  /** Runs one attempt of `unit` under `delivery.controller` and commits with compare-and-set. */
  attempt(unit: U, count: AttemptCount, delivery: TrackedDelivery): Promise<AttemptResult<A>>;
  /** After a commit: the unit to continue with in process (`continued` units so far), or null to hand off. */
  next(after: A, continued: number, signal: AbortSignal): Promise<Continuation<U> | null>;
  /** Sends the message of what `after` waits for (idempotent). `retry`: attempts already made and the delay, for a continued unit that failed. */
  handOff(after: A, retry?: { attemptsBefore: number; delayMs: number }): Promise<void>;
  /** A unit's name in a dead-letter reason (`coding`, `step test`). */
  describe(unit: U): string;
}

/** What a delivery did: `ran` the units run (more than one with continuation), `last` the state after the last commit. */
export interface DeliveryResult<U, A> {
  outcome: 'committed' | 'stale' | 'conflict';
  ran: U[];
  last: A | null;
  /** The last attempt's result (null when nothing ran). */
  result: AttemptResult<A> | null;
}

/** See the file comment. */
export class StageRunner<M, U, A> {
  constructor(
    private readonly work: StageWork<M, U, A>,
    private readonly running: AbortRegistry,
  ) {}

  /**
   * Processes one message.
   * @throws DelayedError when the work waits or the worker shuts down mid-attempt (the message runs
   *   again later without spending an attempt); Error for a transient failure of the first unit
   *   (BullMQ retries with backoff); UnrecoverableError for a dead letter.
   */
  async process(job: Job<M>, token?: string, signal?: AbortSignal): Promise<DeliveryResult<U, A>> {
    const redelivered = (job.stalledCounter ?? 0) > 0;
    const admission = await this.work.admit(job.data, { redelivered, attemptsMade: job.attemptsMade });
    if (admission.kind === 'stale') return { outcome: 'stale', ran: [], last: null, result: null };
    if (admission.kind === 'wait') return waitWithoutAttempt(job, token, admission.ms, admission.reason);
    const first = admission.unit;
    const before = admission.attemptsBefore ?? 0;
    const { key, version } = this.work.key(first);
    const delivery = trackDelivery(this.running, key, version, signal);
    const ran: U[] = [first];
    let last: A | null = null;
    try {
      let unit = first;
      let r = await this.work.attempt(unit, { attempt: job.attemptsMade + 1 + before, maxAttempts: (job.opts.attempts ?? 1) + before, redelivered }, delivery);
      for (let continued = 0; ; continued++) {
        const done = (outcome: DeliveryResult<U, A>['outcome']): DeliveryResult<U, A> => ({ outcome, ran, last, result: r });
        if (r.kind === 'aborted') {
          if (!delivery.releasing()) return done(continued === 0 ? 'conflict' : 'committed'); // cancelled: the cancel's commit won
          // Shutdown: the work runs again elsewhere, without spending an attempt.
          if (continued === 0) return waitWithoutAttempt(job, token, 0, 'released on shutdown');
          await this.work.handOff(last!); // the continued unit becomes a message again
          return done('committed');
        }
        if (r.kind === 'retry') {
          if (continued === 0) {
            if (r.waitMs !== undefined) return waitWithoutAttempt(job, token, r.waitMs, r.reason);
            throw new Error(r.reason);
          }
          await this.work.handOff(last!, r.waitMs !== undefined ? { attemptsBefore: r.attempt - 1, delayMs: r.waitMs } : { attemptsBefore: r.attempt, delayMs: r.backoffMs });
          return done('committed');
        }
        if (r.kind === 'lost') return done(continued === 0 ? 'conflict' : 'committed');
        last = r.after;
        if (r.deadLetter !== undefined) {
          const where = continued === 0 ? '' : ` (in ${this.work.describe(unit)}, continued from ${this.work.describe(first)})`;
          throw new UnrecoverableError(`${r.deadLetter}${where}`);
        }
        const next = delivery.controller.signal.aborted ? null : await this.work.next(r.after, continued, delivery.controller.signal);
        if (!next) {
          await this.work.handOff(r.after);
          return done('committed');
        }
        unit = next.unit;
        ran.push(unit);
        r = await this.work.attempt(unit, { attempt: 1, maxAttempts: next.maxAttempts, redelivered: false }, delivery);
      }
    } finally {
      delivery.done();
    }
  }
}
