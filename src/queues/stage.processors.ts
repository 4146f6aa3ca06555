import { Processor, WorkerHost } from '@nestjs/bullmq';
import { Injectable } from '@nestjs/common';
import type { Job } from 'bullmq';
import type { Stage } from '../lifecycle/job.types';
import type { StageMessage } from '../jobs/stage-dispatcher.port';
import { JobStageWork, type StageResult } from './job-stage-work';
import { STAGE_QUEUE } from './stage-queues';

/**
 * Thin processors, one per stage queue. Workers are created with `autorun: false`;
 * {@link WorkerLauncher} applies concurrency and lock settings from config and starts them.
 */
@Injectable()
abstract class StageProcessor extends WorkerHost {
  abstract readonly stage: Stage;
  constructor(private readonly runner: JobStageWork) {
    super();
  }
  process(job: Job<StageMessage>, token?: string, signal?: AbortSignal): Promise<StageResult> {
    return this.runner.process(this.stage, job, token, signal);
  }
}

@Processor(STAGE_QUEUE.planning, { autorun: false })
export class PlanningProcessor extends StageProcessor {
  readonly stage = 'planning' as const;
}

@Processor(STAGE_QUEUE.coding, { autorun: false })
export class CodingProcessor extends StageProcessor {
  readonly stage = 'coding' as const;
}

@Processor(STAGE_QUEUE.reviewing, { autorun: false })
export class ReviewingProcessor extends StageProcessor {
  readonly stage = 'reviewing' as const;
}

@Processor(STAGE_QUEUE['pr-open'], { autorun: false })
export class PrOpenProcessor extends StageProcessor {
  readonly stage = 'pr-open' as const;
}

/** The processor class of every stage. A `Record<Stage, …>`: a stage without one does not compile. */
export const STAGE_PROCESSORS: Record<Stage, new (runner: JobStageWork) => StageProcessor> = {
  planning: PlanningProcessor,
  coding: CodingProcessor,
  reviewing: ReviewingProcessor,
  'pr-open': PrOpenProcessor,
};
export type { StageProcessor };
