/**
 * The service's Prometheus metrics (prom-client 15), served as text at `GET /metrics`.
 *
 * Recorded as things happen, in the process where they happen:
 * - `aicd_job_transitions_total{from,to,event}` — committed statechart transitions (from the
 *   JobRecordListeners seam: every winning commit, REST or worker);
 * - `aicd_cas_conflicts_total` — commits that lost the compare-and-set (another writer won);
 * - `aicd_stage_duration_seconds{stage,outcome}` — one observation per stage attempt, from its
 *   start to its end (the agent call and the commit), `outcome` = {@link StageOutcomeLabel};
 * - `aicd_agent_call_duration_seconds{stage,tool}` — one per agent / PR-gateway call (for a CLI
 *   agent: preparing the workspace, the CLI process from spawn to exit, and collecting the result);
 * - `aicd_tokens_total{stage,direction=input|output}`, `aicd_cost_usd_total{stage}` — usage the
 *   calls reported, counted when the call ends (also failed, aborted and discarded calls: spent
 *   is spent), so it can exceed the sum of the jobs' `context.usage`;
 * - `aicd_sweeper_repairs_total{kind}` — what each sweep repaired (kinds of the SweepReport).
 *
 * Computed on scrape (see {@link MetricSources}):
 * - `aicd_jobs{state}` — jobs per state, counted in MongoDB (API processes only: it is global);
 * - `aicd_queue_jobs{queue,state}` — BullMQ `getJobCounts` per queue (API processes only);
 * - `aicd_tool_breaker_state{tool}` — this process's circuit breakers: 0 closed, 1 half-open,
 *   2 open, 3 isolated;
 * - `aicd_metrics_source_errors_total{source}` — scrapes where a source failed or took over 2 s
 *   (its gauge is then absent from that scrape; the rest is served).
 *
 * Plus prom-client's default Node metrics with the prefix `aicd_` (`aicd_process_cpu_seconds_total`,
 * `aicd_nodejs_eventloop_lag_seconds`, heap, GC, handles…), collected once per process.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { JOB_STATES, STAGES, type JobState, type StageUsage } from '../lifecycle/job.types';
import type { BreakerState } from '../tools/tool-breakers';

/** How a stage attempt ended. `retry`: a transient fault, the stage runs again; `conflict`: its commit lost. */
export type StageOutcomeLabel = 'succeeded' | 'failed' | 'retry' | 'conflict' | 'aborted' | 'error';

/** The kinds of repair a sweep reports (the numeric fields of SweepReport but `examined`). */
export const SWEEP_REPAIR_KINDS = ['enqueued', 'retried', 'rolledForward', 'dead', 'rescued'] as const;
export type SweepRepairKind = (typeof SWEEP_REPAIR_KINDS)[number];

/** Seconds: from a mock call (ms) to a long CLI run (an hour). */
export const DURATION_BUCKETS_SECONDS = [0.005, 0.025, 0.1, 0.25, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600];

/** Breaker state as a number (the gauge's value). */
export const BREAKER_STATE_VALUE: Record<BreakerState, number> = { closed: 0, 'half-open': 1, open: 2, isolated: 3 };

/** Where the scrape-time gauges read from; an absent source leaves its gauge without series. */
export interface MetricSources {
  /** Jobs per state, all tenants. */
  jobsByState?(): Promise<Partial<Record<JobState, number>>>;
  /** Messages per queue and BullMQ state. */
  queueDepths?(): Promise<{ queue: string; counts: Record<string, number> }[]>;
  /** This process's breakers, by tool. */
  breakers?(): Record<string, BreakerState>;
}

/** A source slower than this is skipped for the scrape, ms. */
const SOURCE_TIMEOUT_MS = 2000;

let processRegistry: Registry | undefined;

/** prom-client's default metrics, one registry per process (they describe the process, not an app). */
function defaultMetricsRegistry(): Registry {
  if (!processRegistry) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry, prefix: 'aicd_' });
  }
  return processRegistry;
}

function within<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms)));
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/** The metrics of one application instance (one registry per app: tests run several in a process). */
export class AicdMetrics {
  readonly registry = new Registry();
  private readonly sourceErrors: Counter<'source'>;
  readonly transitions: Counter<'from' | 'to' | 'event'>;
  readonly casConflicts: Counter;
  readonly stageDuration: Histogram<'stage' | 'outcome'>;
  readonly agentCallDuration: Histogram<'stage' | 'tool'>;
  readonly tokens: Counter<'stage' | 'direction'>;
  readonly costUsd: Counter<'stage'>;
  readonly sweeperRepairs: Counter<'kind'>;

