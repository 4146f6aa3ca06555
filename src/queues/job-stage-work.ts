import { Inject, Injectable, Logger } from '@nestjs/common';
import { hostname } from 'node:os';
import { APP_CONFIG, type AppConfig } from '../config/config';
import { UnrecoverableError, type Job } from 'bullmq';
import type { TrackedDelivery } from '../runtime/delivery';
import { StageRunner, type Admission, type AttemptCount, type AttemptResult, type Continuation, type DeliveryInfo, type StageWork } from '../runtime/stage-runner';
import { AttemptTracker, type AttemptHandle } from '../attempts/attempt-tracker';
import { OrphanReaper } from '../attempts/orphan-reaper';
import { StageAttemptRepository } from '../attempts/stage-attempt.repository';
import { jobMachine, JOB_MACHINE_VERSION, type JobMachine } from '../lifecycle/job.machine';
import { runStage } from '../lifecycle/job.runtime';
import { STAGE_ACTOR_ID, type JobState, type Stage, type StageFault, type TransitionActor, type TransitionRecord } from '../lifecycle/job.types';
import { upgradeSnapshot, UnknownMachineVersionError } from '../lifecycle/snapshot-migrations';
import { JobRepository } from '../jobs/job.repository';
import { pendingStage } from '../jobs/pending-stage';
import { StageDispatcher, type StageMessage } from '../jobs/stage-dispatcher.port';
import { AdmissionControl } from '../tenants/admission-control';
import { RunningCalls } from './cancellation';
import { RecentCommits } from './recent-commits';
import { StageCalls, type StageCallParams } from './stage-call';
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

/** One job stage to run: the unit of the stage runner. */
interface JobStage {
  stage: Stage;
  record: JobRecord;
}

/** What one stage run came to (before it is mapped to the stage runner's {@link AttemptResult}). */
type Step =
  | { kind: 'committed'; stage: Stage; record: JobRecord }
  | { kind: 'lost'; stage: Stage; attempt: number }
  | { kind: 'retry'; fault: StageFault }
  | { kind: 'aborted' };

/**
 * The job lifecycle's stages as work of the one stage runner (src/runtime/stage-runner.ts): load
 * the job, rehydrate its actor from the persisted snapshot with this stage's agent-backed actor,
 * run it until the machine leaves the stage, commit with compare-and-set; continue with the next
 * stage in process or send its message. Holds no business rules: the statechart decides every
 * transition.
 */
