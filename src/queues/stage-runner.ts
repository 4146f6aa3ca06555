import { Inject, Injectable, Logger } from '@nestjs/common';
import { hostname } from 'node:os';
import { APP_CONFIG, type AppConfig } from '../config/config';
import { UnrecoverableError, type Job } from 'bullmq';
import { trackDelivery, waitWithoutAttempt } from '../runtime/delivery';
import { AttemptTracker, type AttemptHandle } from '../attempts/attempt-tracker';
import { OrphanReaper } from '../attempts/orphan-reaper';
import { StageAttemptRepository } from '../attempts/stage-attempt.repository';
import { jobMachine, JOB_MACHINE_VERSION } from '../lifecycle/job.machine';
import { runStage } from '../lifecycle/job.runtime';
import { STAGE_ACTOR_ID, type JobState, type Stage, type StageFault, type TransitionActor, type TransitionRecord } from '../lifecycle/job.types';
import { upgradeSnapshot, UnknownMachineVersionError } from '../lifecycle/snapshot-migrations';
import { JobRepository } from '../jobs/job.repository';
import { pendingStage } from '../jobs/pending-stage';
import { StageDispatcher, type StageMessage } from '../jobs/stage-dispatcher.port';
import { AdmissionControl } from '../tenants/admission-control';
import { RunningCalls } from './cancellation';
import { RecentCommits } from './recent-commits';
import { StageCalls } from './stage-call';
import { SERVED_STAGES } from './worker-launcher';
import { Telemetry } from '../observability/telemetry';
import type { JobRecord } from '../jobs/job.record';

/** This process as the actor of the transitions its stages commit (the audit trail). */
const WORKER_ACTOR: TransitionActor = { kind: 'worker', id: `${hostname()}:${process.pid}` };

/** What happened to one stage message. */
export type StageOutcome =
  /** The machine advanced and the new snapshot was committed. */
  | 'committed'
  /** The job moved on (or is gone) before this message ran: a duplicate or late delivery. */
  | 'stale'
  /** Another writer (a cancel, a duplicate delivery) committed first: this result was discarded. */
  | 'conflict';

/**
 * What a delivery did: the processor's return value, kept with the completed message (and shown
 * by Bull Board). `ran` lists the stages run (more than one with continuation); `state` and
 * `version` are the job's after the last commit of this delivery (null when nothing committed).
 */
export interface StageResult {
  outcome: StageOutcome;
  jobId: string;
  ran: Stage[];
  state: JobState | null;
  version: number | null;
}

/** What one stage run came to. */
type Step =
  | { kind: 'committed'; stage: Stage; record: JobRecord }
  | { kind: 'lost'; stage: Stage; attempt: number }
  | { kind: 'retry'; fault: StageFault }
  | { kind: 'aborted' };

/**
 * The body of every stage processor: load the job, rehydrate its actor from the persisted
 * snapshot with this stage's agent-backed actor, run it until the machine leaves the stage,
 * commit with compare-and-set, then continue with the next stage in process or send its message.
 * Holds no business rules: the statechart decides every transition.
 */
@Injectable()
export class StageRunner {
  private readonly log = new Logger(StageRunner.name);

  constructor(
    private readonly jobs: JobRepository,
    private readonly dispatcher: StageDispatcher,
    private readonly running: RunningCalls,
    private readonly calls: StageCalls,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly admission: AdmissionControl,
    private readonly recent: RecentCommits,
    @Inject(SERVED_STAGES) private readonly served: Stage[],
    private readonly tracker: AttemptTracker,
    private readonly attempts: StageAttemptRepository,
    private readonly reaper: OrphanReaper,
    /** Observability hook (src/observability): a span and a duration per stage attempt, see runOnce. */
    private readonly telemetry: Telemetry,
  ) {}

