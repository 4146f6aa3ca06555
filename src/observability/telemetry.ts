import { Injectable, OnModuleInit } from '@nestjs/common';
import { context, SpanStatusCode, trace, type Attributes, type Span } from '@opentelemetry/api';
import { performance } from 'node:perf_hooks';
import { JobRecordListeners } from '../jobs/job-record-listeners';
import type { Stage, StageUsage, TransitionRecord } from '../lifecycle/job.types';
import { AicdMetrics, type StageOutcomeLabel, type SweepRepairKind } from './metrics';

/** What identifies one stage attempt (span attributes `aicd.*`). */
export interface StageRunInfo {
  stage: Stage;
  jobId: string;
  /** 1-based attempt number. */
  attempt: number;
  /** The job's version the attempt runs on. */
  version: number;
  /** The tool doing the work (`mock`, the agent CLI, `pr:<gateway>`). */
  tool: string;
}

/** What identifies one agent (or PR gateway) call. */
export interface AgentCallInfo extends Omit<StageRunInfo, 'version'> {
  idempotencyKey: string;
}

/**
 * What a stage attempt came to, structurally (JobStageWork's `Step`): `committed` with the stored
 * record, `lost` (the commit lost the CAS), `retry` with a transient fault, `aborted`.
 */
export interface StepLike {
  kind: string;
  record?: { state: string; error?: { code: string } | null };
  fault?: { code: string; message: string };
}

/** The outcome label of a stage attempt: `failed` when its commit put the job in FAILED. */
export function stageOutcome(step: StepLike): StageOutcomeLabel {
  switch (step.kind) {
    case 'committed':
      return step.record?.state === 'FAILED' ? 'failed' : 'succeeded';
    case 'lost':
      return 'conflict';
    case 'retry':
      return 'retry';
    case 'aborted':
      return 'aborted';
    default:
      return 'error';
  }
}

const seconds = (startedMs: number) => (performance.now() - startedMs) / 1000;

function fail(span: Span, e: unknown): void {
  span.recordException(e instanceof Error ? e : String(e));
  span.setStatus({ code: SpanStatusCode.ERROR, message: e instanceof Error ? e.message : String(e) });
}

/**
 * The hooks the rest of the service calls (each a single clearly marked line at its seam):
 * JobStageWork → {@link stage}, StageCalls → {@link agentCall}, Sweeper → {@link sweep}; commits
 * and conflicts arrive through {@link JobRecordListeners}. Each records metrics
 * ({@link AicdMetrics}) and, when tracing is on, spans on the active trace:
 * - `aicd.stage <stage>`: one per stage attempt, child of the delivery's `process <queue>` span
 *   (bullmq-otel: whose parent is the `add` span of whoever sent the message — the REST request
 *   for planning, the previous stage for the next), so a job is one trace;
 * - `aicd.agent_call <stage>`: the agent / tool call inside it;
 * - `aicd.commit`: every compare-and-set commit (from when the repository stamped `updatedAt` to
 *   its end), won or lost, under whatever span committed it (a stage, a REST request).
 * Attributes: `aicd.stage`, `aicd.job_id`, `aicd.attempt`, `aicd.tool`, `aicd.version`,
 * `aicd.outcome`, usage (`aicd.usage.*`). With tracing off the API's no-op tracer makes the spans free.
 */
@Injectable()
export class Telemetry implements OnModuleInit {
  private readonly tracer = trace.getTracer('aicd-orchestrator');

  constructor(
    private readonly metrics: AicdMetrics,
    private readonly listeners: JobRecordListeners,
  ) {}

  onModuleInit(): void {
    this.listeners.add({
      created: (job) => {
        const span = trace.getActiveSpan(); // the submitting request's (REST, webhook)
        span?.setAttribute('aicd.job_id', job.id);
        span?.addEvent('aicd.job_created', { 'aicd.job_id': job.id, 'aicd.tenant_id': job.tenantId });
      },
      committed: (before, after, change) => {
        for (const t of change.transitions) this.metrics.transitions.inc({ from: t.from, to: t.to, event: t.event });
        this.commitSpan(before.id, before.version, 'committed', change.transitions, after.updatedAt);
      },
      conflict: (current, change) => {
        this.metrics.casConflicts.inc();
        this.commitSpan(current.id, current.version, 'conflict', change.transitions);
      },
    });
  }

