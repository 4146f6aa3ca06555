/**
 * Pipeline step visits as work of the one stage runner (src/runtime/stage-runner.ts, the same
 * runner as the job stages'): for one step message, check that the run still waits for that
 * step visit, take a running-step slot, run the attempt (StepExecutor) with a heartbeat, record
 * it on `step_attempts`, and report the outcome to the run's statechart through the RunEngine
 * (which commits with compare-and-set). A step the commit started is continued in process (up to
 * STAGE_CONTINUE_MAX, when a running-step slot is free); the others get their messages.
 *
 * Delivery rules: a failed attempt with attempts left is retried after the step's exponential
 * backoff (BullMQ's for a message, a delayed message for a continued step); a message redelivered
 * after its worker died (stalled) runs the step again as a new attempt, unless a live attempt
 * (fresh heartbeat) of the same visit exists; a step over a running-step limit, released at
 * shutdown, or whose tool's circuit is open, waits (`DelayedError`) without spending an attempt.
 */
import { hostname } from 'node:os';
import { Logger } from '@nestjs/common';
import type { Job } from 'bullmq';
import { reapProcesses } from '../tools/process-reaper';
import type { TrackedDelivery } from '../runtime/delivery';
import { StageRunner, type Admission, type AttemptCount, type AttemptResult, type Continuation, type DeliveryInfo } from '../runtime/stage-runner';
import type { RunningCalls } from '../queues/cancellation';
import type { RunActor } from '../pipelines/run-events';
import type { PipelineEvent } from '../pipelines/pipeline.types';
import type { StepTemplate } from '../pipelines/template.schema';
import type { RunEngine, StepToRun } from './run-engine';
import type { MongoRunRepository } from './mongo-run.repository';
import type { RunRecord } from './run.record';
import type { StepAttemptRepository } from './step-attempts';
import type { StepExecutor, StepAttemptResult, StepAttemptSpec } from './step-executor';
import type { StepMessage } from './step-queue';
import type { StepSlots } from './step-slots';

const WORKER_ACTOR: RunActor = { kind: 'worker', id: `${hostname()}:${process.pid}` };

export interface StepWorkOptions {
  /** Codes that quarantine the run instead of failing the step. */
  quarantineCodes: ReadonlySet<string>;
  heartbeatTimeoutMs: number;
  /** How long a step over a running-step limit waits before it looks again, ms. */
  slotRetryMs: number;
  /** ms between SIGTERM and SIGKILL when reaping an earlier execution's processes. */
  killGraceMs: number;
  /** Steps one delivery may continue in process after its own (0 = every step is a message). */
  continueMax: number;
}

/** What a delivery did (kept as the BullMQ job's return value). `ran`: the step visits run, continued ones included. */
export interface StepDelivery {
  outcome: 'stale' | 'succeeded' | 'failed' | 'retry' | 'spawned' | 'aborted';
  runId: string;
  step: string;
  visit: number;
  attempt?: number;
  ran: string[];
}

/** One step visit to run: the unit of the stage runner. */
interface StepVisit {
  message: StepMessage;
  run: RunRecord;
  def: StepTemplate;
  steps: readonly StepTemplate[];
  spawned?: StepAttemptSpec['spawned'];
  /** The running-step slot it holds (released when the attempt ends). */
  slot: string;
}

/** A run after a commit, and the step visit it started that this delivery may continue with. */
interface RunAfter {
  run: RunRecord;
  held: StepToRun | null;
}

export class StepWork {
  private readonly log = new Logger(StepWork.name);
  private readonly runner: StageRunner<StepMessage, StepVisit, RunAfter>;
  /** The store-allocated attempt number of each unit's last attempt (for the delivery's return value). */
  private readonly attemptOf = new WeakMap<StepVisit, number>();

  constructor(
    private readonly runs: MongoRunRepository,
    private readonly engine: RunEngine,
    private readonly executor: StepExecutor,
    private readonly attempts: StepAttemptRepository,
    private readonly running: RunningCalls,
    private readonly slots: StepSlots,
    private readonly options: StepWorkOptions,
  ) {
    this.runner = new StageRunner<StepMessage, StepVisit, RunAfter>(
      {
        admit: (m, d) => this.admit(m, d),
        key: (u) => ({ key: u.run.id, version: u.run.version }),
        attempt: (u, count, delivery) => this.attempt(u, count, delivery),
        next: (after, continued, signal) => this.continueTo(after, continued, signal),
        handOff: (after, retry) => this.handOff(after, retry),
        describe: (u) => `step ${u.message.step}`,
      },
      running,
    );
  }