  /**
   * Processes one stage message, then continues in process (see {@link continueTo}).
   * @throws Error for a transient fault with attempts left, including a STAGE_TIMEOUT_MS timeout
   *   (BullMQ retries with backoff); UnrecoverableError when the job landed in FAILED (the
   *   message stays in the failed set, the dead letter; for a continued stage it is the message
   *   that started the run, and its failedReason names the stage) or its snapshot has an unknown
   *   machine version; DelayedError when the worker shuts down mid-call (the message is released
   *   to run again at once elsewhere, without spending an attempt), when the tenant is at its
   *   active-job limit (the QUEUED job's planning message waits TENANT_LIMIT_RETRY_MS), or when the
   *   job is past its deadline (the message waits 1 s while the deadline message fails the job).
   */
  async process(stage: Stage, job: Job<StageMessage>, token?: string, signal?: AbortSignal): Promise<StageResult> {
    const message = job.data;
    const ran: Stage[] = [];
    let last: JobRecord | null = null;
    const result = (outcome: StageOutcome): StageResult => ({ outcome, jobId: message.jobId, ran, state: last?.state ?? null, version: last?.version ?? null });
    // The record this process committed at this version, else a read (see RecentCommits).
    const record = this.recent.take(message.jobId, message.version) ?? (await this.jobs.findById(message.jobId));
    if (!record) return result('stale');
    if (record.version !== message.version || pendingStage(record) !== stage) {
      // A late or duplicate delivery. If it started a continuation that stopped without sending
      // the next message (the process died mid-run), this redelivery is what recovers the job:
      // send the message of the stage the job now waits for (idempotent, `<jobId>-<stage>-<version>`).
      if (record.version > message.version) await this.dispatcher.dispatch(record);
      return result('stale');
    }
    if (this.pastDeadline(record)) {
      // No stage starts past the job's deadline: make sure the deadline message is there to fail
      // the job (idempotent per job), and look again later without spending an attempt.
      await this.dispatcher.scheduleDeadline(record, new Date());
      return waitWithoutAttempt(job, token, 1000, `job ${record.id} is past its deadline (JOB_DEADLINE_MS)`);
    }
    if (record.state === 'QUEUED') {
      // Tenant active-job limit: not admitted yet → wait in QUEUED, without spending an attempt.
      const admission = await this.admission.admit(record);
      if (!admission.admitted) return waitWithoutAttempt(job, token, admission.retryInMs, admission.reason);
    }

    // A redelivery of a message whose worker stalled or died: if another attempt of this job is
    // alive (a heartbeat rescue, see Sweeper), wait for it instead of running the stage twice.
    const redelivered = (job.stalledCounter ?? 0) > 0;
    if (redelivered) {
      const live = await this.attempts.findLive(record.id, record.version, new Date(Date.now() - this.config.HEARTBEAT_TIMEOUT_MS));
      if (live) return waitWithoutAttempt(job, token, this.config.HEARTBEAT_TIMEOUT_MS, `attempt ${live.attempt} of job ${record.id} ${live.stage} is alive on ${live.host}`);
    }
    const before = message.attemptsBefore ?? 0;
    // One controller for the whole run: a cancel between two continued stages aborts the next one.
    const delivery = trackDelivery(this.running, record.id, record.version, signal);
    const controller = delivery.controller;
    try {
      let current = record;
      ran.push(stage);
      let step = await this.runOnce(stage, current, job.attemptsMade + 1 + before, (job.opts.attempts ?? 1) + before, controller, redelivered);
      for (let continued = 0; ; continued++) {
        if (step.kind === 'aborted') {
          if (delivery.releasing()) {
            // Release the message without spending an attempt; another worker takes it.
            if (continued === 0) return waitWithoutAttempt(job, token, 0, 'released on shutdown');
            await this.dispatcher.dispatch(current); // the continued stage becomes a message again
            return result('committed');
          }
          return result(continued === 0 ? 'conflict' : 'committed'); // cancelled: the cancel's commit won
        }
        if (step.kind === 'retry') {
          const { fault } = step;
          this.log.warn(`job ${current.id} ${fault.stage} attempt ${fault.attempt}/${fault.maxAttempts} failed: ${fault.message}`);
          if (fault.retryAfterMs !== undefined) {
            // The tool is unavailable (an open circuit breaker): wait for it without spending an attempt.
            if (continued === 0) return waitWithoutAttempt(job, token, fault.retryAfterMs, `${fault.code}: ${fault.message}`);
            await this.dispatcher.dispatch(current, { attemptsBefore: fault.attempt - 1, delayMs: fault.retryAfterMs });
            return result('committed');
          }
          if (continued === 0) throw new Error(`${fault.code}: ${fault.message}`);
          // A continued stage has no message to retry: send one that knows this attempt was made.
          await this.dispatcher.dispatch(current, { attemptsBefore: fault.attempt, delayMs: this.config.STAGE_BACKOFF_MS * 2 ** (fault.attempt - 1) });
          return result('committed');
        }
        if (step.kind === 'lost') {
          // A duplicate delivery (e.g. this worker stalled and another re-ran the stage) or a cancel won.
          this.log.log(`job ${current.id} ${step.stage} attempt ${step.attempt}: commit at version ${current.version} lost the compare-and-set; result discarded`);
          return result(continued === 0 ? 'conflict' : 'committed');
        }
        const committed = step.record;
        last = committed;
        if (committed.state === 'FAILED') {
          const where = continued === 0 ? '' : ` (in ${step.stage}, continued from ${stage})`;
          throw new UnrecoverableError(`${committed.error?.code ?? 'FAILED'}: ${committed.error?.message ?? ''}${where}`);
        }
        const next = this.continueTo(committed, continued, controller);
        if (!next) {
          if (pendingStage(committed)) this.recent.remember(committed); // else no message will ask for it
          await this.dispatcher.dispatch(committed);
          return result('committed');
        }
        current = committed;
        ran.push(next);
        step = await this.runOnce(next, current, 1, this.config.STAGE_ATTEMPTS, controller);
      }
    } finally {
      delivery.done();
    }
  }

