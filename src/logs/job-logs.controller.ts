import { Controller, Get, Headers, Inject, Param, Query, Res } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiProduces, ApiProperty, ApiPropertyOptional, ApiTags } from '@nestjs/swagger';
import { ApiErrors, ApiStoreErrors } from '../common/api-errors';
import { Type } from 'class-transformer';
import { IsIn, IsInt, IsOptional, IsString, Max, MaxLength, Min } from 'class-validator';
import type { Response } from 'express';
import { SseStream } from '../common/sse';
import { jobIdPipe } from '../common/job-id.pipe';
import { TenantId } from '../common/tenant.decorator';
import { APP_CONFIG, type AppConfig } from '../config/config';
import { STAGES, type Stage } from '../lifecycle/job.types';
import { Authenticated } from '../tenants/tenant-auth.guard';
import { lineIdTime } from './job-log.repository';
import { InvalidLogCursorError, JobLogsService } from './job-logs.service';


export class LogsQueryDto {
  @ApiPropertyOptional({ enum: STAGES })
  @IsOptional()
  @IsIn(STAGES)
  stage?: Stage;

  @ApiPropertyOptional({ minimum: 1, description: 'Stage attempt (1-based).' })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  attempt?: number;

  @ApiPropertyOptional({ description: 'Line id: only lines after it (the previous page\'s nextCursor).' })
  @IsOptional()
  @IsString()
  @MaxLength(400)
  after?: string;

  @ApiPropertyOptional({ minimum: 1, maximum: 5000, default: 500 })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(5000)
  limit?: number;
}

export class LogLineDto {
  @ApiProperty({ description: 'Ordered line id (use as `after` or Last-Event-ID).' }) id!: string;
  @ApiProperty({ description: 'ISO-8601.' }) at!: string;
  @ApiProperty({ enum: STAGES }) stage!: Stage;
  @ApiProperty() attempt!: number;
  @ApiProperty({ enum: ['stdout', 'stderr', 'system'] }) stream!: string;
  @ApiProperty({ description: 'The line, secrets redacted.' }) text!: string;
}

export class LogPageDto {
  @ApiProperty({ type: [LogLineDto] }) lines!: LogLineDto[];
  @ApiProperty({ nullable: true, type: String }) nextCursor!: string | null;
}

/** A job's process output, per stage and attempt (the caller's tenant only). */
@ApiTags('jobs')
@Authenticated()
@ApiStoreErrors()
@Controller('jobs')
export class JobLogsController {
  constructor(
    private readonly logs: JobLogsService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  @Get(':id/logs')
  @ApiOperation({ summary: 'Output lines of the job\'s stage attempts (stdout, stderr, system), oldest first; capped at LOG_MAX_BYTES per attempt.' })
  @ApiOkResponse({ type: LogPageDto })
  @ApiErrors({ 400: 'A malformed query or `after`; `errors` names it.', 404: true })
  page(@TenantId() tenantId: string, @Param('id', jobIdPipe) id: string, @Query() q: LogsQueryDto): Promise<LogPageDto> {
    return this.logs.page(tenantId, id, {
      limit: q.limit ?? 500,
      ...(q.stage ? { stage: q.stage } : {}),
      ...(q.attempt !== undefined ? { attempt: q.attempt } : {}),
      ...(q.after ? { after: q.after } : {}),
    });
  }

  @Get(':id/logs/stream')
  @ApiOperation({ summary: 'Server-sent events (`event: log`, data = a line) of the job\'s logs: the backlog after Last-Event-ID (or `after`), then live.' })
  @ApiProduces('text/event-stream')
  @ApiOkResponse({ description: 'text/event-stream' })
  @ApiErrors({ 400: 'A malformed query, `after` or Last-Event-ID; `errors` names it.', 404: true })
  async stream(
    @TenantId() tenantId: string,
    @Param('id', jobIdPipe) id: string,
    @Query() q: LogsQueryDto,
    @Headers('last-event-id') lastEventId: string | undefined,
    @Res() res: Response,
  ): Promise<void> {
    await this.logs.assertVisible(tenantId, id);
    const after = lastEventId ?? q.after;
    if (after !== undefined && lineIdTime(after) === null) throw new InvalidLogCursorError();
    const stream = new SseStream(res, { maxBufferedBytes: this.config.SSE_CLIENT_MAX_BUFFER_BYTES, keepAliveMs: 15_000 });
    await this.logs
      .tail(tenantId, id, stream, { ...(q.stage ? { stage: q.stage } : {}), ...(q.attempt !== undefined ? { attempt: q.attempt } : {}), ...(after ? { after } : {}) })
      .catch(() => stream.close());
  }
}
