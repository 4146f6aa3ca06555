import { Injectable } from '@nestjs/common';
import type { Stage } from '../lifecycle/job.types';
import { BullStageDispatcher } from './bull-stage.dispatcher';
import { withTimeout } from './redis-connection';

/** Messages of one BullMQ queue per state (BullMQ's own counts, `Queue.getJobCounts`). */
export interface QueueDepth {
  /** BullMQ queue name. */
  name: string;
  /** The stage it carries; null for the deadline queue. */
  stage: Stage | null;
  /** Whether the queue is paused (BullMQ `Queue.isPaused`): waiting messages are not taken. */
  paused: boolean;
  counts: {
    waiting: number;
    active: number;
    delayed: number;
    prioritized: number;
    /** Messages that used up their attempts: the dead letters (kept: `removeOnFail: false`). */
    failed: number;
    /** Kept for 24 h / the last 10,000 (`removeOnComplete`). */
    completed: number;
  };
}

/** The depth of every queue of the service (the dashboard's queues page, `/queues`, metrics). */
@Injectable()
export class QueueDepths {
  constructor(private readonly dispatcher: BullStageDispatcher) {}

  /** @throws when Redis does not answer within 2 s. */
  async read(): Promise<QueueDepth[]> {
    return Promise.all(
      this.dispatcher.allQueues().map(async ({ stage, queue }) => {
        const [c, paused] = await withTimeout(
          Promise.all([queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'failed', 'completed'), queue.isPaused()]),
          2000,
          'redis',
        );
        return {
          name: queue.name,
          stage,
          paused,
          counts: { waiting: c.waiting ?? 0, active: c.active ?? 0, delayed: c.delayed ?? 0, prioritized: c.prioritized ?? 0, failed: c.failed ?? 0, completed: c.completed ?? 0 },
        };
      }),
    );
  }
}
