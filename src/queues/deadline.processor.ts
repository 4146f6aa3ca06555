import { Processor, WorkerHost } from '@nestjs/bullmq';
import { Inject, Logger, OnApplicationBootstrap } from '@nestjs/common';
import type { Job } from 'bullmq';
import { APP_CONFIG, type AppConfig } from '../config/config';
import { IllegalEventError } from '../lifecycle/job.runtime';
import { JobRepository } from '../jobs/job.repository';
import { JobsService } from '../jobs/jobs.service';
import type { DeadlineMessage } from '../jobs/stage-dispatcher.port';
import { DEADLINE_QUEUE } from './stage-queues';

/**
 * Fires a job's deadline (JOB_DEADLINE_MS after submission): a job not yet COMPLETED, FAILED or
 * CANCELLED receives MARK_FAILED with code JOB_DEADLINE_EXCEEDED through the usual CAS commit,
 * and its running agent call is aborted in whichever process runs it. The deadline is a delayed
 * BullMQ message (not an XState `after` timer, which is not persisted), so it fires as soon as a
 * worker is alive, even if none was at that moment.
 */
@Processor(DEADLINE_QUEUE, { autorun: false })
export class DeadlineProcessor extends WorkerHost implements OnApplicationBootstrap {
  private readonly log = new Logger(DeadlineProcessor.name);

  constructor(
    private readonly jobs: JobsService,
    private readonly repository: JobRepository,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {
    super();
  }

  onApplicationBootstrap(): void {
    let last = 0;
    this.worker.on('error', (e) => {
      if (Date.now() - last < 5000) return; // ioredis reconnects by itself; say so once per 5 s
      last = Date.now();
      this.log.warn(`deadline worker: ${e.message}`);
    });
    void this.worker.run().catch((e: unknown) => this.log.error(`deadline worker stopped: ${String(e)}`));
  }

  async process(message: Job<DeadlineMessage>): Promise<'failed-job' | 'noop'> {
    const job = await this.repository.findById(message.data.jobId);
    if (!job || ['COMPLETED', 'CANCELLED', 'FAILED'].includes(job.state)) return 'noop';
    try {
      await this.jobs.sendSystem(job.id, {
        type: 'MARK_FAILED',
        error: {
          code: 'JOB_DEADLINE_EXCEEDED',
          message: `job did not finish within JOB_DEADLINE_MS (${this.config.JOB_DEADLINE_MS} ms) of submission`,
          stage: 'lifecycle',
        },
      }, { kind: 'deadline', id: 'JOB_DEADLINE_MS' });
      this.log.warn(`job ${job.id} exceeded its deadline in ${job.state}`);
      return 'failed-job';
    } catch (e) {
      if (e instanceof IllegalEventError) return 'noop'; // finished meanwhile
      throw e;
    }
  }
}
