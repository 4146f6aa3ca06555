import { DynamicModule, Module } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { TerminusModule } from '@nestjs/terminus';
import { LoggerModule } from 'nestjs-pino';
import { AgentsModule } from './agents/agents.module';
import { ArtifactsModule } from './artifacts/artifacts.module';
import { JobArtifactsController } from './artifacts/job-artifacts.controller';
import { AttemptsModule } from './attempts/attempts.module';
import { JobAttemptsController } from './attempts/job-attempts.controller';
import { DomainExceptionFilter } from './common/http-exception.filter';
import { EventsController } from './events/events.controller';
import { EventsModule } from './events/events.module';
import { LOG_REDACT_PATHS, serializeRequest } from './common/log-redaction';
import { AppConfigModule } from './config/config.module';
import { HealthController } from './health/health.controller';
import { JobsController } from './jobs/jobs.controller';
import { BulkActions } from './jobs/bulk-actions';
import { JobsService } from './jobs/jobs.service';
import { MongoModule } from './jobs/mongo.module';
import { ObservabilityModule } from './observability/observability.module';
import { traceLogFields } from './observability/trace-context';
import { JobLogsController } from './logs/job-logs.controller';
import { LogsModule } from './logs/logs.module';
import { STAGES, type Stage } from './lifecycle/job.types';
import { DeadlineProcessor } from './queues/deadline.processor';
import { FleetController } from './queues/fleet.controller';
import { QueuesModule } from './queues/queues.module';
import { StatechartsController } from './statecharts/statecharts.controller';
import { TenantsModule } from './tenants/tenants.module';
import { WhoamiController } from './tenants/whoami.controller';
import { GithubWebhookController } from './webhooks/github-webhook.controller';
import { PipelineTemplatesController } from './runs/pipeline-templates.controller';
import { RunsController } from './runs/runs.controller';
import { RunsModule } from './runs/runs.module';

/** What one process runs. */
export interface AppOptions {
  /** Serve the REST API. */
  api: boolean;
  /** Stages whose workers run here. */
  stages: Stage[];
  /** Run the sweeper here. Default: when any worker runs. */
  sweeper?: boolean;
  /** Run pipeline steps here. Default: when any stage worker runs. */
  steps?: boolean;
  /** Config values that win over the environment (tests). */
  env?: Record<string, string>;
}

/** The application: `AppModule.forRoot({ api: true, stages: STAGES })` is the all-in-one process. */
@Module({})
export class AppModule {
  static forRoot(options: AppOptions = { api: true, stages: [...STAGES] }): DynamicModule {
    const env = options.env ?? {};
    const level = env.LOG_LEVEL ?? process.env.LOG_LEVEL ?? 'info';
    return {
      module: AppModule,
      imports: [
        AppConfigModule.forRoot(env),
        LoggerModule.forRoot({
          pinoHttp: {
            level,
            // One line per request at debug (LOG_LEVEL=debug shows them), with credentials redacted.
            autoLogging: true,
            customLogLevel: () => 'debug',
            redact: { paths: LOG_REDACT_PATHS, censor: '[redacted]' },
            serializers: { req: serializeRequest },
            mixin: traceLogFields, // observability: trace_id / span_id of the active span on every log line
            ...(process.stdout.isTTY ? { transport: { target: 'pino-pretty', options: { singleLine: true } } } : {}),
          },
        }),
        MongoModule,
        LogsModule,
        ArtifactsModule,
        AttemptsModule,
        TenantsModule,
        AgentsModule,
        EventsModule,
        QueuesModule.register({ workers: options.stages, sweeper: options.sweeper ?? options.stages.length > 0 }),
        RunsModule.register({ worker: options.steps ?? options.stages.length > 0, sweeper: options.sweeper ?? options.stages.length > 0 }),
        ObservabilityModule.forRoot({ api: options.api }), // GET /metrics, metrics and tracing hooks (src/observability)
        ...(options.api ? [TerminusModule] : []),
      ],
      controllers: options.api
        ? [
            JobsController,
            JobLogsController,
            JobAttemptsController,
            JobArtifactsController,
            EventsController,
            FleetController,
            WhoamiController,
            GithubWebhookController,
            HealthController,
            StatechartsController,
            PipelineTemplatesController,
            RunsController,
          ]
        : [],
      providers: [JobsService, ...(options.api ? [BulkActions] : []), { provide: APP_FILTER, useClass: DomainExceptionFilter }, ...(options.stages.length ? [DeadlineProcessor] : [])],
      exports: [JobsService],
    };
  }
}
