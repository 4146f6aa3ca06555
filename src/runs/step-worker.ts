/**
 * The step queue's processor: for one step message, check that the run still waits for that step
 * visit, take a running-step slot, run the attempt (StepExecutor) with a heartbeat, record it on
 * `step_attempts`, and report the outcome to the run's statechart through the RunEngine (which
 * commits with compare-and-set and sends the next steps' messages).
 *
 * Delivery rules (BullMQ): a failed attempt with attempts left throws, and BullMQ retries the
 * message after the step's exponential backoff; a message redelivered after its worker died
 * (stalled) runs the step again as a new attempt, unless a live attempt (fresh heartbeat) of the
 * same visit exists; a step over a running-step limit, or released at shutdown, waits
 * (`DelayedError`) without spending an attempt.
 */
import { hostname } from 'node:os';
import { Logger } from '@nestjs/common';
import type { Job } from 'bullmq';
import { reapProcesses } from '../tools/process-reaper';
import { trackDelivery, waitWithoutAttempt } from '../runtime/delivery';
import type { RunningCalls } from '../queues/cancellation';
import type { RunActor } from '../pipelines/run-events';
import type { PipelineEvent } from '../pipelines/pipeline.types';
import type { RunEngine } from './run-engine';
import type { MongoRunRepository } from './mongo-run.repository';
import type { StepAttemptRepository } from './step-attempts';
import type { StepExecutor, StepAttemptResult } from './step-executor';
import type { StepMessage } from './step-queue';
import type { StepSlots } from './step-slots';

const WORKER_ACTOR: RunActor = { kind: 'worker', id: `${hostname()}:${process.pid}` };

export interface StepWorkerOptions {
  /** Codes that quarantine the run instead of failing the step. */
  quarantineCodes: ReadonlySet<string>;
  heartbeatTimeoutMs: number;
  /** How long a step over a running-step limit waits before it looks again, ms. */
  slotRetryMs: number;
  /** ms between SIGTERM and SIGKILL when reaping an earlier execution's processes. */
  killGraceMs: number;
}

/** What a delivery did (kept as the BullMQ job's return value). */
export interface StepDelivery {
  outcome: 'stale' | 'succeeded' | 'failed' | 'retry' | 'spawned' | 'aborted';
  runId: string;
  step: string;
  visit: number;
  attempt?: number;
}

export class StepWorker {
  private readonly log = new Logger(StepWorker.name);

  constructor(
    private readonly runs: MongoRunRepository,
    private readonly engine: RunEngine,
    private readonly executor: StepExecutor,
    private readonly attempts: StepAttemptRepository,
    private readonly running: RunningCalls,
    private readonly slots: StepSlots,
    private readonly options: StepWorkerOptions,
  ) {}

