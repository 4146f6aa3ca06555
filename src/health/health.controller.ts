import { Controller, Get } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import { HealthCheck, HealthCheckService, HealthIndicatorService } from '@nestjs/terminus';
import { JobRepository } from '../jobs/job.repository';
import { StoreServerInfo, storeServerName } from '../jobs/store-server';
import { StageDispatcher } from '../jobs/stage-dispatcher.port';
import { WorkerRegistry } from '../queues/worker-registry';

/**
 * `GET /healthz`: 200 when Redis and MongoDB answer, 503 naming the one that does not (`mongodb`
 * names the server and version, and the compare-and-set its commits use); `tools`
 * reports open circuit breakers of the live workers as `degraded` (still 200).
 */
@ApiTags('health')
@Controller('healthz')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly indicator: HealthIndicatorService,
    private readonly jobs: JobRepository,
    private readonly dispatcher: StageDispatcher,
    private readonly registry: WorkerRegistry,
    private readonly store: StoreServerInfo,
  ) {}

  @Get()
  @HealthCheck()
  check() {
    return this.health.check([
      () => this.probe('mongodb', () => this.jobs.ping(), { server: this.store.server ? storeServerName(this.store.server) : 'unknown', commits: this.store.commitMode ?? 'unknown' }),
      () => this.probe('redis', () => this.dispatcher.ping()),
      () => this.tools(),
    ]);
  }

  /**
   * Tools: `up` always (a tool being down degrades the service, it does not make it down), with
   * `degraded: true` and the open breakers when any live worker has a tool's circuit breaker not
   * closed. Reads the workers' registry in Redis; when Redis is down the redis check says so.
   */
  private async tools() {
    const session = this.indicator.check('tools');
    let workers: Awaited<ReturnType<WorkerRegistry['list']>> = [];
    try {
      workers = (await this.registry.list()).filter((w) => w.alive);
    } catch {
      return session.up({ degraded: false, workers: 'unknown (redis unreachable)' });
    }
    const notClosed = workers.flatMap((w) =>
      Object.entries(w.breakers)
        .filter(([, state]) => state !== 'closed')
        .map(([tool, state]) => ({ tool, state, worker: w.id })),
    );
    return session.up({ degraded: notClosed.length > 0, breakers: notClosed, workers: workers.length });
  }

  private async probe<K extends string>(key: K, ping: () => Promise<void>, details: Record<string, string> = {}) {
    const session = this.indicator.check(key);
    try {
      await ping();
      return session.up(details);
    } catch (e) {
      return session.down({ message: e instanceof Error ? e.message : String(e) });
    }
  }
}
