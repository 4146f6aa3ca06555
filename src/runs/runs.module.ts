import { BullModule } from '@nestjs/bullmq';
import { DynamicModule, Global, Inject, Injectable, Logger, Module, OnApplicationShutdown, OnModuleInit, Optional, type BeforeApplicationShutdown } from '@nestjs/common';
import { getQueueToken } from '@nestjs/bullmq';
import { Worker, type Queue } from 'bullmq';
import Redis from 'ioredis';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Db } from 'mongodb';
import { TOOL_ADAPTERS } from '../agents/agents.module';
import { AGENT, type Agent } from '../agents/agent.port';
import { Sweeper } from '../queues/sweeper';
import { APP_CONFIG, type AppConfig } from '../config/config';
import { CancellationBus } from '../jobs/stage-dispatcher.port';
import { StoreServerInfo } from '../jobs/store-server';
import { BUILT_IN_TEMPLATES } from '../pipelines/built-in-templates';
import { validateTemplate } from '../pipelines/template.schema';
import { RunningCalls } from '../queues/cancellation';
import { redisOptionsFromUrl } from '../queues/redis-connection';
import type { ToolAdapter } from '../tools/tool.port';
import { ToolBreakers } from '../tools/tool-breakers';
import { MongoRunRepository } from './mongo-run.repository';
import { BUILT_IN_OWNER, MongoTemplateRepository } from './mongo-template.repository';
import { PipelineMachines } from './pipeline-machines';
import { RunArtifactStore } from './run-artifacts';
import { RunEngine } from './run-engine';
import { RunSweeper } from './run-sweeper';
import { RunsService } from './runs.service';
import { StepAttemptRepository } from './step-attempts';
import { recordDurationsAtEnd, StepDurations } from './step-durations';
import { StepExecutor } from './step-executor';
import { BullStepMessages, STEP_QUEUE, type StepMessage } from './step-queue';
import { StepSlots } from './step-slots';
import { StepWork } from './step-work';
import { TemplateCheck } from './template-check';
import { EventsModule } from '../events/events.module';
import { TenantEventLog } from '../events/tenant-event-log';
import { feedRunEvents } from './run-event-feed';
import { BuiltInChartSource } from './run-charts';
import { PIPELINE_CHART_SOURCE } from '../statecharts/pipeline-chart-source';
import { parseRouterConfig, ToolRouter } from './tool-router';

const ROUTER_REDIS = Symbol('ROUTER_REDIS');

/**
 * Starts this process's step worker (when it runs workers) and adds the runs' pass to the jobs'
 * sweeper (where it runs); creates the
 * indexes, stores the built-in templates (version 1 of each name, owner `builtin`) and selects the
 * compare-and-set once the store server is known.
 */
@Injectable()
class RunsLifecycle implements OnModuleInit, BeforeApplicationShutdown, OnApplicationShutdown {
  private readonly log = new Logger('Runs');
  private worker?: Worker<StepMessage>;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject('RUNS_OPTIONS') private readonly options: { worker: boolean; sweeper: boolean },
    private readonly runs: MongoRunRepository,
    private readonly templates: MongoTemplateRepository,
    private readonly attempts: StepAttemptRepository,
    private readonly durations: StepDurations,
    private readonly artifacts: RunArtifactStore,
    private readonly info: StoreServerInfo,
    private readonly check: TemplateCheck,
    private readonly stepWork: StepWork,
    private readonly engine: RunEngine,
    private readonly running: RunningCalls,
    @Inject(getQueueToken(STEP_QUEUE)) private readonly queue: Queue<StepMessage>,
    @Inject(ROUTER_REDIS) private readonly redis: Redis,
    /** The jobs' sweeper, present where the sweeper runs: the runs' pass joins its timer. */
    @Optional() private readonly sweeper?: Sweeper,
  ) {}

  async onModuleInit(): Promise<void> {
    await Promise.all([this.runs.ensureIndexes(), this.templates.ensureIndexes(), this.attempts.ensureIndexes(), this.artifacts.ensureIndexes(), this.durations.ensureCollection()]);
    this.runs.atomic = (this.info.server?.atomicUpdates ?? false) && this.config.STORE_CAS === 'auto';
    for (const raw of BUILT_IN_TEMPLATES) await this.templates.save(BUILT_IN_OWNER, validateTemplate(raw, this.check.options()));
    if (this.options.sweeper && this.sweeper) {
      const sweeper = new RunSweeper(this.runs, this.engine, this.attempts, this.queue, {
        graceMs: Math.max(this.config.SWEEP_GRACE_MS, 1000),
        heartbeatTimeoutMs: this.config.HEARTBEAT_TIMEOUT_MS,
        batch: 100,
        workRoot: this.config.PIPELINE_WORK_ROOT || join(tmpdir(), 'aicd-runs'),
      });
      this.sweeper?.register('pipeline runs', async () => ({ ...(await sweeper.pass()) }));
    }
    if (this.options.worker) {
      this.worker = new Worker<StepMessage>(STEP_QUEUE, (job, token, signal) => this.stepWork.process(job, token, signal), {
        connection: redisOptionsFromUrl(this.config.REDIS_URL) as never,
        prefix: this.config.QUEUE_PREFIX,
        concurrency: this.config.PIPELINE_STEP_CONCURRENCY,
        lockDuration: this.config.WORKER_LOCK_DURATION_MS,
        stalledInterval: this.config.WORKER_STALLED_INTERVAL_MS,
        maxStalledCount: this.config.WORKER_MAX_STALLED_COUNT,
      });
      let last = 0;
      this.worker.on('error', (e) => {
        if (Date.now() - last < 5000) return;
        last = Date.now();
        this.log.warn(`step worker: ${e.message}`);
      });
      this.log.log(`step worker running (${STEP_QUEUE}×${this.config.PIPELINE_STEP_CONCURRENCY})`);
    }
  }

  async beforeApplicationShutdown(): Promise<void> {
    if (!this.worker) return;
    const timer = setTimeout(() => this.running.abortAll('worker shutting down'), this.config.SHUTDOWN_GRACE_MS);
    try {
      await this.worker.close();
    } finally {
      clearTimeout(timer);
    }
  }

  async onApplicationShutdown(): Promise<void> {
    await this.runs.flushClaims().catch(() => undefined);
    this.redis.disconnect();
  }
}

