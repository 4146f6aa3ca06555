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
    if ((job.stalledCounter ?? 0) > 0) {
      const live = await this.attempts.findLive(m.runId, m.step, m.visit, new Date(Date.now() - this.options.heartbeatTimeoutMs));
      if (live && live.host !== hostname()) return waitWithoutAttempt(job, token, this.options.heartbeatTimeoutMs, `attempt ${live.attempt} of ${m.step} is alive on ${live.host}`);
    }

    const { template } = await this.engine.templateOf(run);
    const def = template.template.steps.find((s) => s.id === m.templateStep);
    if (!def) return { outcome: 'stale', ...base };
    const attempt = job.attemptsMade + 1;
    const attemptId = `${m.runId}:${m.step}:${m.visit}:${attempt}`;
    const delivery = trackDelivery(this.running, m.runId, run.version, outer);
    const controller = delivery.controller;
    await this.attempts.begin({
      id: attemptId, runId: m.runId, tenantId: m.tenantId, template: run.template.name, step: m.step, templateStep: m.templateStep,
      visit: m.visit, attempt, tool: def.tool, router: null, host: hostname(), workerPid: process.pid, startedAt: new Date(),
    });
    const beat = setInterval(() => {
      void this.attempts.heartbeat(attemptId).catch(() => undefined);
      void this.slots.refresh(m.tenantId, slot).catch(() => undefined);
    }, def.heartbeatMs);
    let r: StepAttemptResult;
    try {
      r = await this.executor.execute({
        runId: m.runId, tenantId: m.tenantId, runInputs: run.inputs, context: ctx, step: m.step, def, steps: template.template.steps,
        visit: m.visit, attempt, attemptId, signal: controller.signal,
        ...(spawned ? { spawned: { parentStepId: spawned.parentStepId, regressionContext: spawned.regressionContext } } : {}),
        onProcess: (info) => void this.attempts.processStarted(attemptId, { pid: info.pid, pgid: info.pgid, marker: info.marker }).catch(() => undefined),
      });
    } finally {
      clearInterval(beat);
      delivery.done();
      await this.slots.release(m.tenantId, slot).catch(() => undefined);
    }
    const tool = r.router?.tool ?? def.tool;
    const error = r.kind === 'failed' ? { code: r.code, message: r.message } : r.kind === 'aborted' ? { code: 'ABORTED', message: `attempt aborted (${delivery.cause() ?? 'cancelled'})` } : null;
    await this.attempts.finish(attemptId, {
      status: r.kind === 'succeeded' || r.kind === 'spawn' ? 'succeeded' : r.kind === 'aborted' ? 'aborted' : 'failed',
      exitCode: r.result?.exitCode ?? null,
      usage: r.result?.usage ?? null,
      error,
      stdoutTail: r.result?.stdoutTail ?? '',
      stderrTail: r.result?.stderrTail ?? '',
      produced: r.kind === 'succeeded' ? r.artifacts.map((a) => a.id) : [],
    });
    if (r.router || tool !== def.tool) await this.attempts.setRouter(attemptId, tool, r.router);

    const report = (event: PipelineEvent) => this.engine.send(m.runId, undefined, event, WORKER_ACTOR, { strict: false });
    const out = { ...base, attempt };
    if (r.kind === 'aborted') {
      if (delivery.releasing()) return waitWithoutAttempt(job, token, 0, 'released on shutdown');
      return { outcome: 'aborted', ...out };
    }
    if (r.kind === 'succeeded') {
      await report({ type: 'STEP_SUCCEEDED', step: m.step, visit: m.visit, artifacts: Object.fromEntries(r.artifacts.map((a) => [a.name, a.id])) });
      return { outcome: 'succeeded', ...out };
    }
    if (r.kind === 'spawn') {
      await report({ type: 'STEP_SPAWNED', step: m.step, visit: m.visit, spawn: r.spawn, reason: r.reason, ...(r.failingOutput !== undefined ? { failingOutput: r.failingOutput } : {}) });
      return { outcome: 'spawned', ...out };
    }
    const quarantine = this.options.quarantineCodes.has(r.code);
    const maxAttempts = job.opts.attempts ?? 1;
    if (r.retryable && !quarantine && attempt < maxAttempts) {
      const { run: after } = await report({ type: 'STEP_ATTEMPT_FAILED', step: m.step, visit: m.visit, code: r.code, message: r.message });
      const still = after.status === 'running' && (after.snapshot.context.spawned.find((s) => s.id === m.step) ?? after.snapshot.context.steps[m.step])?.visit === m.visit;
      if (!still) return { outcome: 'failed', ...out };
      this.log.warn(`run ${m.runId} step ${m.step} attempt ${attempt}/${maxAttempts} failed: ${r.code}: ${r.message}`);
      throw new Error(`${r.code}: ${r.message}`); // BullMQ retries after the step's backoff
    }
    await report({ type: 'STEP_FAILED', step: m.step, visit: m.visit, attempts: attempt, code: r.code, message: r.message, ...(quarantine ? { quarantine: true } : {}) });
    return { outcome: 'failed', ...out };
  }
}