  constructor(private readonly sources: MetricSources = {}) {
    const registers = [this.registry];
    this.sourceErrors = new Counter({ name: 'aicd_metrics_source_errors_total', help: 'Scrapes in which a metric source (mongodb, redis) failed or was too slow', labelNames: ['source'], registers });
    this.transitions = new Counter({ name: 'aicd_job_transitions_total', help: 'Committed statechart transitions', labelNames: ['from', 'to', 'event'], registers });
    this.casConflicts = new Counter({ name: 'aicd_cas_conflicts_total', help: 'Job commits that lost the compare-and-set on version (another writer committed first)', registers });
    this.stageDuration = new Histogram({
      name: 'aicd_stage_duration_seconds',
      help: 'Stage attempts from start to end (agent call and commit), by outcome',
      labelNames: ['stage', 'outcome'],
      buckets: DURATION_BUCKETS_SECONDS,
      registers,
    });
    this.agentCallDuration = new Histogram({
      name: 'aicd_agent_call_duration_seconds',
      help: 'Agent (or PR gateway) calls from start to end; for a CLI agent, its process from spawn to exit and the work around it',
      labelNames: ['stage', 'tool'],
      buckets: DURATION_BUCKETS_SECONDS,
      registers,
    });
    this.tokens = new Counter({ name: 'aicd_tokens_total', help: 'Tokens reported by agent calls (spent, including failed and discarded calls)', labelNames: ['stage', 'direction'], registers });
    this.costUsd = new Counter({ name: 'aicd_cost_usd_total', help: 'Cost in US dollars reported by agent calls (spent, including failed and discarded calls)', labelNames: ['stage'], registers });
    this.sweeperRepairs = new Counter({ name: 'aicd_sweeper_repairs_total', help: 'Repairs made by the sweeper, by kind', labelNames: ['kind'], registers });
    for (const kind of SWEEP_REPAIR_KINDS) this.sweeperRepairs.inc({ kind }, 0);
    for (const stage of STAGES) {
      for (const direction of ['input', 'output']) this.tokens.inc({ stage, direction }, 0);
      this.costUsd.inc({ stage }, 0);
    }
    this.casConflicts.inc(0);
    this.defineScrapeGauges(registers);
  }

  /** Counts the usage one call reported. */
  usage(stage: string, usage: StageUsage | null): void {
    if (!usage) return;
    if (usage.inputTokens > 0) this.tokens.inc({ stage, direction: 'input' }, usage.inputTokens);
    if (usage.outputTokens > 0) this.tokens.inc({ stage, direction: 'output' }, usage.outputTokens);
    if (usage.costUsd !== undefined && usage.costUsd > 0) this.costUsd.inc({ stage }, usage.costUsd);
  }

  /** Counts one sweep's repairs (only the kinds in {@link SWEEP_REPAIR_KINDS}). */
  sweep(report: Record<SweepRepairKind, number>): void {
    for (const kind of SWEEP_REPAIR_KINDS) if (report[kind] > 0) this.sweeperRepairs.inc({ kind }, report[kind]);
  }

  /** The exposition text (Prometheus text format 0.0.4): this app's metrics after the process's default ones. */
  async text(): Promise<string> {
    return (await defaultMetricsRegistry().metrics()) + '\n' + (await this.registry.metrics());
  }

  /** Content type of {@link text}. */
  get contentType(): string {
    return this.registry.contentType;
  }

  private defineScrapeGauges(registers: Registry[]): void {
    const sources = this.sources;
    const errors = this.sourceErrors;
    if (sources.jobsByState) {
      const read = sources.jobsByState;
      new Gauge({
        name: 'aicd_jobs',
        help: 'Jobs per state (all tenants), counted in MongoDB at scrape time',
        labelNames: ['state'],
        registers,
        async collect() {
          this.reset();
          try {
            const counts = await within(read(), SOURCE_TIMEOUT_MS);
            for (const state of JOB_STATES) this.set({ state }, counts[state] ?? 0);
          } catch {
            errors.inc({ source: 'mongodb' });
          }
        },
      });
    }
    if (sources.queueDepths) {
      const read = sources.queueDepths;
      new Gauge({
        name: 'aicd_queue_jobs',
        help: 'BullMQ messages per queue and state (getJobCounts at scrape time; failed = dead letters)',
        labelNames: ['queue', 'state'],
        registers,
        async collect() {
          this.reset();
          try {
            for (const { queue, counts } of await within(read(), SOURCE_TIMEOUT_MS)) {
              for (const [state, n] of Object.entries(counts)) this.set({ queue, state }, n);
            }
          } catch {
            errors.inc({ source: 'redis' });
          }
        },
      });
    }
    if (sources.breakers) {
      const read = sources.breakers;
      new Gauge({
        name: 'aicd_tool_breaker_state',
        help: "This process's circuit breaker per tool: 0 closed, 1 half-open, 2 open, 3 isolated",
        labelNames: ['tool'],
        registers,
        collect() {
          this.reset();
          for (const [tool, state] of Object.entries(read())) this.set({ tool }, BREAKER_STATE_VALUE[state]);
        },
      });
    }
  }
}
