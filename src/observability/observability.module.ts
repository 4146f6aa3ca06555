import { DynamicModule, Module, OnApplicationShutdown, Provider } from '@nestjs/common';
import { Db } from 'mongodb';
import { APP_CONFIG, type AppConfig } from '../config/config';
import { QueueDepths } from '../queues/queue-depths';
import { ToolBreakers } from '../tools/tool-breakers';
import { JobStateCounts } from './job-state-counts';
import { MetricsController } from './metrics.controller';
import { AicdMetrics, type MetricSources } from './metrics';
import { Telemetry } from './telemetry';
import { flushTracing } from './tracing-sdk';
import { WorkerMetricsServer } from './worker-metrics-server';

export interface ObservabilityOptions {
  /** This process serves the REST API: /metrics on PORT, and the global gauges (jobs, queues). */
  api: boolean;
}

/**
 * Metrics and tracing hooks (global): {@link AicdMetrics} (prom-client registry of this app),
 * {@link Telemetry} (the hooks called by the stage runner, stage calls and sweeper; commits come
 * from JobRecordListeners), `GET /metrics` (API processes; METRICS_PORT for worker-only ones), and
 * a flush of buffered spans on shutdown. The tracing SDK itself starts in ./tracing.ts, before Nest.
 *
 * The global gauges — `aicd_jobs` (MongoDB) and `aicd_queue_jobs` (Redis) — are computed in API
 * processes only, so that a fleet reports each once; per-process metrics come from every process.
 */
@Module({})
export class ObservabilityModule implements OnApplicationShutdown {
  static forRoot(options: ObservabilityOptions): DynamicModule {
    const providers: Provider[] = [
      {
        provide: AicdMetrics,
        inject: [APP_CONFIG, Db, QueueDepths, ToolBreakers],
        useFactory: (config: AppConfig, db: Db, queues: QueueDepths, breakers: ToolBreakers) => {
          const sources: MetricSources = { breakers: () => breakers.states() };
          if (options.api) {
            const counts = new JobStateCounts(db, config.METRICS_JOB_COUNTS_TTL_MS);
            sources.jobsByState = () => counts.read();
            sources.queueDepths = async () => (await queues.read()).map((d) => ({ queue: d.name, counts: d.counts }));
          }
          return new AicdMetrics(sources);
        },
      },
      Telemetry,
      ...(options.api ? [] : [WorkerMetricsServer]),
    ];
    return {
      module: ObservabilityModule,
      global: true,
      providers,
      controllers: options.api ? [MetricsController] : [],
      exports: [AicdMetrics, Telemetry],
    };
  }

  /** Exports the spans still buffered before the process exits (no-op when tracing is off). */
  async onApplicationShutdown(): Promise<void> {
    await flushTracing();
  }
}
