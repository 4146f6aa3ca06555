import { Inject, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '../config/config';
import type { Stage } from '../lifecycle/job.types';
import type { StageProcessor } from './stage.processors';

export const SERVED_STAGES = Symbol('SERVED_STAGES');
export const STAGE_PROCESSOR_INSTANCES = Symbol('STAGE_PROCESSOR_INSTANCES');

/** Applies per-stage concurrency from config to this process's workers and starts them. */
@Injectable()
export class WorkerLauncher implements OnApplicationBootstrap {
  private readonly log = new Logger(WorkerLauncher.name);

  constructor(
    @Inject(STAGE_PROCESSOR_INSTANCES) private readonly processors: StageProcessor[],
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  concurrency(stage: Stage): number {
    const c = this.config;
    return { planning: c.CONCURRENCY_PLANNING, coding: c.CONCURRENCY_CODING, reviewing: c.CONCURRENCY_REVIEWING, 'pr-open': c.CONCURRENCY_PR_OPEN }[stage];
  }

  onApplicationBootstrap(): void {
    for (const p of this.processors) {
      const worker = p.worker;
      worker.concurrency = this.concurrency(p.stage);
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
}