  /** Processes one step message (see the file comment). @throws as StageRunner.process. */
  async process(job: Job<StepMessage>, token?: string, outer?: AbortSignal): Promise<StepDelivery> {
    const m = job.data;
    const r = await this.runner.process(job, token, outer);
    const last = r.ran.at(-1);
    const base = { runId: m.runId, step: last?.message.step ?? m.step, visit: last?.message.visit ?? m.visit, ran: r.ran.map((u) => u.message.step) };
    const attempt = last ? this.attemptOf.get(last) : undefined;
    const res = r.result;
    const outcome: StepDelivery['outcome'] =
      res === null ? 'stale' : res.kind === 'aborted' ? 'aborted' : res.kind === 'retry' ? 'retry' : ((res.label ?? 'failed') as StepDelivery['outcome']);
    return { outcome, ...base, ...(attempt !== undefined ? { attempt } : {}) };
  }

  private async admit(m: StepMessage, delivery: DeliveryInfo): Promise<Admission<StepVisit>> {
    // A first delivery of a message nobody sent again runs the visit that a commit started: if the
    // run as this process last committed it shows that visit running, it is the record to run
    // from (its upstream artifacts are there; a cancel committed since aborts the delivery as soon
    // as it registers). Anything else is read from the store.
    const recent = !delivery.redelivered && m.recovery !== true ? this.engine.recentRun(m.runId) : undefined;
    const run = recent && visitRunning(recent, m) ? recent : await this.runs.findById(m.runId);
    if (!run || !visitRunning(run, m)) {
      // A late or duplicate delivery. If it was redelivered because its worker died while it
      // continued with another step (which has no message), send the messages of the steps the
      // run has running (idempotent: one message id per step visit).
      if (delivery.redelivered && run?.status === 'running') await this.engine.resend(run);
      return { kind: 'stale' };
    }
    const slot = `${m.runId}:${m.step}:${m.visit}`;
    if (!(await this.slots.acquire(m.tenantId, slot))) {
      return { kind: 'wait', ms: this.options.slotRetryMs, reason: `running-step limit reached (tenant ${m.tenantId}); step ${m.step} waits` };
    }
    // After a worker died (a redelivery, or a message the sweeper sent again): an earlier
    // execution of this visit whose worker lives is waited for rather than run twice at once;
    // one on this host whose worker died is not, and what it left running is reaped.
    const recovering = delivery.redelivered || m.recovery === true;
    if (recovering) {
      const live = await this.attempts.findLive(m.runId, m.step, m.visit, new Date(Date.now() - this.options.heartbeatTimeoutMs));
      if (live && (live.host !== hostname() || processAlive(live.workerPid))) {
        // (The slot, one per step visit, stays with the live execution.)
        return { kind: 'wait', ms: this.options.heartbeatTimeoutMs, reason: `attempt ${live.attempt} of ${m.step} is alive on ${live.host} (pid ${live.workerPid})` };
      }
    }
    const unit = await this.visit(run, m, slot);
    if (!unit) {
      await this.slots.release(m.tenantId, slot).catch(() => undefined);
      return { kind: 'stale' };
    }
    if (recovering) await this.reapEarlier(m);
    return { kind: 'run', unit, attemptsBefore: m.attemptsBefore ?? 0 };
  }

  /** The unit for step message `m` of `run` (null when its template step is gone). */
  private async visit(run: RunRecord, m: StepMessage, slot: string): Promise<StepVisit | null> {
    const { template } = await this.engine.templateOf(run);
    const def = template.template.steps.find((s) => s.id === m.templateStep);
    if (!def) return null;
    const spawned = run.snapshot.context.spawned.find((s) => s.id === m.step);
    return { message: m, run, def, steps: template.template.steps, slot, ...(spawned ? { spawned: { parentStepId: spawned.parentStepId, regressionContext: spawned.regressionContext } } : {}) };
  }

  /**
   * Continuation: the step visit the last commit started and held back, when this delivery may
   * run it in process — fewer than `continueMax` continued, the process is not shutting down,
   * the delivery was not cancelled, and a running-step slot is free. Else null: its message is sent.
   */
  private async continueTo(after: RunAfter, continued: number, signal: AbortSignal): Promise<Continuation<StepVisit> | null> {
    const held = after.held;
    if (!held || continued >= this.options.continueMax || this.running.closing || signal.aborted) return null;
    const m: StepMessage = { runId: after.run.id, tenantId: after.run.tenantId, ...held };
    const slot = `${m.runId}:${m.step}:${m.visit}`;
    if (!(await this.slots.acquire(m.tenantId, slot))) return null;
    const unit = await this.visit(after.run, m, slot);
    if (!unit) {
      await this.slots.release(m.tenantId, slot).catch(() => undefined);
      return null;
    }
    return { unit, maxAttempts: unit.def.retries.attempts };
  }

