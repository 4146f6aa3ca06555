import { InjectQueue } from '@nestjs/bullmq';
import { Inject, Injectable, Logger } from '@nestjs/common';
import type { Queue } from 'bullmq';
import { APP_CONFIG, type AppConfig } from '../config/config';
import type { Stage } from '../lifecycle/job.types';
import { DependencyUnavailableError } from '../jobs/job.errors';
import type { JobRecord } from '../jobs/job.record';
import { pendingStage } from '../jobs/pending-stage';
import { StageDispatcher, type DeadlineMessage, type DispatchOptions, type StageMessage } from '../jobs/stage-dispatcher.port';
import { withTimeout } from './redis-connection';
import { DEADLINE_QUEUE, STAGE_QUEUE, stageMessageId } from './stage-queues';

/** How long a producer waits for Redis before answering 503, ms. */
const REDIS_TIMEOUT_MS = 3000;

/** {@link StageDispatcher} on BullMQ: one queue per stage, attempts and exponential backoff from config. */
@Injectable()
export class BullStageDispatcher extends StageDispatcher {
  private readonly queues: Record<Stage, Queue<StageMessage>>;
  private readonly log = new Logger(BullStageDispatcher.name);

  constructor(
    @InjectQueue(STAGE_QUEUE.planning) planning: Queue<StageMessage>,
    @InjectQueue(STAGE_QUEUE.coding) coding: Queue<StageMessage>,
    @InjectQueue(STAGE_QUEUE.reviewing) reviewing: Queue<StageMessage>,
    @InjectQueue(STAGE_QUEUE['pr-open']) prOpen: Queue<StageMessage>,
    @InjectQueue(DEADLINE_QUEUE) private readonly deadlines: Queue<DeadlineMessage>,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {
    super();
    this.queues = { planning, coding, reviewing, 'pr-open': prOpen };
    for (const q of [...Object.values(this.queues), this.deadlines]) {
      q.on('error', (e: Error) => this.logConnectionError(q.name, e));
    }
  }

  private lastErrorLog = 0;

  /** Logs queue connection errors at most once per 5 s (ioredis reconnects by itself). */
  private logConnectionError(queue: string, e: Error): void {
    const now = Date.now();
    if (now - this.lastErrorLog < 5000) return;
    this.lastErrorLog = now;
    this.log.warn(`queue ${queue}: ${e.message} (reconnecting)`);
  }

  queue(stage: Stage): Queue<StageMessage> {
    return this.queues[stage];
  }

  /** Every queue this service uses: one per stage, then the deadline queue. */
  allQueues(): { stage: Stage | null; queue: Queue }[] {
    return [...(Object.entries(this.queues) as [Stage, Queue][]).map(([stage, queue]) => ({ stage, queue })), { stage: null, queue: this.deadlines as Queue }];
  }

  async dispatch(job: JobRecord, options: DispatchOptions = {}): Promise<StageMessage | null> {
    const stage = pendingStage(job);
    if (!stage) return null;
    const attemptsBefore = options.attemptsBefore ?? 0;
    const message: StageMessage = { jobId: job.id, tenantId: job.tenantId, stage, version: job.version };
    if (attemptsBefore > 0) message.attemptsBefore = attemptsBefore;
    try {
      await withTimeout(
        this.queues[stage].add(stage, message, {
          jobId: stageMessageId(job.id, stage, job.version) + (options.idSuffix ? `-${options.idSuffix}` : ''),
          attempts: Math.max(1, this.config.STAGE_ATTEMPTS - attemptsBefore),
          ...(options.delayMs ? { delay: options.delayMs } : {}),
          backoff: { type: 'exponential', delay: this.config.STAGE_BACKOFF_MS },
          removeOnComplete: { age: 24 * 3600, count: 10_000 },
          removeOnFail: false,
        }),
        REDIS_TIMEOUT_MS,
        'redis',
      );
    } catch (e) {
      throw new DependencyUnavailableError('redis', e);
    }
    return message;
  }

  async scheduleDeadline(job: Pick<JobRecord, 'id' | 'tenantId'>, at: Date): Promise<void> {
    try {
      await withTimeout(
        this.deadlines.add(
          'deadline',
          { jobId: job.id, tenantId: job.tenantId },
          {
            jobId: `${job.id}-deadline`,
            delay: Math.max(0, at.getTime() - Date.now()),
            attempts: 10,
            backoff: { type: 'exponential', delay: 1000 },
            removeOnComplete: true,
            removeOnFail: false,
          },
        ),
        REDIS_TIMEOUT_MS,
        'redis',
      );
    } catch (e) {
      throw new DependencyUnavailableError('redis', e);
    }
  }

  async ping(): Promise<void> {
    try {
      const client = (await withTimeout(this.queues.planning.backend.client, REDIS_TIMEOUT_MS, 'redis')) as unknown as {
        ping(): Promise<string>;
      };
      await withTimeout(client.ping(), REDIS_TIMEOUT_MS, 'redis');
    } catch (e) {
      throw new DependencyUnavailableError('redis', e);
    }
  }
}
