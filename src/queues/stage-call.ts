import { Inject, Injectable } from '@nestjs/common';
import { fromPromise } from 'xstate';
import {
  AGENT,
  AgentError,
  PULL_REQUEST_GATEWAY,
  type Agent,
  type AgentCallObserver,
  type AgentCallOptions,
  type AgentJobContext,
  type PullRequestGateway,
} from '../agents/agent.port';
import type { AttemptHandle } from '../attempts/attempt-tracker';
import { APP_CONFIG, type AppConfig } from '../config/config';
import type { JobContext, JobWorkspace, ReviewResult, Stage, StageFault, StageInput, StageOutput, StageUsage } from '../lifecycle/job.types';
import { ToolCircuitOpenError } from '../tools/tool.port';
import type { parkedStageActor } from '../lifecycle/stage-actors';
import { Telemetry } from '../observability/telemetry';

/** Why a call was stopped from outside, if it was. */
export type CallAbort = 'external' | 'timeout' | null;

/** Sum of two usages (`costUsd` kept only when one of them has it). */
export function sumUsage(a: StageUsage | null, b: StageUsage | null): StageUsage | undefined {
  if (!a) return b ?? undefined;
  if (!b) return a;
  const cost = a.costUsd !== undefined || b.costUsd !== undefined ? { costUsd: (a.costUsd ?? 0) + (b.costUsd ?? 0) } : {};
  return { inputTokens: a.inputTokens + b.inputTokens, outputTokens: a.outputTokens + b.outputTokens, ...cost };
}

/**
 * Maps what a stage call threw to the {@link StageFault} the machine's guards read: an abort from
 * outside is permanent (`ABORTED`; the cancel's commit already moved the job), the stage timeout
 * transient (`STAGE_TIMEOUT`), an {@link AgentError} keeps its code and retryability, an open
 * circuit breaker is transient with `retryAfterMs` (`TOOL_CIRCUIT_OPEN`), anything else is a
 * transient `AGENT_ERROR`.
 */
export function stageFault(e: unknown, stage: Stage, attempt: number, maxAttempts: number, aborted: CallAbort, timeoutMs: number): StageFault {
  const base = { stage, attempt, maxAttempts };
  if (aborted === 'external') return { ...base, code: 'ABORTED', message: 'agent call aborted: job cancelled or worker shutting down', retryable: false };
  if (aborted === 'timeout') return { ...base, code: 'STAGE_TIMEOUT', message: `agent call exceeded STAGE_TIMEOUT_MS (${timeoutMs} ms)`, retryable: true };
  if (e instanceof ToolCircuitOpenError) return { ...base, code: e.code, message: e.message, retryable: true, retryAfterMs: e.retryAfterMs };
  if (e instanceof AgentError) {
    return { ...base, code: e.code, message: e.message, retryable: e.retryable, ...(e.retryAfterMs !== undefined ? { retryAfterMs: e.retryAfterMs } : {}) };
  }
  return { ...base, code: 'AGENT_ERROR', message: e instanceof Error ? e.message : String(e), retryable: true };
}

/** Never settles; rejects when `signal` aborts (the invoking actor stopped), as {@link parkedStageActor}. */
function park(signal: AbortSignal): Promise<never> {
  return new Promise<never>((_resolve, reject) => signal.addEventListener('abort', () => reject(new Error('parked stage actor stopped')), { once: true }));
}

/** What one stage call needs. */
export interface StageCallParams {
  stage: Stage;
  attempt: number;
  maxAttempts: number;
  /** The job's context as committed before the call (workspace, review, usage). */
  context: JobContext;
  /** Aborts the call from outside (cancel, shutdown, lost heartbeat). */
  abort: AbortSignal;
  externalAbort: () => 'external' | null;
  /** The attempt's record: usage, processes and log lines go there. */
  handle: AttemptHandle;
  /** Usage of this stage's earlier failed attempts on the same version (not committed yet). */
  priorUsage: StageUsage | null;
}

/**
 * Builds the invoked actor of a stage: it calls the agent (or the PR gateway) with an observer
 * bound to the attempt, resolves with `{ result, attempt, usage, workspace }` and rejects with a
 * {@link StageFault} carrying the usage spent.
 */
@Injectable()
export class StageCalls {
  /** The parameters of the call each running actor system makes (see {@link bind}). */
  private readonly bound = new WeakMap<object, StageCallParams>();
  private shared?: ReturnType<StageCalls['actor']>;