  /**
   * Continuation: the stage `committed` waits for, when this run may go on to it in process —
   * this process serves that stage, fewer than STAGE_CONTINUE_MAX stages were continued, the
   * process is not shutting down, the job was not cancelled and is not past its deadline. Else null: the runner sends the
   * stage's message instead. The continued stage starts at attempt 1 from the committed record
   * (no read), and its commit is the same compare-and-set as from a message. If the process dies
   * meanwhile, the message that started the run stalls and is redelivered; finding the job ahead
   * of it, that delivery sends the pending stage's message (see process).
   */
  private continueTo(committed: JobRecord, continued: number, controller: AbortController): Stage | null {
    const next = pendingStage(committed);
    if (!next || continued >= this.config.STAGE_CONTINUE_MAX || !this.served.includes(next)) return null;
    if (this.running.closing || controller.signal.aborted || this.pastDeadline(committed)) return null;
    return next;
  }

  /** Whether the job's JOB_DEADLINE_MS (from submission) has passed. */
  private pastDeadline(record: JobRecord): boolean {
    const ms = this.config.JOB_DEADLINE_MS;
    return ms > 0 && record.createdAt.getTime() + ms <= Date.now();
  }

  /**
   * Runs `stage` of `record` once and commits the result with compare-and-set. The attempt is
   * recorded (processes, heartbeat, log) by an {@link AttemptHandle}; a later attempt first reaps
   * what an earlier one of this job left running (a worker killed mid-call), and adds the usage of
   * the earlier failed attempts of this stage visit to its own.
   */
  private runOnce(stage: Stage, record: JobRecord, attempt: number, maxAttempts: number, controller: AbortController, redelivered = false): Promise<Step> {
    // Observability hook (src/observability/telemetry.ts): span `aicd.stage <stage>` + aicd_stage_duration_seconds.
    return this.telemetry.stage({ stage, jobId: record.id, attempt, version: record.version, tool: this.toolOf(stage) }, () => this.runAttempt(stage, record, attempt, maxAttempts, controller, redelivered));
  }