  /** Sends the held step visit's message (with the attempts a continued run of it already made). */
  private async handOff(after: RunAfter, retry?: { attemptsBefore: number; delayMs: number }): Promise<void> {
    if (after.held) await this.engine.sendMessages(after.run, [after.held], retry);
  }

  /** One attempt of a step visit, reported to the run. */
  private async attempt(u: StepVisit, count: AttemptCount, delivery: TrackedDelivery): Promise<AttemptResult<RunAfter>> {
    const m = u.message;
    const { def, run } = u;
    const ctx = run.snapshot.context;
    // The attempt number is allocated in the store, not taken from BullMQ: a stalled delivery is
    // not counted there (nor is a message the sweeper sent again), and every execution must have
    // its own record, scratch directory and artifact ids.
    const startedAt = new Date();
    // Until the attempt runs (its `finally` releases the slot), a failure here must release it.
    const begun = await this.attempts.begin({
      runId: m.runId, tenantId: m.tenantId, template: run.template.name, step: m.step, templateStep: m.templateStep,
      visit: m.visit, tool: def.tool, router: null, host: hostname(), workerPid: process.pid, startedAt,
    }, { expectFirst: count.attempt === 1 && !count.redelivered && m.recovery !== true }).catch(async (e: unknown) => {
      await this.slots.release(m.tenantId, u.slot).catch(() => undefined);
      throw e;
    });
    const { attempt, attemptId } = begun;
    this.attemptOf.set(u, attempt);
    // One attempt's writes go in order (on FerretDB v1 an update rewrites the whole document, so a
    // heartbeat still in flight when the attempt finishes would write the old fields back).
    let writes: Promise<unknown> = Promise.resolve();
    const write = (f: () => Promise<unknown>) => (writes = writes.then(f).catch(() => undefined));
    const beat = setInterval(() => {
      write(() => this.attempts.heartbeat(attemptId));
      void this.slots.refresh(m.tenantId, u.slot).catch(() => undefined);
    }, def.heartbeatMs);
    let r: StepAttemptResult;
    try {
      r = await this.executor.execute({
        runId: m.runId, tenantId: m.tenantId, runInputs: run.inputs, context: ctx, step: m.step, def, steps: u.steps,
        visit: m.visit, attempt, attemptId, signal: delivery.controller.signal,
        ...(u.spawned ? { spawned: u.spawned } : {}),
        onProcess: (info) => write(() => this.attempts.processStarted(attemptId, { pid: info.pid, pgid: info.pgid, marker: info.marker })),
      });
    } catch (e) {
      clearInterval(beat);
      throw e;
    } finally {
      await this.slots.release(m.tenantId, u.slot).catch(() => undefined);
    }
    const tool = r.router?.tool ?? def.tool;
    /**
     * Ends the attempt's record (after its heartbeat and every write before it). The heartbeat goes
     * on until then: the report to the run (a commit that may queue behind a fan-out's) happens
     * before it, and a sweeper must not take a live attempt for a dead one meanwhile.
     */
    const finish = async (status: 'succeeded' | 'discarded' | 'failed' | 'aborted', error: { code: string; message: string } | null = null) => {
      clearInterval(beat);
      await writes;
      await this.attempts.finish(attemptId, {
        status,
        exitCode: r.result?.exitCode ?? null,
        usage: r.result?.usage ?? null,
        error,
        stdoutTail: r.result?.stdoutTail ?? '',
        stderrTail: r.result?.stderrTail ?? '',
        produced: r.kind === 'succeeded' ? r.artifacts.map((a) => a.id) : [],
        ...(r.router || tool !== def.tool ? { tool, router: r.router } : {}),
      }, startedAt);
    };
    const report = (event: PipelineEvent) => this.engine.send(m.runId, undefined, event, WORKER_ACTOR, { strict: false, hold: true });

    // Whatever happens to the report (a lost store, a busy run), the heartbeat stops here.
    const conclude = async (): Promise<AttemptResult<RunAfter>> => {
      if (r.kind === 'aborted') {
        await finish('aborted', { code: 'ABORTED', message: `attempt aborted (${delivery.cause() ?? 'cancelled'})` });
        return { kind: 'aborted' };
      }
      if (r.kind === 'succeeded' || r.kind === 'spawn') {
        // Reported first, recorded after: the attempt is `succeeded` only when its result is the
        // one the run took (the event names the attempt), `discarded` when the run no longer
        // waited for it. A worker killed in between leaves it `running`; the sweeper then finds
        // it named in the run and records it succeeded.
        const reported =
          r.kind === 'succeeded'
            ? await report({ type: 'STEP_SUCCEEDED', step: m.step, visit: m.visit, attempt: attemptId, artifacts: Object.fromEntries(r.artifacts.map((a) => [a.name, a.id])) })
            : await report({ type: 'STEP_SPAWNED', step: m.step, visit: m.visit, spawn: r.spawn, reason: r.reason, ...(r.failingOutput !== undefined ? { failingOutput: r.failingOutput } : {}) });
        // A spawn request (e.g. a failing test with spawnOnFailure) says so on the attempt: the run took it, and why.
        const spawnNote = r.kind === 'spawn' ? { code: 'SPAWN_REQUESTED', message: `spawned ${r.spawn}: ${r.reason}` } : null;
        const label = r.kind === 'succeeded' ? 'succeeded' : 'spawned';
        if (!reported.accepted) {
          await finish('discarded', { code: 'RESULT_DISCARDED', message: 'the run no longer waited for this step visit (a duplicate or late execution): its result was not used' });
          return { kind: 'lost', label };
        }
        await finish('succeeded', spawnNote);
        return { kind: 'committed', after: { run: reported.run, held: reported.held }, label };
      }
      await finish('failed', { code: r.code, message: r.message });
      const quarantine = this.options.quarantineCodes.has(r.code);
      const reason = `${r.code}: ${r.message}`;
      if (r.retryable && !quarantine && r.retryAfterMs !== undefined) {
        // The tool is unavailable (an open circuit breaker): wait for it without spending an attempt.
        return { kind: 'retry', attempt: count.attempt, reason, waitMs: r.retryAfterMs, backoffMs: 0 };
      }
      // The retry budget is the template's `retries.attempts`, counted by the stage runner.
      if (r.retryable && !quarantine && count.attempt < count.maxAttempts) {
        const { run: after } = await report({ type: 'STEP_ATTEMPT_FAILED', step: m.step, visit: m.visit, code: r.code, message: r.message });
        const still = after.status === 'running' && (after.snapshot.context.spawned.find((s) => s.id === m.step) ?? after.snapshot.context.steps[m.step])?.visit === m.visit;
        if (!still) return { kind: 'lost', label: 'failed' };
        this.log.warn(`run ${m.runId} step ${m.step} attempt ${attempt} (try ${count.attempt}/${count.maxAttempts}) failed: ${reason}`);
        return { kind: 'retry', attempt: count.attempt, reason, backoffMs: def.retries.backoffMs * 2 ** (count.attempt - 1) };
      }
      const failed = await report({ type: 'STEP_FAILED', step: m.step, visit: m.visit, attempts: attempt, code: r.code, message: r.message, ...(quarantine ? { quarantine: true } : {}) });
      return failed.accepted ? { kind: 'committed', after: { run: failed.run, held: failed.held }, label: 'failed' } : { kind: 'lost', label: 'failed' };
    };
    try {
      return await conclude();
    } finally {
      clearInterval(beat);
    }
  }

