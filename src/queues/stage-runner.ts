import { Inject, Injectable, Logger } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '../config/config';
import { DelayedError, UnrecoverableError, type Job } from 'bullmq';
import { fromPromise } from 'xstate';
import {
  AGENT,
  AgentError,
  PULL_REQUEST_GATEWAY,
  type Agent,
  type AgentCallOptions,
  type AgentJobContext,
  type PullRequestGateway,
} from '../agents/agent.port';
import { jobMachine, JOB_MACHINE_VERSION } from '../lifecycle/job.machine';
import { runStage } from '../lifecycle/job.runtime';
import { STAGE_ACTOR_ID, type JobState, type Stage, type StageFault, type StageInput, type TransitionRecord } from '../lifecycle/job.types';
import { upgradeSnapshot, UnknownMachineVersionError } from '../lifecycle/snapshot-migrations';
import { JobRepository } from '../jobs/job.repository';
import { pendingStage } from '../jobs/pending-stage';
import { StageDispatcher, type StageMessage } from '../jobs/stage-dispatcher.port';
import { AdmissionControl } from '../tenants/admission-control';
import { RunningCalls } from './cancellation';
import { RecentCommits } from './recent-commits';
import { SERVED_STAGES } from './worker-launcher';
import type { JobRecord } from '../jobs/job.record';

/** What happened to one stage message. */
export type StageOutcome =
  /** The machine advanced and the new snapshot was committed. */
  | 'committed'
  /** The job moved on (or is gone) before this message ran: a duplicate or late delivery. */
  | 'stale'
  /** Another writer (a cancel, a duplicate delivery) committed first: this result was discarded. */
  | 'conflict';

