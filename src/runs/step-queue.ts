import { InjectQueue } from '@nestjs/bullmq';
import { Injectable } from '@nestjs/common';
import type { Queue } from 'bullmq';
import { DependencyUnavailableError } from '../jobs/job.errors';
import { withTimeout } from '../queues/redis-connection';
import type { TemplateVersion } from './mongo-template.repository';
import type { StepMessageOptions, StepMessages, StepToRun } from './run-engine';
import type { RunRecord } from './run.record';

/** BullMQ queue of pipeline step messages. */
export const STEP_QUEUE = 'pipeline-steps';

/** A message asking a step worker to run one visit of one step of a run. */
export interface StepMessage {
  runId: string;
  tenantId: string;
  step: string;
  templateStep: string;
  visit: number;
  /** Attempts of this visit made in process before the message was sent (a continued step that failed); absent = 0. */
  attemptsBefore?: number;
  /** Sent by a repair (the sweeper): the worker checks for a live or orphaned earlier execution first. */
  recovery?: boolean;
}

/** Deterministic message id: one message per (run, step, visit); BullMQ drops a duplicate add. */
export function stepMessageId(m: Pick<StepMessage, 'runId' | 'step' | 'visit'>): string {
  return `${m.runId}-${m.step}-v${m.visit}`;
}

/**
 * {@link StepMessages} on BullMQ: attempts and exponential backoff from the step's `retries`
 * (`backoffMs × 2^(attempt-1)`, BullMQ's `exponential` backoff).
 */
@Injectable()
export class BullStepMessages implements StepMessages {
  constructor(@InjectQueue(STEP_QUEUE) readonly queue: Queue<StepMessage>) {
    queue.on('error', () => undefined); // ioredis reconnects by itself; a failed add throws below
  }

  /** @throws DependencyUnavailableError when Redis does not answer within 3 s. */
  async send(run: RunRecord, template: TemplateVersion, steps: StepToRun[], options: StepMessageOptions = {}): Promise<void> {
    const before = options.attemptsBefore ?? 0;
    const jobs = steps.map((s) => {
      const def = template.template.steps.find((d) => d.id === s.templateStep)!;
      const data: StepMessage = {
        runId: run.id, tenantId: run.tenantId, step: s.step, templateStep: s.templateStep, visit: s.visit,
        ...(before > 0 ? { attemptsBefore: before } : {}), ...(options.recovery ? { recovery: true } : {}),
      };
      return {
        name: s.step,
        data,
        opts: {
          jobId: stepMessageId(data),
          attempts: Math.max(1, def.retries.attempts - before),
          ...(options.delayMs ? { delay: options.delayMs } : {}),
          backoff: { type: 'exponential', delay: def.retries.backoffMs },
          removeOnComplete: { age: 24 * 3600, count: 50_000 },
          removeOnFail: { age: 7 * 24 * 3600 },
        },
      };
    });
    try {
      await withTimeout(this.queue.addBulk(jobs), 3000, 'redis');
    } catch (e) {
      throw new DependencyUnavailableError('redis', e instanceof Error ? e.message : String(e));
    }
  }
}