  /**
   * Kills what earlier executions of this step visit on this host left running (a worker killed
   * with -9 leaves its step's process group orphaned): by the recorded pgid and marker, so a
   * reused pid is never hit. Executions on another host are that host's to reap.
   */
  private async reapEarlier(m: StepMessage): Promise<void> {
    for (const a of await this.attempts.listForVisit(m.runId, m.step, m.visit)) {
      if (a.host !== hostname() || a.pgid === null || a.marker === null || a.status === 'succeeded' || a.status === 'discarded' || a.status === 'failed') continue;
      if (a.workerPid === process.pid) continue; // this process's own: it ended it
      const r = await reapProcesses({ marker: a.marker, pgid: a.pgid }, this.options.killGraceMs).catch(() => null);
      if (r?.found) this.log.warn(`run ${m.runId} step ${m.step}: reaped ${r.killed}/${r.found} process(es) left by attempt ${a.attempt}`);
    }
  }
}

/** Whether `run` is running and waits for step visit `m`. */
function visitRunning(run: RunRecord, m: StepMessage): boolean {
  if (run.status !== 'running') return false;
  const ctx = run.snapshot.context;
  const state = ctx.spawned.find((s) => s.id === m.step) ?? ctx.steps[m.step];
  return state !== undefined && state.status === 'running' && state.visit === m.visit;
}

/** Whether a process with this pid exists (signal 0). */
function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
