/**
 * The pipeline runs' runtime: create a run, and apply an event to it — read the run, rehydrate its
 * statechart from the persisted snapshot, send the event, commit with compare-and-set (retrying
 * on a lost race), then act on what the commit changed: send the messages of the steps that
 * entered `running`, abort the processes of a run that left `running`, pause a template after
 * consecutive failures, and publish the change on the tenant's event stream.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Logger } from '@nestjs/common';
import type { EventObject } from 'xstate';
import { PIPELINE_COMPILER_VERSION, type PipelineMachine } from '../pipelines/pipeline.compiler';
import { EXTERNAL_PIPELINE_EVENTS, type PipelineContext, type PipelineEvent, type PipelineInput, type RunStatus } from '../pipelines/pipeline.types';
import { diffRunEvents, runStatusOf, type RunActor } from '../pipelines/run-events';
import { advanceEach, createPersisted } from '../runtime/persisted-actor';
import type { CancellationBus } from '../jobs/stage-dispatcher.port';
import type { MongoRunRepository } from './mongo-run.repository';
import type { MongoTemplateRepository, TemplateVersion } from './mongo-template.repository';
import type { PipelineMachines } from './pipeline-machines';
import { PipelineNotFoundError, RunBusyError, TemplateQuarantinedError } from './run.errors';
import type { RunRecord } from './run.record';

/** A step that entered `running` and needs its message. */
export interface StepToRun {
  step: string;
  templateStep: string;
  visit: number;
}

/** How step messages are sent: see {@link StepMessages.send}. */
export interface StepMessageOptions {
  /** Attempts of the step visit already made in process (a continued step that failed); the message gets the rest of the step's `retries.attempts`. */
  attemptsBefore?: number;
  /** Delay before the message can run, ms (a retry's backoff). */
  delayMs?: number;
  /** A repair (the sweeper, a stale redelivery): the worker checks for a live or orphaned earlier execution first. */
  recovery?: boolean;
}

/** Sends step messages (BullMQ in the app). Idempotent: one message per (run, step, visit). */
export interface StepMessages {
  send(run: RunRecord, template: TemplateVersion, steps: StepToRun[], options?: StepMessageOptions): Promise<void>;
}

/** Hears every committed change of a run (the tenant event stream, metrics). */
export type RunListener = (before: RunRecord | null, after: RunRecord) => void;

const MAX_CAS_TRIES = 50;
/** Runs whose last committed record this process keeps (tried before a read; a stale one only loses the CAS). */
const RECENT_RUNS = 1000;

/** One caller's event waiting for its run's next group commit. */
interface QueuedEvent {
  tenantId: string | undefined;
  event: PipelineEvent;
  actor: RunActor;
  strict: boolean;
  hold: boolean;
  resolve(r: SendResult): void;
  reject(e: unknown): void;
}

/** What {@link RunEngine.send} gives its caller. */
export interface SendResult {
  run: RunRecord;
  accepted: boolean;
  held: StepToRun | null;
}

export class RunEngine {
  private readonly log = new Logger(RunEngine.name);
  private readonly listeners = new Set<RunListener>();
  /** Template versions by `owner/name@version`: a stored version never changes (a change is a new version). */
  private readonly versions = new Map<string, TemplateVersion>();
  /** Events waiting for their run's group commit, by run id; a key is present while its commit loop runs. */
  private readonly queued = new Map<string, QueuedEvent[]>();
  /** The last record this process committed, by run id (see RECENT_RUNS). */
  private readonly recent = new Map<string, RunRecord>();

  constructor(
    private readonly runs: MongoRunRepository,
    private readonly templates: MongoTemplateRepository,
    private readonly machines: PipelineMachines,
    private readonly messages: StepMessages,
    private readonly cancellation: CancellationBus,
  ) {}

  onChange(listener: RunListener): void {
    this.listeners.add(listener);
  }