  constructor(
    @Inject(AGENT) private readonly agent: Agent,
    @Inject(PULL_REQUEST_GATEWAY) private readonly gateway: PullRequestGateway,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    /** Observability hook (src/observability): span, duration and usage of each agent call. */
    private readonly telemetry: Telemetry,
  ) {}

  /**
   * One stage actor logic for every stage actor of a machine provided once (building a machine per
   * attempt cost ~8 % of a worker's CPU, BENCHMARKS.md): each run's parameters are bound to its
   * actor system with {@link bind} before the actor starts, and only the invocation of the bound
   * stage calls the agent; any other stage entered meanwhile (the next stage, after a commit)
   * parks as {@link parkedStageActor} does, for its own worker to run.
   */
  sharedActor() {
    return (this.shared ??= this.actor((system) => this.bound.get(system)));
  }

  /** Binds one run's call parameters to its actor system (`runStage`'s `bind`). */
  bind(system: object, p: StageCallParams): void {
    this.bound.set(system, p);
  }

  /**
   * The invoked actor logic of a stage call with the parameters `paramsOf` finds bound to the
   * invoking actor system (none bound, or bound for another stage than the invoked one's: it
   * parks until stopped).
   */
  private actor(paramsOf: (system: object) => StageCallParams | undefined) {
    const timeoutMs = this.config.STAGE_TIMEOUT_MS;
    return fromPromise(async ({ input, signal, system }: { input: StageInput; signal: AbortSignal; system: object }): Promise<StageOutput<unknown>> => {
      const p = paramsOf(system);
      if (!p || p.stage !== input.stage) return park(signal);
      const timeout = timeoutMs > 0 ? AbortSignal.timeout(timeoutMs) : undefined;
      let workspace: JobWorkspace | undefined;
      const observer: AgentCallObserver = {
        usage: (u) => p.handle.addUsage(u),
        workspace: (w) => (workspace = w),
        processStarted: (info) => p.handle.processStarted(info),
        processEnded: (info, exit) => p.handle.processEnded(info, exit),
        line: (line) => p.handle.line(line),
      };
      const context = p.context;
      const ctx: AgentJobContext = {
        jobId: input.jobId,
        tenantId: input.tenantId,
        repositoryId: input.repositoryId,
        issue: input.issue,
        reviewRound: input.reviewRound,
        workspace: context.workspace ?? null,
        lastCode: input.code ?? null,
      };
      const round = p.stage === 'coding' || p.stage === 'reviewing' ? `:r${input.reviewRound}` : '';
      const opts: AgentCallOptions = {
        signal: AbortSignal.any(timeout ? [signal, p.abort, timeout] : [signal, p.abort]),
        idempotencyKey: `${input.jobId}:${p.stage}:${p.attempt}${round}`,
        attempt: p.attempt,
        observer,
      };
      try {
        // Observability hook (src/observability/telemetry.ts): span `aicd.agent_call <stage>`, aicd_agent_call_duration_seconds, usage counters.
        const call = () => this.call(p.stage, ctx, input, context.review ?? null, opts);
        const result = await this.telemetry.agentCall({ stage: p.stage, jobId: input.jobId, attempt: p.attempt, tool: p.handle.record.tool, idempotencyKey: opts.idempotencyKey }, call, () => p.handle.reportedUsage);
        const usage = sumUsage(p.handle.reportedUsage, p.priorUsage);
        return { result, attempt: p.attempt, ...(usage ? { usage } : {}), ...(workspace ? { workspace } : {}) };
      } catch (e) {
        const aborted = p.externalAbort() ?? (timeout?.aborted ? 'timeout' : null);
        const fault = stageFault(e, p.stage, p.attempt, p.maxAttempts, aborted, timeoutMs);
        const usage = sumUsage(p.handle.reportedUsage, p.priorUsage);
        throw usage ? { ...fault, usage } : fault;
      }
    });
  }

  private call(stage: Stage, ctx: AgentJobContext, input: StageInput, review: ReviewResult | null, opts: AgentCallOptions): Promise<unknown> {
    switch (stage) {
      case 'planning':
        return this.agent.plan(ctx, opts);
      case 'coding':
        return this.agent.code(ctx, input.plan!, input.feedback, opts);
      case 'reviewing':
        return this.agent.review(ctx, input.plan!, input.code!, opts);
      case 'pr-open':
        return this.gateway.open(ctx, { plan: input.plan!, code: input.code!, review }, opts);
    }
  }
}