export interface RunsModuleOptions {
  /** Run pipeline steps in this process. */
  worker: boolean;
  /** Run the runs' sweeper pass here. */
  sweeper: boolean;
}

/** Pipeline templates and runs: repositories, the runtime (RunEngine), the step queue and worker. */
@Global()
@Module({})
export class RunsModule {
  static register(options: RunsModuleOptions): DynamicModule {
    return {
      module: RunsModule,
      imports: [BullModule.registerQueue({ name: STEP_QUEUE }), EventsModule],
      providers: [
        { provide: 'RUNS_OPTIONS', useValue: options },
        { provide: MongoRunRepository, inject: [Db], useFactory: (db: Db) => new MongoRunRepository(db) },
        { provide: MongoTemplateRepository, inject: [Db], useFactory: (db: Db) => new MongoTemplateRepository(db) },
        { provide: StepAttemptRepository, inject: [Db], useFactory: (db: Db) => new StepAttemptRepository(db) },
        { provide: StepDurations, inject: [Db, StepAttemptRepository], useFactory: (db: Db, attempts: StepAttemptRepository) => new StepDurations(db, attempts) },
        { provide: RunArtifactStore, inject: [Db], useFactory: (db: Db) => new RunArtifactStore(db) },
        PipelineMachines,
        BullStepMessages,
        {
          provide: ROUTER_REDIS,
          inject: [APP_CONFIG],
          useFactory: (config: AppConfig) => {
            const r = new Redis({ ...redisOptionsFromUrl(config.REDIS_URL), lazyConnect: true, maxRetriesPerRequest: 1 });
            r.on('error', () => undefined);
            return r;
          },
        },
        {
          provide: ToolRouter,
          inject: [APP_CONFIG, ROUTER_REDIS, ToolBreakers, StepAttemptRepository],
          useFactory: (config: AppConfig, redis: Redis, breakers: ToolBreakers, attempts: StepAttemptRepository) =>
            new ToolRouter(parseRouterConfig(config.PIPELINE_ROUTER), {
              nextTurn: (capability) => redis.incr(`${config.QUEUE_PREFIX}:router:${capability}`),
              breakerStates: () => breakers.states(),
              medianDurations: (tools) => attempts.medianByTool(tools),
            }),
        },
        TemplateCheck,
        {
          provide: RunEngine,
          inject: [MongoRunRepository, MongoTemplateRepository, PipelineMachines, BullStepMessages, CancellationBus, TenantEventLog, StepDurations],
          useFactory: (runs: MongoRunRepository, templates: MongoTemplateRepository, machines: PipelineMachines, messages: BullStepMessages, cancellation: CancellationBus, events: TenantEventLog, durations: StepDurations) => {
            const engine = new RunEngine(runs, templates, machines, messages, cancellation);
            feedRunEvents(engine, events); // every committed change reaches the tenant's SSE stream
            recordDurationsAtEnd(engine, durations); // the ETA's input
            return engine;
          },
        },
        {
          provide: StepExecutor,
          inject: [APP_CONFIG, TOOL_ADAPTERS, ToolBreakers, RunArtifactStore, ToolRouter, AGENT],
          useFactory: (config: AppConfig, adapters: Map<string, ToolAdapter>, breakers: ToolBreakers, artifacts: RunArtifactStore, router: ToolRouter, agent: Agent) =>
            new StepExecutor({ adapters, breakers, artifacts, router, agent, workRoot: config.PIPELINE_WORK_ROOT || join(tmpdir(), 'aicd-runs') }),
        },
        {
          provide: StepWork,
          inject: [APP_CONFIG, MongoRunRepository, RunEngine, StepExecutor, StepAttemptRepository, RunningCalls, ROUTER_REDIS],
          useFactory: (config: AppConfig, runs: MongoRunRepository, engine: RunEngine, executor: StepExecutor, attempts: StepAttemptRepository, running: RunningCalls, redis: Redis) =>
            new StepWork(runs, engine, executor, attempts, running, new StepSlots(redis, config.QUEUE_PREFIX, { global: config.PIPELINE_MAX_RUNNING_STEPS, perTenant: config.PIPELINE_TENANT_MAX_RUNNING_STEPS }, config.HEARTBEAT_TIMEOUT_MS), {
              quarantineCodes: new Set(config.PIPELINE_QUARANTINE_CODES.split(',').map((s) => s.trim()).filter(Boolean)),
              heartbeatTimeoutMs: config.HEARTBEAT_TIMEOUT_MS,
              slotRetryMs: 250,
              killGraceMs: config.KILL_GRACE_MS,
              continueMax: config.STAGE_CONTINUE_MAX,
            }),
        },
        RunsService,
        RunsLifecycle,
        { provide: PIPELINE_CHART_SOURCE, inject: [MongoTemplateRepository], useFactory: (t: MongoTemplateRepository) => new BuiltInChartSource(t) },
      ],
      exports: [RunsService, RunEngine, MongoTemplateRepository, RunArtifactStore, PIPELINE_CHART_SOURCE],
    };
  }
}
