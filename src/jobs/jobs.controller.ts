import { Body, Controller, Get, HttpCode, Param, Post, Query, Res } from '@nestjs/common';
import { ApiConflictResponse, ApiCreatedResponse, ApiNotFoundResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { jobIdPipe } from '../common/job-id.pipe';
import { TenantId } from '../common/tenant.decorator';
import type { JobEvent } from '../lifecycle/job.types';
import { Authenticated } from '../tenants/tenant-auth.guard';
import { CreateJobDto, JobDetailDto, JobPageDto, ListJobsQueryDto, SendEventDto, TransitionDto } from './dto/job.dto';
import { toDetail, toSummary } from './job.presenter';
import { JobsService } from './jobs.service';


/** Jobs of the caller's tenant (its API key). Another tenant's job answers 404. */
@ApiTags('jobs')
@Authenticated()
@Controller('jobs')
export class JobsController {
  constructor(private readonly jobs: JobsService) {}

  @Post()
  @ApiOperation({ summary: 'Submit an issue; the job starts in QUEUED. A repeated idempotencyKey returns the existing job (200).' })
  @ApiCreatedResponse({ type: JobDetailDto })
  async create(@TenantId() tenantId: string, @Body() body: CreateJobDto, @Res({ passthrough: true }) res: Response): Promise<JobDetailDto> {
    const { job, created } = await this.jobs.submit(tenantId, {
      repositoryId: body.repositoryId,
      issue: { id: body.issue.id, title: body.issue.title, body: body.issue.body, url: body.issue.url },
      ...(body.idempotencyKey ? { idempotencyKey: body.idempotencyKey } : {}),
    });
    res.status(created ? 201 : 200);
    return toDetail(job, this.jobs.acceptedFor(job));
  }

  @Get()
  @ApiOperation({ summary: 'List jobs, most recently updated first.' })
  @ApiOkResponse({ type: JobPageDto })
  async list(@TenantId() tenantId: string, @Query() query: ListJobsQueryDto): Promise<JobPageDto> {
    const page = await this.jobs.list(tenantId, {
      limit: query.limit ?? 20,
      ...(query.state ? { state: query.state } : {}),
      ...(query.cursor ? { cursor: query.cursor } : {}),
    });
    return { items: page.items.map(toSummary), nextCursor: page.nextCursor };
  }

  @Get(':id')
  @ApiOperation({ summary: 'State, context summary, accepted events and history of a job.' })
  @ApiOkResponse({ type: JobDetailDto })
  @ApiNotFoundResponse()
  async get(@TenantId() tenantId: string, @Param('id', jobIdPipe) id: string): Promise<JobDetailDto> {
    const job = await this.jobs.get(tenantId, id);
    return toDetail(job, this.jobs.acceptedFor(job));
  }

  @Get(':id/history')
  @ApiOperation({ summary: 'Committed transitions, oldest first.' })
  @ApiOkResponse({ type: [TransitionDto] })
  async history(@TenantId() tenantId: string, @Param('id', jobIdPipe) id: string): Promise<TransitionDto[]> {
    return (await this.jobs.get(tenantId, id)).history;
  }

  @Post(':id/cancel')
  @HttpCode(200)
  @ApiOperation({ summary: 'Send MARK_CANCELLED; a running agent call is aborted in whichever worker runs it.' })
  @ApiOkResponse({ type: JobDetailDto })
  @ApiConflictResponse({ description: 'The job is in a final state.' })
  cancel(@TenantId() tenantId: string, @Param('id', jobIdPipe) id: string): Promise<JobDetailDto> {
    return this.sendAndShow(tenantId, id, { type: 'MARK_CANCELLED' });
  }

  @Post(':id/retry')
  @HttpCode(200)
  @ApiOperation({ summary: 'Send RETRY: from FAILED, resume at the stage that failed.' })
  @ApiOkResponse({ type: JobDetailDto })
  @ApiConflictResponse({ description: 'The job is not FAILED.' })
  retry(@TenantId() tenantId: string, @Param('id', jobIdPipe) id: string): Promise<JobDetailDto> {
    return this.sendAndShow(tenantId, id, { type: 'RETRY' });
  }

  @Post(':id/events')
  @HttpCode(200)
  @ApiOperation({ summary: 'Send any external event the current state accepts; otherwise 409 naming the state and accepted events.' })
  @ApiOkResponse({ type: JobDetailDto })
  @ApiConflictResponse({ description: '{ code: ILLEGAL_EVENT, state, acceptedEvents }' })
  events(@TenantId() tenantId: string, @Param('id', jobIdPipe) id: string, @Body() body: SendEventDto): Promise<JobDetailDto> {
    const event = (
      body.type === 'MARK_CANCELLED'
        ? { type: body.type, ...(body.reason ? { reason: body.reason } : {}) }
        : body.type === 'RETRY'
          ? { type: body.type, ...(body.budgetUsd !== undefined ? { budgetUsd: body.budgetUsd } : {}), ...(body.budgetTokens !== undefined ? { budgetTokens: body.budgetTokens } : {}) }
          : { type: body.type }
    ) as JobEvent;
    return this.sendAndShow(tenantId, id, event);
  }

  private async sendAndShow(tenantId: string, id: string, event: JobEvent): Promise<JobDetailDto> {
    const job = await this.jobs.send(tenantId, id, event);
    return toDetail(job, this.jobs.acceptedFor(job));
  }
}
