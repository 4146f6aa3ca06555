import { Controller, Get } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiProperty, ApiTags } from '@nestjs/swagger';
import { ApiStoreErrors } from '../common/api-errors';
import { DependencyUnavailableError } from '../jobs/job.errors';
import { STAGES } from '../lifecycle/job.types';
import { Authenticated } from '../tenants/tenant-auth.guard';
import type { BreakerState } from '../tools/tool-breakers';
import { QueueDepths } from './queue-depths';
import { WorkerRegistry } from './worker-registry';

export class WorkerDto {
  @ApiProperty({ description: 'Worker id (host, pid and a random suffix).' }) id!: string;
  @ApiProperty() host!: string;
  @ApiProperty() pid!: number;
  @ApiProperty({ enum: STAGES, isArray: true, description: 'Stages whose messages it takes.' }) stages!: string[];
  @ApiProperty({ description: 'ISO-8601.' }) startedAt!: string;
  @ApiProperty({ description: 'ISO-8601 time of its last heartbeat (every HEARTBEAT_MS).' }) heartbeatAt!: string;
  @ApiProperty({ description: 'Heartbeat within 3 × HEARTBEAT_MS; a dead worker is listed until 10 ×.' }) alive!: boolean;
  @ApiProperty({
    type: 'object',
    additionalProperties: { type: 'string', enum: ['closed', 'open', 'half-open', 'isolated'] },
    description: 'Circuit-breaker state per tool, as this worker sees it (cockatiel).',
  })
  breakers!: Record<string, BreakerState>;
}

class QueueCountsDto {
  @ApiProperty() waiting!: number;
  @ApiProperty() active!: number;
  @ApiProperty() delayed!: number;
  @ApiProperty() prioritized!: number;
  @ApiProperty({ description: 'Dead letters: messages that used up their attempts.' }) failed!: number;
  @ApiProperty() completed!: number;
}

export class QueueDto {
  @ApiProperty({ description: 'BullMQ queue name.' }) name!: string;
  @ApiProperty({ enum: STAGES, nullable: true, type: String, description: 'The stage it carries; null for the deadline queue.' }) stage!: string | null;
  @ApiProperty() paused!: boolean;
  @ApiProperty({ type: QueueCountsDto }) counts!: QueueCountsDto;
}

/**
 * The shared worker fleet and its queues (the dashboard's workers page). These are service-wide
 * figures with no job or tenant data in them; any authenticated tenant may read them.
 */
@ApiTags('fleet')
@Authenticated()
@ApiStoreErrors()
@Controller()
export class FleetController {
  constructor(
    private readonly workers: WorkerRegistry,
    private readonly depths: QueueDepths,
  ) {}

  @Get('workers')
  @ApiOperation({ summary: 'Worker processes from their heartbeats: stages served, liveness, circuit-breaker states.' })
  @ApiOkResponse({ type: [WorkerDto] })
  async listWorkers(): Promise<WorkerDto[]> {
    try {
      return await this.workers.list();
    } catch (e) {
      throw new DependencyUnavailableError('redis', e);
    }
  }

  @Get('queues')
  @ApiOperation({ summary: 'Depth of every BullMQ queue (one per stage, and the deadline queue).' })
  @ApiOkResponse({ type: [QueueDto] })
  async listQueues(): Promise<QueueDto[]> {
    try {
      return await this.depths.read();
    } catch (e) {
      throw new DependencyUnavailableError('redis', e);
    }
  }
}
