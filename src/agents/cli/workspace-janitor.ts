import { Inject, Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy, Optional } from '@nestjs/common';
import { IntervalTask } from '../../common/interval-task';
import { APP_CONFIG, type AppConfig } from '../../config/config';
import { JobRepository } from '../../jobs/job.repository';
import { FINAL_STATES } from '../../lifecycle/job.types';
import { WorkspaceManager } from '../../workspaces';

/** What one janitor pass did. */
export interface JanitorReport {
  /** Worktrees on this host. */
  present: number;
  /** Removed: their job is in a final state (COMPLETED, CANCELLED) or gone. */
  removed: number;
}

/**
 * Removes the worktrees (and local branches) of jobs that reached a final state, on this worker's
 * disk, every SWEEP_INTERVAL_MS — whichever process committed the final state (a cancel arrives
 * through the API process). A FAILED job keeps its worktree: RETRY resumes in it.
 */
@Injectable()
export class WorkspaceJanitor implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly log = new Logger(WorkspaceJanitor.name);
  private readonly task = new IntervalTask(
    async () => {
      const r = await this.sweep();
      if (r.removed) this.log.log(`removed ${r.removed} worktree(s) of finished jobs`);
    },
    (e) => this.log.warn(`workspace janitor failed: ${e instanceof Error ? e.message : String(e)}`),
  );

  constructor(
    private readonly jobs: JobRepository,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Optional() private readonly workspaces?: WorkspaceManager,
  ) {}

  onApplicationBootstrap(): void {
    if (this.workspaces) this.task.start(this.config.SWEEP_INTERVAL_MS);
  }

  onModuleDestroy(): void {
    this.task.stop();
  }

  /** One pass. @throws when MongoDB or git fail. */
  async sweep(): Promise<JanitorReport> {
    if (!this.workspaces) return { present: 0, removed: 0 };
    const ids = await this.workspaces.listJobIds();
    let removed = 0;
    for (const id of ids) {
      const job = await this.jobs.findById(id);
      if (job && !FINAL_STATES.includes(job.state)) continue;
      const issue = Number(job?.snapshot.context.issue.id);
      await this.workspaces.remove(id, { deleteBranch: true, ...(issue > 0 ? { issueNumber: issue } : {}) });
      removed++;
    }
    return { present: ids.length, removed };
  }
}
