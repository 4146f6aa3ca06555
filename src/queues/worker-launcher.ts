import { BeforeApplicationShutdown, Inject, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { RunningCalls } from './cancellation';
import { APP_CONFIG, type AppConfig } from '../config/config';
import type { Stage } from '../lifecycle/job.types';
import type { StageProcessor } from './stage.processors';

export const SERVED_STAGES = Symbol('SERVED_STAGES');
export const STAGE_PROCESSOR_INSTANCES = Symbol('STAGE_PROCESSOR_INSTANCES');

/**
 * Applies per-stage concurrency and the lock/stalled settings from config to this process's
 * workers and starts them. On shutdown (SIGTERM with `enableShutdownHooks`) the workers stop
 * taking messages, running calls get SHUTDOWN_GRACE_MS to finish, then are aborted and their
 * messages released (moved back without spending an attempt) for another worker.
 */
@Injectable()
export class WorkerLauncher implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly log = new Logger(WorkerLauncher.name);

  constructor(
    @Inject(STAGE_PROCESSOR_INSTANCES) private readonly processors: StageProcessor[],
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly running: RunningCalls,
  ) {}

  concurrency(stage: Stage): number {
    const c = this.config;
    return { planning: c.CONCURRENCY_PLANNING, coding: c.CONCURRENCY_CODING, reviewing: c.CONCURRENCY_REVIEWING, 'pr-open': c.CONCURRENCY_PR_OPEN }[stage];
  }

  onApplicationBootstrap(): void {
    for (const p of this.processors) {
      const worker = p.worker;
      worker.concurrency = this.concurrency(p.stage);
      // The decorator's options are static; lock settings come from config, applied before run().
      worker.opts.lockDuration = this.config.WORKER_LOCK_DURATION_MS;
      worker.opts.lockRenewTime = Math.floor(this.config.WORKER_LOCK_DURATION_MS / 2);
      worker.opts.stalledInterval = this.config.WORKER_STALLED_INTERVAL_MS;
      worker.opts.maxStalledCount = this.config.WORKER_MAX_STALLED_COUNT;
      (worker as unknown as { createLockManager(): void }).createLockManager();
      let last = 0;
      worker.on('error', (e) => {
        if (Date.now() - last < 5000) return; // ioredis reconnects by itself; say so once per 5 s
        last = Date.now();
        this.log.warn(`worker ${p.stage}: ${e.message}`);
      });
      void worker.run().catch((e: unknown) => this.log.error(`worker ${p.stage} stopped: ${String(e)}`));
    }
    if (this.processors.length) {
      this.log.log(`workers running for stages: ${this.processors.map((p) => `${p.stage}×${p.worker.concurrency}`).join(', ')}`);
    }
  }

  async beforeApplicationShutdown(signal?: string): Promise<void> {
    if (!this.processors.length) return;
    this.running.closing = true;
    this.log.log(`shutting down (${signal ?? 'close'}): no new messages; running calls have ${this.config.SHUTDOWN_GRACE_MS} ms`);
    const timer = setTimeout(() => {
      const n = this.running.abortAll('worker shutting down');
      if (n) this.log.warn(`aborted ${n} running call(s); their messages are released`);
    }, this.config.SHUTDOWN_GRACE_MS);
    try {
      await Promise.all(this.processors.map((p) => p.worker.close()));
    } finally {
      clearTimeout(timer);
    }
  }
}
