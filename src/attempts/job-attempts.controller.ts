import { Controller, Get, Param } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiProperty, ApiPropertyOptional, ApiTags } from '@nestjs/swagger';
import { ApiErrors, ApiStoreErrors } from '../common/api-errors';
import { jobIdPipe } from '../common/job-id.pipe';
import { TenantId } from '../common/tenant.decorator';
import { JobsService } from '../jobs/jobs.service';
import { STAGES, type Stage } from '../lifecycle/job.types';
import { Authenticated } from '../tenants/tenant-auth.guard';
import { StageAttemptRepository } from './stage-attempt.repository';

export class AttemptProcessDto {
  @ApiProperty({ example: 'claude' }) tool!: string;
  @ApiProperty() pid!: number;
  @ApiProperty({ description: 'Process group id.' }) pgid!: number;
  @ApiProperty() host!: string;
  @ApiProperty({ description: 'ISO-8601.' }) startedAt!: string;
  @ApiProperty({ nullable: true, type: String }) endedAt!: string | null;
  @ApiProperty({ nullable: true, type: Number }) exitCode!: number | null;
  @ApiProperty({ nullable: true, type: String }) signal!: string | null;
  @ApiProperty({ nullable: true, type: Number, description: 'ms.' }) durationMs!: number | null;
}

export class AttemptDto {
  @ApiProperty() id!: string;
  @ApiProperty({ enum: STAGES }) stage!: Stage;
  @ApiProperty({ description: '1-based.' }) attempt!: number;
  @ApiProperty({ description: 'The job version it ran on.' }) version!: number;
  @ApiProperty({ example: 'claude' }) tool!: string;
  @ApiProperty({ enum: ['running', 'succeeded', 'failed', 'aborted', 'dead'] }) status!: string;
  @ApiProperty() host!: string;
  @ApiProperty() workerId!: string;
  @ApiProperty({ type: [AttemptProcessDto] }) processes!: AttemptProcessDto[];
  @ApiProperty({ description: 'ISO-8601.' }) startedAt!: string;
  @ApiProperty({ description: 'ISO-8601 time of the last heartbeat.' }) heartbeatAt!: string;
  @ApiProperty({ nullable: true, type: String }) endedAt!: string | null;
  @ApiProperty({ nullable: true, type: Number, description: 'ms.' }) durationMs!: number | null;
  @ApiPropertyOptional({ description: '{ inputTokens, outputTokens, costUsd? }' }) usage!: unknown;
  @ApiPropertyOptional({ description: '{ code, message }' }) error!: unknown;
  @ApiPropertyOptional({ description: 'When a later attempt killed what this one left running: { at, host, found, killed, remaining }.' }) reaped?: unknown;
}

/**
 * The recorded stage attempts of a job (the caller's tenant only). An attempt is recorded when it
 * started a process, ran past its first heartbeat or did not succeed (see AttemptHandle).
 */
@ApiTags('jobs')
@Authenticated()
@ApiStoreErrors()
@Controller('jobs')
export class JobAttemptsController {
  constructor(
    private readonly jobs: JobsService,
    private readonly attempts: StageAttemptRepository,
  ) {}

  @Get(':id/attempts')
  @ApiOperation({ summary: 'Stage attempts: worker, processes (pid, host), heartbeat, status, duration, usage, error.' })
  @ApiOkResponse({ type: [AttemptDto] })
  @ApiErrors({ 404: true })
  async list(@TenantId() tenantId: string, @Param('id', jobIdPipe) id: string): Promise<AttemptDto[]> {
    await this.jobs.get(tenantId, id);
    return (await this.attempts.listForJob(id)).map((a) => ({
      ...a,
      startedAt: a.startedAt.toISOString(),
      heartbeatAt: a.heartbeatAt.toISOString(),
      endedAt: a.endedAt?.toISOString() ?? null,
      ...(a.reaped ? { reaped: { ...a.reaped, at: new Date(a.reaped.at).toISOString() } } : {}),
      processes: a.processes.map((p) => ({ ...p, startedAt: new Date(p.startedAt).toISOString(), endedAt: p.endedAt ? new Date(p.endedAt).toISOString() : null })),
    }));
  }
}
