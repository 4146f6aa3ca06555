import { Logger } from '@nestjs/common';
import { MongoServerError, type Collection, type Db } from 'mongodb';
import type { RunEngine } from './run-engine';
import type { RunRecord } from './run.record';
import type { StepAttemptRepository } from './step-attempts';

/** Durations kept per template step (the newest). */
export const DURATIONS_PER_STEP = 20;

/** `step_durations`: one document per tenant and template name. */
interface Doc {
  /** `<tenantId>:<template name>`. */
  _id: string;
  /** By template step id (`^[a-z][a-z0-9_-]*$`, so a safe field name): durations in ms, oldest first, at most {@link DURATIONS_PER_STEP}. */
  steps: Record<string, number[]>;
  updatedAt: Date;
}

/**
 * The ETA's input (`GET /runs/:id/progress`): the recent durations of each step of a tenant's
 * template, kept in one small document per tenant and template that is read by `_id`.
 *
 * Why not a query over `step_attempts` (`{ template, templateStep, status } sort endedAt -1 limit
 * 20`, as before): FerretDB v2 + DocumentDB answers a sort with a limit by reading every matching
 * index entry and sorting them (documentdb/documentdb#191, and its explain: Limit → Sort → Index
 * Scan), so that query grew with the template's history — 3 ms per step at 1,000 attempts, 22 ms
 * at 80,000 — and a 20-step template's ETA cost ~0.5 s after a few thousand runs (BENCHMARKS.md,
 * "Pipelines": the run rate of a long soak fell as its history grew). Here a run that ends adds its
 * steps' durations with one single-document update, and an ETA is one `_id` read whatever the
 * history.
 */
export class StepDurations {
  private readonly durations: Collection<Doc>;

  constructor(
    private readonly db: Db,
    private readonly attempts: StepAttemptRepository,
  ) {
    this.durations = db.collection<Doc>('step_durations');
  }

  /**
   * Adds the durations (ms) of the attempts whose results `run` took (its `succeeded` attempts) to
   * its template's record, keeping the newest {@link DURATIONS_PER_STEP} per step: a read of the
   * run's attempts (index `run_started`), a read of the record by `_id` and one `$set` (upsert) —
   * no `$push` with `$slice`, which FerretDB v1 lacks. Advisory data: two runs of a template
   * ending at the same moment may keep only one run's durations (the last write wins).
   */
  async record(run: RunRecord, options: { waitMs?: number; pollMs?: number } = {}): Promise<void> {
    // The attempt whose result ended the run records its own end in parallel with that commit:
    // wait (up to waitMs) until every attempt the run took shows its duration.
    const taken = new Set([...Object.values(run.snapshot.context.steps), ...run.snapshot.context.spawned].map((s) => s.attemptId).filter((id): id is string => !!id));
    const until = Date.now() + (options.waitMs ?? 5000);
    let attempts = await this.attempts.listForRun(run.id);
    while (attempts.some((a) => taken.has(a.id) && typeof a.durationMs !== 'number') && Date.now() < until) {
      await new Promise((r) => setTimeout(r, options.pollMs ?? 100));
      attempts = await this.attempts.listForRun(run.id);
    }
    const bySteps = new Map<string, number[]>();
    for (const a of attempts) {
      if (a.status !== 'succeeded' || typeof a.durationMs !== 'number') continue;
      const list = bySteps.get(a.templateStep) ?? [];
      list.push(a.durationMs);
      bySteps.set(a.templateStep, list);
    }
    if (!bySteps.size) return;
    const _id = key(run.tenantId, run.template.name);
    const current = (await this.durations.findOne({ _id }))?.steps ?? {};
    const set: Record<string, unknown> = { updatedAt: new Date() };
    for (const [step, ds] of bySteps) set[`steps.${step}`] = [...(current[step] ?? []), ...ds].slice(-DURATIONS_PER_STEP);
    await this.durations.updateOne({ _id }, { $set: set }, { upsert: true });
  }

  /** Creates the collection (its `_id` index is the only one it needs). Idempotent. */
  async ensureCollection(): Promise<void> {
    try {
      await this.db.createCollection('step_durations');
    } catch (e) {
      if (!(e instanceof MongoServerError && e.code === 48)) throw e; // NamespaceExists
    }
  }

  /** The lower median (ms) of each of `steps`' recent durations; steps without any are absent. */
  async medians(tenantId: string, template: string, steps: string[]): Promise<Record<string, number>> {
    const doc = await this.durations.findOne({ _id: key(tenantId, template) });
    const out: Record<string, number> = {};
    for (const step of steps) {
      const ds = [...(doc?.steps[step] ?? [])].sort((a, b) => a - b);
      if (ds.length) out[step] = ds[Math.floor((ds.length - 1) / 2)];
    }
    return out;
  }
}

function key(tenantId: string, template: string): string {
  return `${tenantId}:${template}`;
}

/**
 * Records each run's step durations when it ends (the commit that leaves `running`, seen once: the
 * compare-and-set has one winner), in the background; a failure is logged and costs only ETA input.
 */
export function recordDurationsAtEnd(engine: RunEngine, durations: StepDurations): void {
  const log = new Logger(StepDurations.name);
  engine.onChange((before, after) => {
    if (before?.status !== 'running' || after.status === 'running') return;
    durations.record(after).catch((e: unknown) => log.warn(`run ${after.id}: step durations not recorded: ${e instanceof Error ? e.message : String(e)}`));
  });
}
