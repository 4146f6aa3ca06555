import { Controller, Get } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import { HealthCheck, HealthCheckService, HealthIndicatorService } from '@nestjs/terminus';
import { JobRepository } from '../jobs/job.repository';
import { StageDispatcher } from '../jobs/stage-dispatcher.port';

/** `GET /healthz`: 200 when Redis and MongoDB answer, 503 naming the one that does not. */
@ApiTags('health')
@Controller('healthz')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly indicator: HealthIndicatorService,
    private readonly jobs: JobRepository,
    private readonly dispatcher: StageDispatcher,
  ) {}

  @Get()
  @HealthCheck()
  check() {
    return this.health.check([() => this.probe('mongodb', () => this.jobs.ping()), () => this.probe('redis', () => this.dispatcher.ping())]);
  }

  private async probe<K extends string>(key: K, ping: () => Promise<void>) {
    const session = this.indicator.check(key);
    try {
      await ping();
      return session.up();
    } catch (e) {
      return session.down({ message: e instanceof Error ? e.message : String(e) });
    }
  }
}
