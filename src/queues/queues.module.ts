import { BullModule } from '@nestjs/bullmq';
import { DynamicModule, Module, Provider } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '../config/config';
import { jobMachine } from '../lifecycle/job.machine';
import { stageOfState, STAGES, type JobState, type Stage } from '../lifecycle/job.types';
import { CancellationBus, StageDispatcher } from '../jobs/stage-dispatcher.port';
import { BullStageDispatcher } from './bull-stage.dispatcher';
import { RedisCancellationBus, RunningCalls } from './cancellation';
import { RecentCommits } from './recent-commits';
import { redisOptionsFromUrl } from './redis-connection';
import { STAGE_PROCESSORS } from './stage.processors';
import { DEADLINE_QUEUE, STAGE_QUEUE } from './stage-queues';
import { StageCalls } from './stage-call';
import { JobStageWork } from './job-stage-work';
import { Sweeper } from './sweeper';
import { SERVED_STAGES, STAGE_PROCESSOR_INSTANCES, WorkerLauncher } from './worker-launcher';
import { WorkerRegistry } from './worker-registry';
import { bullTelemetry } from '../observability/trace-context';
import { QueueDepths } from './queue-depths';

/**
 * Refuses to start when a state of the statechart invokes an actor but has no stage (and so no
 * queue and processor). Walks the machine's state nodes.
 * @throws Error naming the state.
 */
export function assertEveryInvokingStateHasAStage(machine: { root: { states: Record<string, { invoke: { id: string }[] }> } } = jobMachine): void {
  for (const [name, node] of Object.entries(machine.root.states)) {
    if (node.invoke.length > 0 && !stageOfState(name as JobState)) {
      throw new Error(`state ${name} invokes ${node.invoke.map((i) => i.id).join(', ')} but has no stage queue/processor`);
    }
  }
}

export interface QueuesModuleOptions {
  /** Stages whose workers run in this process (empty: producer only, e.g. the API process). */
  workers: Stage[];
  /** Run the sweeper in this process. */
  sweeper: boolean;
}

/** BullMQ wiring: one queue per stage, the dispatcher, cancellation bus, and this process's workers. */
@Module({})
export class QueuesModule {
  static register(options: QueuesModuleOptions): DynamicModule {
    assertEveryInvokingStateHasAStage();
    const processors = options.workers.map((s) => STAGE_PROCESSORS[s]);
    const providers: Provider[] = [
      BullStageDispatcher,
      { provide: StageDispatcher, useExisting: BullStageDispatcher },
      RunningCalls,
      RecentCommits,
      RedisCancellationBus,
      { provide: CancellationBus, useExisting: RedisCancellationBus },
      { provide: SERVED_STAGES, useValue: [...options.workers] },
      StageCalls,
      JobStageWork,
      ...processors,
      { provide: STAGE_PROCESSOR_INSTANCES, inject: processors, useFactory: (...instances: unknown[]) => instances },
      WorkerLauncher,
      WorkerRegistry,
      QueueDepths,
      ...(options.sweeper ? [Sweeper] : []),
    ];
    return {
      module: QueuesModule,
      imports: [
        BullModule.forRootAsync({
          inject: [APP_CONFIG],
          useFactory: (config: AppConfig) => ({
            connection: redisOptionsFromUrl(config.REDIS_URL) as Record<string, unknown>,
            prefix: config.QUEUE_PREFIX,
            telemetry: bullTelemetry(), // observability: bullmq-otel when tracing is on (trace context travels in each message), else undefined
          }),
        }),
        ...STAGES.map((s) => BullModule.registerQueue({ name: STAGE_QUEUE[s] })),
        BullModule.registerQueue({ name: DEADLINE_QUEUE }),
      ],
      providers,
      exports: [StageDispatcher, CancellationBus, BullStageDispatcher, RunningCalls, WorkerRegistry, QueueDepths, ...(options.sweeper ? [Sweeper] : [])],
      global: true,
    };
  }
}
