import { Inject, Injectable, Logger } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '../config/config';
import { applyEvent, acceptedEvents, createJobSnapshot, JOB_MACHINE_VERSION } from '../lifecycle/job.runtime';
import type { Issue, JobBudget, JobEvent, JobEventType, JobState, TransitionActor, TransitionRecord } from '../lifecycle/job.types';
import { TenantRepository } from '../tenants/tenant.repository';
import { branchName } from '../workspaces/branch-name';
import { upgradeSnapshot } from '../lifecycle/snapshot-migrations';
import { ConcurrentUpdateError, JobNotFoundError } from './job.errors';
import type { JobListQuery, JobPage, JobRecord } from './job.record';
import { JobRepository, type JobCountQuery } from './job.repository';
import { newJobId } from './job-id';
import { CancellationBus, StageDispatcher } from './stage-dispatcher.port';

/** What a submission carries (REST body or webhook mapping). */
export interface SubmitJob {
  repositoryId: string;
  issue: Issue;
  /** Repeat submissions with the same key return the first job. Default: a fresh UUID. */
  idempotencyKey?: string;
}

const CAS_RETRIES = 5;

/**
 * Use cases on jobs: submit, read, list and send events. Every change is a compare-and-set
 * commit through {@link JobRepository}; a change that enters a stage is followed by a stage
 * message through {@link StageDispatcher} (a crash in between is repaired by the sweeper).
 */
@Injectable()
export class JobsService {
  private readonly log = new Logger(JobsService.name);

  constructor(
    private readonly jobs: JobRepository,
    private readonly dispatcher: StageDispatcher,
    private readonly cancellation: CancellationBus,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly tenants: TenantRepository,
  ) {}

  /**
   * Creates a job in QUEUED and asks for planning. A repeat with the same idempotency key
   * returns the existing job (`created: false`) and changes nothing.
   * @throws DependencyUnavailableError when Redis or MongoDB is down.
   */
  async submit(tenantId: string, input: SubmitJob): Promise<{ job: JobRecord; created: boolean }> {
    const id = newJobId(tenantId, input.idempotencyKey);
    const initial = createJobSnapshot({
      jobId: id,
      tenantId,
      repositoryId: input.repositoryId,
      issue: input.issue,
      limits: { maxReviewRounds: this.config.MAX_REVIEW_ROUNDS, autoComplete: this.config.AUTO_COMPLETE, budget: await this.budgetOf(tenantId) },
    });
    await this.dispatcher.ping();
    const now = new Date();
    const result = await this.jobs.create({
      id,
      tenantId,
      idempotencyKey: input.idempotencyKey ?? id,
      repositoryId: input.repositoryId,
      branch: /^\d{1,15}$/.test(input.issue.id) && Number(input.issue.id) > 0 ? branchName(Number(input.issue.id), id) : null,
      state: initial.state,
      version: 0,
      machineVersion: JOB_MACHINE_VERSION,
      snapshot: initial.snapshot,
      history: [],
      error: null,
      createdAt: now,
      updatedAt: now,
    });
    // Also for a repeat: the dispatch is idempotent and repairs a submission that crashed here.
    await this.dispatcher.dispatch(result.job);
    if (this.config.JOB_DEADLINE_MS > 0) {
      await this.dispatcher.scheduleDeadline(result.job, new Date(result.job.createdAt.getTime() + this.config.JOB_DEADLINE_MS));
    }
    return result;
  }

  /**
   * The budget a new job of the tenant gets: the tenant's setting, else JOB_BUDGET_USD /
   * JOB_BUDGET_TOKENS; 0 means no limit (null).
   */
  async budgetOf(tenantId: string): Promise<JobBudget> {
    const settings = (await this.tenants.findById(tenantId))?.settings;
    const usd = settings?.budgetUsd ?? this.config.JOB_BUDGET_USD;
    const tokens = settings?.budgetTokens ?? this.config.JOB_BUDGET_TOKENS;
    return { usd: usd > 0 ? usd : null, tokens: tokens > 0 ? tokens : null };
  }

  /** @throws JobNotFoundError when the job does not exist for this tenant. */
  async get(tenantId: string, id: string): Promise<JobRecord> {
    const job = await this.jobs.findForTenant(tenantId, id);
    if (!job) throw new JobNotFoundError(id);
    return job;
  }

  /** The job working on a branch of a repository (any tenant: for webhooks), or null. */
  findByBranch(repositoryId: string, branch: string): Promise<JobRecord | null> {
    return this.jobs.findByBranch(repositoryId, branch);
  }

  list(tenantId: string, query: JobListQuery): Promise<JobPage> {
    return this.jobs.list(tenantId, query);
  }

  /** The tenant's jobs matching the filters, per state (states with none absent). */
  countByState(tenantId: string, query: JobCountQuery): Promise<Partial<Record<JobState, number>>> {
    return this.jobs.countByState(tenantId, query);
  }

  /** External event types the job accepts now (asked of the statechart). */
  acceptedFor(job: JobRecord): JobEventType[] {
    return acceptedEvents(upgradeSnapshot(job.machineVersion, job.snapshot));
  }

  /**
   * Sends an external event to the job's statechart and commits the result.
   * @throws JobNotFoundError, IllegalEventError (not accepted in the current state),
   *   UnknownMachineVersionError, ConcurrentUpdateError, DependencyUnavailableError.
   */
  send(tenantId: string, id: string, event: JobEvent, actor: TransitionActor): Promise<JobRecord> {
    return this.sendTo(() => this.get(tenantId, id), event, actor);
  }

  /**
   * Sends an event on the system's behalf (deadline watchdog), whatever the tenant.
   * @throws as {@link JobsService.send}.
   */
  sendSystem(id: string, event: JobEvent, actor: TransitionActor): Promise<JobRecord> {
    return this.sendTo(
      async () => {
        const job = await this.jobs.findById(id);
        if (!job) throw new JobNotFoundError(id);
        return job;
      },
      event,
      actor,
    );
  }

  private async sendTo(load: () => Promise<JobRecord>, event: JobEvent, actor: TransitionActor): Promise<JobRecord> {
    let job = await load();
    for (let i = 0; i < CAS_RETRIES; i++, job = await load()) {
      const advance = applyEvent(upgradeSnapshot(job.machineVersion, job.snapshot), event);
      const at = new Date().toISOString();
      const transitions: TransitionRecord[] = advance.transitions.map((t) => ({ ...t, at, attempt: 0, actor }));
      const committed = await this.jobs.commit(job, {
        state: advance.state,
        snapshot: advance.snapshot,
        machineVersion: JOB_MACHINE_VERSION,
        error: advance.context.error,
        transitions,
      });
      if (!committed) continue; // a worker committed first: re-read and re-apply
      if (event.type === 'MARK_CANCELLED' || event.type === 'MARK_FAILED') {
        await this.cancellation.publish(job.id, committed.version).catch((e: unknown) => this.log.warn(`cancel publish failed for ${job.id}: ${String(e)}`));
      }
      await this.dispatcher.dispatch(committed);
      return committed;
    }
    throw new ConcurrentUpdateError(job.id);
  }
}