  /** {@link runOnce} without the observability wrapper. */
  private async runAttempt(stage: Stage, record: JobRecord, attempt: number, maxAttempts: number, controller: AbortController, redelivered: boolean): Promise<Step> {
    if (controller.signal.aborted) return { kind: 'aborted' }; // cancelled before the call started
    let snapshot;
    try {
      snapshot = upgradeSnapshot(record.machineVersion, record.snapshot);
    } catch (e) {
      if (e instanceof UnknownMachineVersionError) throw new UnrecoverableError(`${e.code}: ${e.message}`);
      throw e;
    }
    const later = attempt > 1 || redelivered;
    if (later) await this.reaper.reapJob(record.id);
    const priorUsage = later ? await this.attempts.failedUsage(record.id, stage, record.version) : null;
    const handle = this.tracker.begin(
      { jobId: record.id, tenantId: record.tenantId, stage, attempt, version: record.version, tool: this.toolOf(stage) },
      () => this.running.lose(controller),
    );
    const machine = jobMachine.provide({
      actors: {
        [STAGE_ACTOR_ID[stage]]: this.calls.actor({
          stage,
          attempt,
          maxAttempts,
          context: snapshot.context,
          abort: controller.signal,
          externalAbort: () => (controller.signal.aborted ? 'external' : null),
          handle,
          priorUsage,
        }),
      },
    });
    let run;
    try {
      run = await runStage(machine, snapshot, stage);
    } catch (e) {
      await handle.finish({ status: 'failed', usage: handle.reportedUsage, error: { code: 'RUNNER_ERROR', message: e instanceof Error ? e.message : String(e) } });
      throw e;
    }
    // The attempt's record is written while the stage commits (both are awaited before going on).
    const finished = this.finishAttempt(handle, run, controller);
    if (controller.signal.aborted || run.kind === 'retry') {
      await finished;
      if (controller.signal.aborted) return { kind: 'aborted' };
      if (run.kind === 'retry') return { kind: 'retry', fault: run.fault };
    }
    if (run.kind !== 'advanced') throw new Error('unreachable');
    const at = new Date().toISOString();
    const transitions: TransitionRecord[] = run.transitions.map((t) => ({ ...t, at, attempt, actor: WORKER_ACTOR }));
    const [committed] = await Promise.all([
      this.jobs.commit(record, {
        state: run.state,
        snapshot: run.snapshot,
        machineVersion: JOB_MACHINE_VERSION,
        error: run.context.error,
        transitions,
      }),
      finished,
    ]);
    return committed ? { kind: 'committed', stage, record: committed } : { kind: 'lost', stage, attempt };
  }

  /** Records how the attempt ended, from what the machine made of it. */
  private async finishAttempt(handle: AttemptHandle, run: Awaited<ReturnType<typeof runStage>>, controller: AbortController): Promise<void> {
    const usage = handle.reportedUsage;
    if (controller.signal.aborted) {
      const cause = this.running.causeOf(controller) ?? 'cancelled';
      await handle.finish({ status: 'aborted', usage, error: { code: 'ABORTED', message: `attempt aborted (${cause})` } });
    } else if (run.kind === 'retry') {
      await handle.finish({ status: 'failed', usage, error: { code: run.fault.code, message: run.fault.message } });
    } else if (run.context.error && run.state === 'FAILED' && run.transitions.some((t) => t.to === 'FAILED')) {
      await handle.finish({ status: run.context.error.code === 'BUDGET_EXCEEDED' ? 'succeeded' : 'failed', usage, error: { code: run.context.error.code, message: run.context.error.message } });
    } else {
      await handle.finish({ status: 'succeeded', usage, error: null });
    }
  }

  /** The tool that does a stage's work, as recorded on its attempts. */
  private toolOf(stage: Stage): string {
    if (stage === 'pr-open') return `pr:${this.config.PR_GATEWAY}`;
    return this.config.AGENT === 'cli' ? this.config.AGENT_CLI : 'mock';
  }
}