  /** The template version a run runs, and its machine. @throws PipelineNotFoundError when it was deleted. */
  async templateOf(run: Pick<RunRecord, 'template'>): Promise<{ template: TemplateVersion; machine: PipelineMachine }> {
    const t = run.template;
    const key = `${t.owner}/${t.name}@${t.version}`;
    let found = this.versions.get(key);
    if (!found) {
      found = (await this.templates.versions(t.owner, t.name)).find((v) => v.version === t.version);
      if (found) {
        if (this.versions.size >= 1000) this.versions.delete(this.versions.keys().next().value!); // oldest first
        this.versions.set(key, found);
      }
    }
    if (!found) throw new PipelineNotFoundError('TEMPLATE_NOT_FOUND', `template ${t.name}@${t.version} not found`);
    return { template: found, machine: this.machines.get(found.owner, found.template, found.version) };
  }

  /**
   * Creates a run of `name` (latest version unless `version`) with `inputs`, and starts it.
   * @throws PipelineNotFoundError TEMPLATE_NOT_FOUND; TemplateQuarantinedError.
   */
  async create(tenantId: string, name: string, version: number | undefined, inputs: Record<string, unknown>, actor: RunActor): Promise<RunRecord> {
    const tv = await this.templates.resolve(tenantId, name, version);
    if (!tv) throw new PipelineNotFoundError('TEMPLATE_NOT_FOUND', `template ${name}${version !== undefined ? `@${version}` : ''} not found`);
    const paused = await this.pauseIfFailing(tenantId, name, tv.template.quarantineAfterConsecutiveFailures);
    if (paused) throw new TemplateQuarantinedError(name, paused);
    const machine = this.machines.get(tv.owner, tv.template, tv.version);
    const t = tv.template;
    const input: PipelineInput = {
      runId: `run_${randomUUID()}`,
      tenantId,
      template: { name: t.name, version: tv.version },
      limits: { maxParallel: t.maxParallel, failFast: t.failFast, maxSpawnDepth: t.maxSpawnDepth, maxStepsPerRun: t.maxStepsPerRun, maxFailedAttempts: t.maxFailedAttempts },
      stepIds: t.steps.map((s) => s.id),
    };
    const created = createPersisted<PipelineContext>(machine, input);
    const now = new Date();
    const status = runStatusOf(created.value);
    const record: RunRecord = {
      id: input.runId,
      tenantId,
      template: { owner: tv.owner, name: t.name, version: tv.version },
      status,
      version: 0,
      machineVersion: PIPELINE_COMPILER_VERSION,
      snapshot: created.snapshot as RunRecord['snapshot'],
      inputs: structuredClone(inputs),
      events: diffRunEvents(null, { status, context: created.context }, 'CREATE', actor, 1, now),
      createdAt: now,
      updatedAt: now,
      startedAt: null,
      endedAt: null,
    };
    await this.runs.create(record);
    for (const l of this.listeners) l(null, record);
    return (await this.send(record.id, tenantId, { type: 'START' }, actor)).run;
  }

  /**
   * Applies `event` to the run, committing with compare-and-set and retrying on a lost race.
   * Events sent to one run while its commit is in flight in this process are committed together
   * in the next one (a group commit: one read, one rehydration, one write for all of them; each
   * caller still gets its own answer, and the audit names each event).
   * @param options.strict true for events from people (REST): an event the run does not accept
   *   throws EventNotAcceptedError (409). Workers send with strict false: an event the run no
   *   longer accepts (a late or duplicate report) is dropped, `accepted: false`.
   * @param options.hold true for a worker that may continue in process (the stage runner): one of
   *   the steps the commit started is not sent but returned as `held` — the caller runs it or
   *   sends it ({@link sendMessages}); if the caller dies first, the sweeper sends it.
   * @throws PipelineNotFoundError RUN_NOT_FOUND (also for another tenant's run); RunBusyError.
   */
  send(runId: string, tenantId: string | undefined, event: PipelineEvent, actor: RunActor, options: { strict?: boolean; hold?: boolean } = {}): Promise<SendResult> {
    return new Promise<SendResult>((resolve, reject) => {
      const item: QueuedEvent = { tenantId, event, actor, strict: options.strict ?? true, hold: options.hold ?? false, resolve, reject };
      const waiting = this.queued.get(runId);
      if (waiting) {
        waiting.push(item); // a commit of this run is in flight: this event goes in the next one
        return;
      }
      this.queued.set(runId, [item]);
      void this.commitLoop(runId);
    });
  }