function stageFault(e: unknown, stage: Stage, attempt: number, maxAttempts: number, aborted: 'external' | 'timeout' | null, timeoutMs: number): StageFault {
  if (aborted === 'external') {
    return { code: 'ABORTED', message: 'agent call aborted: job cancelled or worker shutting down', stage, attempt, maxAttempts, retryable: false };
  }
  if (aborted === 'timeout') {
    return { code: 'STAGE_TIMEOUT', message: `agent call exceeded STAGE_TIMEOUT_MS (${timeoutMs} ms)`, stage, attempt, maxAttempts, retryable: true };
  }
  if (e instanceof AgentError) {
    return { code: e.code, message: e.message, stage, attempt, maxAttempts, retryable: e.retryable };
  }
  const message = e instanceof Error ? e.message : String(e);
  return { code: 'AGENT_ERROR', message, stage, attempt, maxAttempts, retryable: true };
}

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
    @Inject(AGENT) private readonly agent: Agent,
    @Inject(PULL_REQUEST_GATEWAY) private readonly gateway: PullRequestGateway,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly admission: AdmissionControl,
    private readonly recent: RecentCommits,
    @Inject(SERVED_STAGES) private readonly served: Stage[],
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
      if (token) await job.moveToDelayed(Date.now() + 1000, token);
      throw new DelayedError(`job ${record.id} is past its deadline (JOB_DEADLINE_MS)`);
    }
    if (record.state === 'QUEUED') {
      // Tenant active-job limit: not admitted yet → wait in QUEUED, without spending an attempt.
      const admission = await this.admission.admit(record);
      if (!admission.admitted) {
        if (token) await job.moveToDelayed(Date.now() + admission.retryInMs, token);
        throw new DelayedError(admission.reason);
      }
    }

    const before = message.attemptsBefore ?? 0;
    const controller = new AbortController();
    const onOuterAbort = () => controller.abort(signal?.reason ?? new Error('worker aborted the job'));
    signal?.addEventListener('abort', onOuterAbort, { once: true });
    // One controller for the whole run: a cancel between two continued stages aborts the next one.
    const untrack = this.running.track(record.id, controller, record.version);
    try {
      let current = record;
      ran.push(stage);
      let step = await this.runOnce(stage, current, job.attemptsMade + 1 + before, (job.opts.attempts ?? 1) + before, controller);
      for (let continued = 0; ; continued++) {
        if (step.kind === 'aborted') {
          if (this.running.causeOf(controller) === 'shutdown' || (signal?.aborted ?? false)) {
            if (continued === 0) {
              // Release the message without spending an attempt; another worker takes it.
              if (token) await job.moveToDelayed(Date.now(), token);
              throw new DelayedError('released on shutdown');
            }
            await this.dispatcher.dispatch(current); // the continued stage becomes a message again
            return result('committed');
          }
          return result(continued === 0 ? 'conflict' : 'committed'); // cancelled: the cancel's commit won
        }
        if (step.kind === 'retry') {
          const { fault } = step;
          this.log.warn(`job ${current.id} ${fault.stage} attempt ${fault.attempt}/${fault.maxAttempts} failed: ${fault.message}`);
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
      untrack();
      signal?.removeEventListener('abort', onOuterAbort);
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

  /** Runs `stage` of `record` once and commits the result with compare-and-set. */
  private async runOnce(stage: Stage, record: JobRecord, attempt: number, maxAttempts: number, controller: AbortController): Promise<Step> {
    if (controller.signal.aborted) return { kind: 'aborted' }; // cancelled before the call started
    let snapshot;
    try {
      snapshot = upgradeSnapshot(record.machineVersion, record.snapshot);
    } catch (e) {
      if (e instanceof UnknownMachineVersionError) throw new UnrecoverableError(`${e.code}: ${e.message}`);
      throw e;
    }
    const machine = jobMachine.provide({
      actors: {
        [STAGE_ACTOR_ID[stage]]: this.stageActor(stage, attempt, maxAttempts, controller.signal, () => (controller.signal.aborted ? 'external' : null)),
      },
    });
    const run = await runStage(machine, snapshot, stage);
    if (controller.signal.aborted) return { kind: 'aborted' };
    if (run.kind === 'retry') return { kind: 'retry', fault: run.fault };
    const at = new Date().toISOString();
    const transitions: TransitionRecord[] = run.transitions.map((t) => ({ ...t, at, attempt }));
    const committed = await this.jobs.commit(record, {
      state: run.state,
      snapshot: run.snapshot,
      machineVersion: JOB_MACHINE_VERSION,
      error: run.context.error,
      transitions,
    });
    return committed ? { kind: 'committed', stage, record: committed } : { kind: 'lost', stage, attempt };
  }

  /** The invoked actor of `stage`: calls the agent (or the PR gateway) and maps its errors to faults. */
  private stageActor(stage: Stage, attempt: number, maxAttempts: number, abort: AbortSignal, externalAbort: () => 'external' | null) {
    const timeoutMs = this.config.STAGE_TIMEOUT_MS;
    return fromPromise(async ({ input, signal }: { input: StageInput; signal: AbortSignal }) => {
      const timeout = timeoutMs > 0 ? AbortSignal.timeout(timeoutMs) : undefined;
      const ctx: AgentJobContext = {
        jobId: input.jobId,
        tenantId: input.tenantId,
        repositoryId: input.repositoryId,
        issue: input.issue,
        reviewRound: input.reviewRound,
      };
      const round = stage === 'coding' || stage === 'reviewing' ? `:r${input.reviewRound}` : '';
      const opts: AgentCallOptions = {
        signal: AbortSignal.any(timeout ? [signal, abort, timeout] : [signal, abort]),
        idempotencyKey: `${input.jobId}:${stage}:${attempt}${round}`,
        attempt,
      };
      try {
        const result = await this.call(stage, ctx, input, opts);
        return { result, attempt };
      } catch (e) {
        const aborted = externalAbort() ?? (timeout?.aborted ? 'timeout' : null);
        throw stageFault(e, stage, attempt, maxAttempts, aborted, timeoutMs);
      }
    });
  }

  private call(stage: Stage, ctx: AgentJobContext, input: StageInput, opts: AgentCallOptions): Promise<unknown> {
    switch (stage) {
      case 'planning':
        return this.agent.plan(ctx, opts);
      case 'coding':
        return this.agent.code(ctx, input.plan!, input.feedback, opts);
      case 'reviewing':
        return this.agent.review(ctx, input.plan!, input.code!, opts);
      case 'pr-open':
        return this.gateway.open(ctx, input.plan!, input.code!, opts);
    }
  }
}