@Injectable()
export class JobStageWork {
  private readonly log = new Logger(JobStageWork.name);
  private readonly runners = new Map<Stage, StageRunner<StageMessage, JobStage, JobRecord>>();
  private provided?: JobMachine;

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
   * Processes one message of `stage`'s queue with the stage runner, continuing in process (see
   * {@link continueTo}).
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
    let runner = this.runners.get(stage);
    if (!runner) this.runners.set(stage, (runner = new StageRunner(this.forStage(stage), this.running)));
    const r = await runner.process(job, token, signal);
    return { outcome: r.outcome, jobId: job.data.jobId, ran: r.ran.map((u) => u.stage), state: r.last?.state ?? null, version: r.last?.version ?? null };
  }

  /** The work of one stage queue's messages. */
  private forStage(stage: Stage): StageWork<StageMessage, JobStage, JobRecord> {
    return {
      admit: (message, delivery) => this.admit(stage, message, delivery),
      key: (u) => ({ key: u.record.id, version: u.record.version }),
      attempt: (u, count, delivery) => this.attempt(u, count, delivery),
      next: (after, continued, signal) => Promise.resolve(this.continueTo(after, continued, signal)),
      handOff: async (after, retry) => {
        if (!retry && pendingStage(after)) this.recent.remember(after); // the message will ask for this record
        await this.dispatcher.dispatch(after, retry);
      },
      describe: (u) => u.stage,
    };
  }

  private async admit(stage: Stage, message: StageMessage, delivery: DeliveryInfo): Promise<Admission<JobStage>> {
    // The record this process committed at this version, else a read (see RecentCommits).
    const record = this.recent.take(message.jobId, message.version) ?? (await this.jobs.findById(message.jobId));
    if (!record) return { kind: 'stale' };
    if (record.version !== message.version || pendingStage(record) !== stage) {
      // A late or duplicate delivery. If it started a continuation that stopped without sending
      // the next message (the process died mid-run), this redelivery is what recovers the job:
      // send the message of the stage the job now waits for (idempotent, `<jobId>-<stage>-<version>`).
      if (record.version > message.version) await this.dispatcher.dispatch(record);
      return { kind: 'stale' };
    }
    if (this.pastDeadline(record)) {
      // No stage starts past the job's deadline: make sure the deadline message is there to fail
      // the job (idempotent per job), and look again later without spending an attempt.
      await this.dispatcher.scheduleDeadline(record, new Date());
      return { kind: 'wait', ms: 1000, reason: `job ${record.id} is past its deadline (JOB_DEADLINE_MS)` };
    }
    if (record.state === 'QUEUED') {
      // Tenant active-job limit: not admitted yet → wait in QUEUED, without spending an attempt.
      const admission = await this.admission.admit(record);
      if (!admission.admitted) return { kind: 'wait', ms: admission.retryInMs, reason: admission.reason };
    }
    // A redelivery of a message whose worker stalled or died: if another attempt of this job is
    // alive (a heartbeat rescue, see Sweeper), wait for it instead of running the stage twice.
    if (delivery.redelivered) {
      const live = await this.attempts.findLive(record.id, record.version, new Date(Date.now() - this.config.HEARTBEAT_TIMEOUT_MS));
      if (live) return { kind: 'wait', ms: this.config.HEARTBEAT_TIMEOUT_MS, reason: `attempt ${live.attempt} of job ${record.id} ${live.stage} is alive on ${live.host}` };
    }
    return { kind: 'run', unit: { stage, record }, attemptsBefore: message.attemptsBefore ?? 0 };
  }

  /** One attempt of a stage, as the stage runner sees it. */
  private async attempt(u: JobStage, count: AttemptCount, delivery: TrackedDelivery): Promise<AttemptResult<JobRecord>> {
    const step = await this.runOnce(u.stage, u.record, count.attempt, count.maxAttempts, delivery.controller, count.redelivered);
    switch (step.kind) {
      case 'aborted':
        return step;
      case 'lost':
        // A duplicate delivery (e.g. this worker stalled and another re-ran the stage) or a cancel won.
        this.log.log(`job ${u.record.id} ${step.stage} attempt ${step.attempt}: commit at version ${u.record.version} lost the compare-and-set; result discarded`);
        return { kind: 'lost' };
      case 'retry': {
        const { fault } = step;
        this.log.warn(`job ${u.record.id} ${fault.stage} attempt ${fault.attempt}/${fault.maxAttempts} failed: ${fault.message}`);
        const reason = `${fault.code}: ${fault.message}`;
        const backoffMs = this.config.STAGE_BACKOFF_MS * 2 ** (fault.attempt - 1);
        // An unavailable tool (an open circuit breaker) is waited for without spending an attempt.
        return fault.retryAfterMs !== undefined ? { kind: 'retry', attempt: fault.attempt, reason, waitMs: fault.retryAfterMs, backoffMs } : { kind: 'retry', attempt: fault.attempt, reason, backoffMs };
      }
      case 'committed': {
        const committed = step.record;
        if (committed.state === 'FAILED') return { kind: 'committed', after: committed, deadLetter: `${committed.error?.code ?? 'FAILED'}: ${committed.error?.message ?? ''}` };
        return { kind: 'committed', after: committed };
      }
    }
  }

  /**
   * Continuation: the stage `committed` waits for, when this run may go on to it in process —
   * this process serves that stage, fewer than STAGE_CONTINUE_MAX stages were continued, the
   * process is not shutting down, the job was not cancelled and is not past its deadline. Else
   * null: the runner sends the stage's message instead. The continued stage starts at attempt 1
   * from the committed record (no read), and its commit is the same compare-and-set as from a
   * message. If the process dies meanwhile, the message that started the run stalls and is
   * redelivered; finding the job ahead of it, that delivery sends the pending stage's message
   * (see admit).
   */
  private continueTo(committed: JobRecord, continued: number, signal: AbortSignal): Continuation<JobStage> | null {
    const next = pendingStage(committed);
    if (!next || continued >= this.config.STAGE_CONTINUE_MAX || !this.served.includes(next)) return null;
    if (this.running.closing || signal.aborted || this.pastDeadline(committed)) return null;
    return { unit: { stage: next, record: committed }, maxAttempts: this.config.STAGE_ATTEMPTS };
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
    const params: StageCallParams = {
      stage,
      attempt,
      maxAttempts,
      context: snapshot.context,
      abort: controller.signal,
      externalAbort: () => (controller.signal.aborted ? 'external' : null),
      handle,
      priorUsage,
    };
    let run;
    try {
      run = await runStage(this.machine(), snapshot, stage, undefined, (system) => this.calls.bind(system, params));
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

  /** The job machine with every stage's actor provided, built once (see StageCalls.sharedActor). */
  private machine(): JobMachine {
    if (!this.provided) {
      const logic = this.calls.sharedActor();
      this.provided = jobMachine.provide({ actors: Object.fromEntries(Object.values(STAGE_ACTOR_ID).map((id) => [id, logic])) as never });
    }
    return this.provided;
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