  /** Commits the run's queued events, group by group, until none is left. */
  private async commitLoop(runId: string): Promise<void> {
    for (;;) {
      const group = this.queued.get(runId) ?? [];
      if (group.length === 0) {
        this.queued.delete(runId);
        return;
      }
      this.queued.set(runId, []);
      try {
        await this.commitGroup(runId, group);
      } catch (e) {
        for (const item of group) item.reject(e);
      }
    }
  }

  /** One group commit (see {@link send}); settles every item of `group`. */
  private async commitGroup(runId: string, group: QueuedEvent[]): Promise<void> {
    for (let tries = 0; tries < MAX_CAS_TRIES; tries++) {
      const cached = tries === 0 ? this.recent.get(runId) : undefined;
      const run = cached ?? (await this.runs.findById(runId));
      const mine = group.filter((item) => run && (item.tenantId === undefined || item.tenantId === run.tenantId));
      for (const item of group) if (!mine.includes(item)) item.reject(new PipelineNotFoundError('RUN_NOT_FOUND', `run ${runId} not found`));
      if (!run || mine.length === 0) return;
      group = mine;
      const { template, machine } = await this.templateOf(run);
      const { results, final } = advanceEach<PipelineContext>(machine, run.snapshot, group.map((i) => i.event as EventObject), { stateName: (v) => runStatusOf(v), candidates: candidateEvents(run) });
      // The audit: each accepted event's changes, diffed against the state before it.
      const now = new Date();
      const events: RunRecord['events'] = [];
      let before = { status: run.status, context: run.snapshot.context };
      results.forEach((r, i) => {
        if (!r.accepted) return;
        const after = { status: runStatusOf(r.value), context: r.context };
        events.push(...diffRunEvents(before, after, group[i].event.type, group[i].actor, run.events.length + events.length + 1, now));
        before = after;
      });
      if (cached && results.some((r) => !r.accepted)) {
        // A refusal is only decided on a fresh read: the cached record may be behind the store.
        this.recent.delete(runId);
        continue;
      }
      const settleRefused = () =>
        results.forEach((r, i) => {
          if (r.accepted) return;
          if (group[i].strict) group[i].reject(r.refused);
          else group[i].resolve({ run, accepted: false, held: null });
        });
      if (!results.some((r) => r.accepted)) {
        settleRefused();
        return;
      }
      const committed = await this.runs.commit(run, { status: runStatusOf(final.value), snapshot: final.snapshot as RunRecord['snapshot'], machineVersion: PIPELINE_COMPILER_VERSION, events });
      if (!committed) {
        this.recent.delete(runId);
        await sleep(Math.floor(Math.random() * Math.min(50, 2 ** tries)));
        continue;
      }
      this.remember(committed);
      const holders = group.filter((item, i) => item.hold && results[i].accepted).length;
      const held = await this.afterCommit(run, committed, template, holders);
      settleRefused();
      results.forEach((r, i) => {
        if (r.accepted) group[i].resolve({ run: committed, accepted: true, held: group[i].hold ? (held.shift() ?? null) : null });
      });
      return;
    }
    throw new RunBusyError(runId);
  }

  /**
   * The run as this process last committed it, if it did (may be behind the store: use it only
   * for what an older version cannot get wrong, e.g. that a step visit was started).
   */
  recentRun(runId: string): RunRecord | undefined {
    return this.recent.get(runId);
  }

  private remember(run: RunRecord): void {
    this.recent.delete(run.id);
    if (run.status !== 'running' && run.status !== 'pending') return; // nothing more will be sent to it, most likely
    if (this.recent.size >= RECENT_RUNS) this.recent.delete(this.recent.keys().next().value!);
    this.recent.set(run.id, run);
  }