  /**
   * Runs one stage attempt (`run` = JobStageWork's attempt: the agent call, then the commit) in a
   * span and observes `aicd_stage_duration_seconds{stage,outcome}`. Returns or throws what `run` does.
   */
  stage<T extends StepLike>(info: StageRunInfo, run: () => Promise<T>): Promise<T> {
    const started = performance.now();
    const attributes: Attributes = {
      'aicd.stage': info.stage,
      'aicd.job_id': info.jobId,
      'aicd.attempt': info.attempt,
      'aicd.version': info.version,
      'aicd.tool': info.tool,
    };
    return this.tracer.startActiveSpan(`aicd.stage ${info.stage}`, { attributes }, async (span) => {
      let outcome: StageOutcomeLabel = 'error';
      try {
        const step = await run();
        outcome = stageOutcome(step);
        const code = step.fault?.code ?? (outcome === 'failed' ? step.record?.error?.code : undefined);
        if (code) span.setAttribute('aicd.error.code', code);
        if (outcome === 'failed' || outcome === 'retry') span.setStatus({ code: SpanStatusCode.ERROR, message: step.fault?.message ?? code ?? outcome });
        return step;
      } catch (e) {
        fail(span, e);
        throw e;
      } finally {
        span.setAttribute('aicd.outcome', outcome);
        span.end();
        this.metrics.stageDuration.observe({ stage: info.stage, outcome }, seconds(started));
      }
    });
  }

  /**
   * Runs one agent (or PR gateway) call in a span, observes `aicd_agent_call_duration_seconds`
   * and, when it settles, counts the usage `usage()` then reports (`aicd_tokens_total`,
   * `aicd_cost_usd_total`). Returns or throws what `call` does.
   */
  agentCall<T>(info: AgentCallInfo, call: () => Promise<T>, usage: () => StageUsage | null): Promise<T> {
    const started = performance.now();
    const attributes: Attributes = {
      'aicd.stage': info.stage,
      'aicd.job_id': info.jobId,
      'aicd.attempt': info.attempt,
      'aicd.tool': info.tool,
      'aicd.idempotency_key': info.idempotencyKey,
    };
    return this.tracer.startActiveSpan(`aicd.agent_call ${info.stage}`, { attributes }, async (span) => {
      try {
        return await call();
      } catch (e) {
        fail(span, e);
        throw e;
      } finally {
        const u = usage();
        this.metrics.usage(info.stage, u);
        if (u) {
          span.setAttributes({ 'aicd.usage.input_tokens': u.inputTokens, 'aicd.usage.output_tokens': u.outputTokens });
          if (u.costUsd !== undefined) span.setAttribute('aicd.usage.cost_usd', u.costUsd);
        }
        span.end();
        this.metrics.agentCallDuration.observe({ stage: info.stage, tool: info.tool }, seconds(started));
      }
    });
  }

  /** Counts what one sweep repaired (`aicd_sweeper_repairs_total{kind}`). */
  sweep(report: Record<SweepRepairKind, number>): void {
    this.metrics.sweep(report);
  }

  /** A span for one commit; it starts at `startedAt` when that is a plausible time (else now). */
  private commitSpan(jobId: string, fromVersion: number, outcome: 'committed' | 'conflict', transitions: TransitionRecord[], startedAt?: Date): void {
    const now = Date.now();
    const start = startedAt && startedAt.getTime() <= now && now - startedAt.getTime() < 60_000 ? startedAt : new Date(now);
    const last = transitions[transitions.length - 1];
    const span = this.tracer.startSpan(
      'aicd.commit',
      {
        startTime: start,
        attributes: {
          'aicd.job_id': jobId,
          'aicd.version': fromVersion,
          'aicd.commit.outcome': outcome,
          'aicd.events': transitions.map((t) => t.event),
          ...(last ? { 'aicd.from_state': transitions[0].from, 'aicd.to_state': last.to } : {}),
        },
      },
      context.active(),
    );
    span.end();
  }
}