  async process(job: Job<StepMessage>, token?: string, outer?: AbortSignal): Promise<StepDelivery> {
    const m = job.data;
    const base = { runId: m.runId, step: m.step, visit: m.visit };
    const run = await this.runs.findById(m.runId);
    if (!run || run.status !== 'running') return { outcome: 'stale', ...base };
    const ctx = run.snapshot.context;
    const spawned = ctx.spawned.find((s) => s.id === m.step);
    const state = spawned ?? ctx.steps[m.step];
    if (!state || state.status !== 'running' || state.visit !== m.visit) return { outcome: 'stale', ...base };

    const slot = `${m.runId}:${m.step}:${m.visit}`;
    if (!(await this.slots.acquire(m.tenantId, slot))) {
      return waitWithoutAttempt(job, token, this.options.slotRetryMs, `running-step limit reached (tenant ${m.tenantId}); step ${m.step} waits`);
    }
    // An earlier execution of this visit whose worker lives (a stalled lock, a duplicate message):
    // wait for it rather than run the step twice at once. One on this host whose worker died is
    // not waited for, and what it left running is reaped below.
    const live = await this.attempts.findLive(m.runId, m.step, m.visit, new Date(Date.now() - this.options.heartbeatTimeoutMs));
    if (live && (live.host !== hostname() || processAlive(live.workerPid))) {
      // (The slot, one per step visit, stays with the live execution.)
      return waitWithoutAttempt(job, token, this.options.heartbeatTimeoutMs, `attempt ${live.attempt} of ${m.step} is alive on ${live.host} (pid ${live.workerPid})`);
    }

    const { template } = await this.engine.templateOf(run);
    const def = template.template.steps.find((s) => s.id === m.templateStep);
    if (!def) return { outcome: 'stale', ...base };
    await this.reapEarlier(m);
    const delivery = trackDelivery(this.running, m.runId, run.version, outer);
    const controller = delivery.controller;
    // The attempt number is allocated in the store, not taken from BullMQ: a stalled delivery is
    // not counted there (nor is a message the sweeper sent again), and every execution must have
    // its own record, scratch directory and artifact ids.
    const { attempt, attemptId } = await this.attempts.begin({
      runId: m.runId, tenantId: m.tenantId, template: run.template.name, step: m.step, templateStep: m.templateStep,
      visit: m.visit, tool: def.tool, router: null, host: hostname(), workerPid: process.pid, startedAt: new Date(),
    });
    // One attempt's writes go in order (on FerretDB v1 an update rewrites the whole document, so a
    // heartbeat still in flight when the attempt finishes would write the old fields back).
    let writes: Promise<unknown> = Promise.resolve();
    const write = (f: () => Promise<unknown>) => (writes = writes.then(f).catch(() => undefined));
    const beat = setInterval(() => {
      write(() => this.attempts.heartbeat(attemptId));
      void this.slots.refresh(m.tenantId, slot).catch(() => undefined);
    }, def.heartbeatMs);
    let r: StepAttemptResult;
    try {
      r = await this.executor.execute({
        runId: m.runId, tenantId: m.tenantId, runInputs: run.inputs, context: ctx, step: m.step, def, steps: template.template.steps,
        visit: m.visit, attempt, attemptId, signal: controller.signal,
        ...(spawned ? { spawned: { parentStepId: spawned.parentStepId, regressionContext: spawned.regressionContext } } : {}),
        onProcess: (info) => write(() => this.attempts.processStarted(attemptId, { pid: info.pid, pgid: info.pgid, marker: info.marker })),
      });
    } finally {
      delivery.done();
      await this.slots.release(m.tenantId, slot).catch(() => undefined);
    }
    const tool = r.router?.tool ?? def.tool;
    /** Ends the attempt's record (after its heartbeat and every write before it). */
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
      });
      if (r.router || tool !== def.tool) await this.attempts.setRouter(attemptId, tool, r.router);
    };
    const report = (event: PipelineEvent) => this.engine.send(m.runId, undefined, event, WORKER_ACTOR, { strict: false });
    const out = { ...base, attempt };
    try {
      if (r.kind === 'aborted') {
        await finish('aborted', { code: 'ABORTED', message: `attempt aborted (${delivery.cause() ?? 'cancelled'})` });
        if (delivery.releasing()) return waitWithoutAttempt(job, token, 0, 'released on shutdown');
        return { outcome: 'aborted', ...out };
      }
      if (r.kind === 'succeeded' || r.kind === 'spawn') {
        // Reported first, recorded after: the attempt is `succeeded` only when its result is the
        // one the run took (the event names the attempt), `discarded` when the run no longer
        // waited for it. A worker killed in between leaves it `running`; the sweeper then finds
        // it named in the run and records it succeeded.
        const { accepted } =
          r.kind === 'succeeded'
            ? await report({ type: 'STEP_SUCCEEDED', step: m.step, visit: m.visit, attempt: attemptId, artifacts: Object.fromEntries(r.artifacts.map((a) => [a.name, a.id])) })
            : await report({ type: 'STEP_SPAWNED', step: m.step, visit: m.visit, spawn: r.spawn, reason: r.reason, ...(r.failingOutput !== undefined ? { failingOutput: r.failingOutput } : {}) });
        // A spawn request (e.g. a failing test with spawnOnFailure) says so on the attempt: the run took it, and why.
        const spawned = r.kind === 'spawn' ? { code: 'SPAWN_REQUESTED', message: `spawned ${r.spawn}: ${r.reason}` } : null;
        await finish(accepted ? 'succeeded' : 'discarded', accepted ? spawned : { code: 'RESULT_DISCARDED', message: 'the run no longer waited for this step visit (a duplicate or late execution): its result was not used' });
        return { outcome: r.kind === 'succeeded' ? 'succeeded' : 'spawned', ...out };
      }
      await finish('failed', { code: r.code, message: r.message });
      const quarantine = this.options.quarantineCodes.has(r.code);
      // The retry budget is BullMQ's (the template's `retries.attempts`), counted by its deliveries.
      const tries = job.attemptsMade + 1;
      const maxAttempts = job.opts.attempts ?? 1;
      if (r.retryable && !quarantine && tries < maxAttempts) {
        const { run: after } = await report({ type: 'STEP_ATTEMPT_FAILED', step: m.step, visit: m.visit, code: r.code, message: r.message });
        const still = after.status === 'running' && (after.snapshot.context.spawned.find((s) => s.id === m.step) ?? after.snapshot.context.steps[m.step])?.visit === m.visit;
        if (!still) return { outcome: 'failed', ...out };
        this.log.warn(`run ${m.runId} step ${m.step} attempt ${attempt} (try ${tries}/${maxAttempts}) failed: ${r.code}: ${r.message}`);
        throw new Error(`${r.code}: ${r.message}`); // BullMQ retries after the step's backoff
      }
      await report({ type: 'STEP_FAILED', step: m.step, visit: m.visit, attempts: attempt, code: r.code, message: r.message, ...(quarantine ? { quarantine: true } : {}) });
      return { outcome: 'failed', ...out };
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

/** Whether a process with this pid exists (signal 0). */
function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