  /** Steps that entered `running` (or started a new visit) in this commit. */
  static stepsStarted(before: RunRecord | null, after: RunRecord): StepToRun[] {
    if (after.status !== 'running') return [];
    const out: StepToRun[] = [];
    const b = before?.status === 'running' ? before.snapshot.context : null;
    for (const [id, s] of Object.entries(after.snapshot.context.steps)) {
      const old = b?.steps[id];
      if (s.status === 'running' && (!old || old.status !== 'running' || old.visit !== s.visit)) out.push({ step: id, templateStep: id, visit: s.visit });
    }
    for (const s of after.snapshot.context.spawned) {
      const old = b?.spawned.find((x) => x.id === s.id);
      if (s.status === 'running' && (!old || old.status !== 'running' || old.visit !== s.visit)) out.push({ step: s.id, templateStep: s.templateStep, visit: s.visit });
    }
    return out;
  }

  /**
   * Re-sends the messages of every step the run has in `running` (idempotent: one message id per
   * step visit). The sweeper's repair for a run whose commit landed but whose messages were not sent.
   */
  async resend(run: RunRecord): Promise<number> {
    const steps = RunEngine.stepsStarted(null, run);
    if (steps.length) await this.messages.send(run, (await this.templateOf(run)).template, steps, { recovery: true });
    return steps.length;
  }

  /** Sends the messages of `steps` of `run` (a held step a worker did not continue with). */
  async sendMessages(run: RunRecord, steps: StepToRun[], options?: StepMessageOptions): Promise<void> {
    if (steps.length) await this.messages.send(run, (await this.templateOf(run)).template, steps, options);
  }

  /** Acts on a commit (see the file comment). @returns up to `holds` started steps held back (see {@link send}). */
  private async afterCommit(before: RunRecord, after: RunRecord, template: TemplateVersion, holds: number): Promise<StepToRun[]> {
    for (const l of this.listeners) l(before, after);
    const started = RunEngine.stepsStarted(before, after);
    const held = started.splice(0, holds);
    if (started.length) await this.messages.send(after, template, started);
    if (before.status === 'running' && after.status !== 'running') {
      // Canceled, quarantined or ended: kill whatever of this run still runs, in every process.
      await this.cancellation.publish(after.id, after.version).catch((e: unknown) => this.log.warn(`run ${after.id}: cancellation not published: ${String(e)}`));
    }
    const n = template.template.quarantineAfterConsecutiveFailures;
    if (n > 0 && before.status !== after.status && (after.status === 'failed' || after.status === 'quarantined')) {
      await this.pauseIfFailing(after.tenantId, after.template.name, n);
    }
    return held;
  }

  /**
   * The template's pause reason, pausing it first when its last `n` ended runs all failed or were
   * quarantined and the newest of them ended after its last release (Airflow's
   * max_consecutive_failed_dag_runs; `n` = 0 disables it). Called after a run's failing commit and
   * again on admission, so a pause the failing commit's process did not write (it died, or it has not
   * got there yet) still refuses the next run. @returns the reason, or null when not paused.
   */
  private async pauseIfFailing(tenantId: string, name: string, n: number): Promise<string | null> {
    const state = await this.templates.pauseState(tenantId, name);
    if (state.reason || n <= 0) return state.reason;
    const last = await this.runs.lastEnded(tenantId, name, n);
    if (last.length < n || !last.every((r) => r.status === 'failed' || r.status === 'quarantined')) return null;
    if (state.releasedAt && last[0].updatedAt <= state.releasedAt) return null;
    const reason = `the last ${n} runs failed or were quarantined (quarantineAfterConsecutiveFailures ${n}); last: ${last[0].id}`;
    await this.templates.pause(tenantId, name, reason);
    this.log.warn(`template ${name} of tenant ${tenantId} paused after ${n} consecutive failed runs`);
    return reason;
  }
}

/** Events a person could send now, for the 409's `acceptedEvents`. */
function candidateEvents(run: RunRecord): EventObject[] {
  const steps = Object.keys(run.snapshot.context.steps);
  return EXTERNAL_PIPELINE_EVENTS.flatMap((type): EventObject[] => (type === 'RETRY_STEP' ? steps.slice(0, 1).map((step) => ({ type, step })) : [{ type }]));
}

export const ACTIVE_RUN_STATUSES: readonly RunStatus[] = ['pending', 'running'];
