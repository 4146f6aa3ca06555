import { BadRequestException, Body, Controller, Get, HttpCode, Param, Post, Query, Res } from '@nestjs/common';
import { ApiCreatedResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ApiErrors, ApiStoreErrors } from '../common/api-errors';
import { JsonBody } from '../common/json-body.guard';
import type { Response } from 'express';
import { jobIdPipe } from '../common/job-id.pipe';
import { RequestActor, TenantId } from '../common/tenant.decorator';
import type { JobEvent, TransitionActor } from '../lifecycle/job.types';
import { Authenticated } from '../tenants/tenant-auth.guard';
import { CreateJobDto, JobCountsDto, JobDetailDto, JobFilterQueryDto, JobPageDto, ListJobsQueryDto, SendEventDto, TransitionDto } from './dto/job.dto';
import type { JobListFilter } from './job.record';
import { JOB_STATES } from '../lifecycle/job.types';
import { toDetail, toSummary } from './job.presenter';
import { BulkActions } from './bulk-actions';
import { BulkActionDto, BulkResultDto } from './dto/bulk.dto';
import { JobsService } from './jobs.service';


/** Jobs of the caller's tenant (its API key). Another tenant's job answers 404. */
@ApiTags('jobs')
@Authenticated()
@ApiStoreErrors()
@Controller('jobs')
export class JobsController {
  constructor(
    private readonly jobs: JobsService,
    private readonly bulkActions: BulkActions,
  ) {}

  @Post()
  @ApiOperation({ summary: 'Submit an issue; the job starts in QUEUED. A repeated idempotencyKey returns the existing job (200).' })
  @ApiCreatedResponse({ type: JobDetailDto, description: 'A new job.' })
  @ApiOkResponse({ type: JobDetailDto, description: 'The existing job of a repeated idempotencyKey.' })
  @JsonBody()
  @ApiErrors({ 400: 'Invalid body; `errors` names each field (e.g. repositoryId, issue.title).' })
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
  @ApiOperation({ summary: 'List jobs, most recently updated first, filtered by state, repository and created/updated time.' })
  @ApiOkResponse({ type: JobPageDto })
  @ApiErrors({ 400: 'A malformed filter, limit or cursor; `errors` names it.' })
  async list(@TenantId() tenantId: string, @Query() query: ListJobsQueryDto): Promise<JobPageDto> {
    const page = await this.jobs.list(tenantId, {
      limit: query.limit ?? 20,
      ...filterOf(query),
      ...(query.state ? { state: query.state } : {}),
      ...(query.cursor ? { cursor: query.cursor } : {}),
    });
    return { items: page.items.map(toSummary), nextCursor: page.nextCursor };
  }

  @Get('counts')
  @ApiOperation({ summary: 'How many of the tenant\'s jobs match the filters, per state (the dashboard\'s state tabs).' })
  @ApiOkResponse({ type: JobCountsDto })
  @ApiErrors({ 400: 'A malformed filter, or a range whose start is after its end; `errors` names it.' })
  async counts(@TenantId() tenantId: string, @Query() query: JobFilterQueryDto): Promise<JobCountsDto> {
    const counts = await this.jobs.countByState(tenantId, filterOf(query));
    const byState = Object.fromEntries(JOB_STATES.map((s) => [s, counts[s] ?? 0])) as JobCountsDto['byState'];
    return { total: Object.values(byState).reduce((a, b) => a + b, 0), byState };
  }

  @Post('bulk')
  @HttpCode(200)
  @ApiOperation({
    summary:
      'Send MARK_CANCELLED or RETRY to every job matching the listing\'s filters (at most `limit`, most recently updated first). Each job goes through the same check and compare-and-set as its own action: those that do not accept the event are skipped with the code, none is half-changed. Repeat while `more`.',
  })
  @ApiOkResponse({ type: BulkResultDto })
  @JsonBody()
  @ApiErrors({ 400: 'An unknown type, a malformed or empty filter, or a limit out of 1–500; `errors` names the field (e.g. filter, filter.state, limit).' })
  async bulk(@TenantId() tenantId: string, @RequestActor() actor: TransitionActor, @Body() body: BulkActionDto): Promise<BulkResultDto> {
    const filter = { ...filterOf(body.filter, 'filter.'), ...(body.filter.state ? { state: body.filter.state } : {}) };
    if (Object.keys(filter).length === 0) {
      throw new BadRequestException({
        statusCode: 400,
        error: 'Bad Request',
        message: 'filter must name at least one of state, repositoryId, createdFrom, createdTo, updatedFrom, updatedTo',
        errors: [{ field: 'filter', messages: ['must not be empty (an empty filter would act on every job)'] }],
      });
    }
    const event = (body.type === 'MARK_CANCELLED' ? { type: body.type, ...(body.reason ? { reason: body.reason } : {}) } : { type: body.type }) as JobEvent;
    return { type: body.type, ...(await this.bulkActions.send(tenantId, filter, event, body.limit ?? 100, { kind: 'bulk', id: actor.id })) };
  }

  @Get(':id')
  @ApiOperation({ summary: 'State, context summary, accepted events and history of a job.' })
  @ApiOkResponse({ type: JobDetailDto })
  @ApiErrors({ 404: true })
  async get(@TenantId() tenantId: string, @Param('id', jobIdPipe) id: string): Promise<JobDetailDto> {
    const job = await this.jobs.get(tenantId, id);
    return toDetail(job, this.jobs.acceptedFor(job));
  }

  @Get(':id/history')
  @ApiOperation({ summary: 'Committed transitions, oldest first.' })
  @ApiOkResponse({ type: [TransitionDto] })
  @ApiErrors({ 404: true })
  async history(@TenantId() tenantId: string, @Param('id', jobIdPipe) id: string): Promise<TransitionDto[]> {
    return (await this.jobs.get(tenantId, id)).history;
  }

  @Post(':id/cancel')
  @HttpCode(200)
  @ApiOperation({ summary: 'Send MARK_CANCELLED; a running agent call is aborted in whichever worker runs it.' })
  @ApiOkResponse({ type: JobDetailDto })
  @ApiErrors({ 404: true, 409: 'The job is in a final state ({ code: ILLEGAL_EVENT, state, acceptedEvents }), or changed meanwhile ({ code: CONCURRENT_UPDATE }).' })
  cancel(@TenantId() tenantId: string, @RequestActor() actor: TransitionActor, @Param('id', jobIdPipe) id: string): Promise<JobDetailDto> {
    return this.sendAndShow(tenantId, id, { type: 'MARK_CANCELLED' }, actor);
  }

  @Post(':id/retry')
  @HttpCode(200)
  @ApiOperation({ summary: 'Send RETRY: from FAILED, resume at the stage that failed.' })
  @ApiOkResponse({ type: JobDetailDto })
  @ApiErrors({ 404: true, 409: 'The job is not FAILED ({ code: ILLEGAL_EVENT, state, acceptedEvents }), or changed meanwhile ({ code: CONCURRENT_UPDATE }).' })
  retry(@TenantId() tenantId: string, @RequestActor() actor: TransitionActor, @Param('id', jobIdPipe) id: string): Promise<JobDetailDto> {
    return this.sendAndShow(tenantId, id, { type: 'RETRY' }, actor);
  }

  @Post(':id/events')
  @HttpCode(200)
  @ApiOperation({ summary: 'Send any external event the current state accepts; otherwise 409 naming the state and accepted events.' })
  @ApiOkResponse({ type: JobDetailDto })
  @JsonBody()
  @ApiErrors({
    400: 'An unknown event type or a malformed field; `errors` names it.',
    404: true,
    409: 'The current state does not accept the event ({ code: ILLEGAL_EVENT, state, acceptedEvents }), or the job changed meanwhile ({ code: CONCURRENT_UPDATE }).',
  })
  events(@TenantId() tenantId: string, @RequestActor() actor: TransitionActor, @Param('id', jobIdPipe) id: string, @Body() body: SendEventDto): Promise<JobDetailDto> {
    const event = (
      body.type === 'MARK_CANCELLED'
        ? { type: body.type, ...(body.reason ? { reason: body.reason } : {}) }
        : body.type === 'RETRY'
          ? { type: body.type, ...(body.budgetUsd !== undefined ? { budgetUsd: body.budgetUsd } : {}), ...(body.budgetTokens !== undefined ? { budgetTokens: body.budgetTokens } : {}) }
          : { type: body.type }
    ) as JobEvent;
    return this.sendAndShow(tenantId, id, event, actor);
  }

  private async sendAndShow(tenantId: string, id: string, event: JobEvent, actor: TransitionActor): Promise<JobDetailDto> {
    const job = await this.jobs.send(tenantId, id, event, actor);
    return toDetail(job, this.jobs.acceptedFor(job));
  }
}

/**
 * The repository filter of a query. @throws BadRequestException naming the field (after
 * `fieldPrefix`, e.g. `filter.`) when a range's start is after its end.
 */
function filterOf(query: JobFilterQueryDto, fieldPrefix = ''): Omit<JobListFilter, 'state'> {
  // ISO-8601 allows forms Date cannot read (20260201, 2026-W05, 2026-032): an Invalid Date would
  // reach the store as 1970 and match everything, so it is a 400 naming the field.
  const date = (v: string | undefined, field: string) => {
    if (v === undefined) return undefined;
    const d = new Date(v);
    if (Number.isNaN(d.getTime())) {
      throw new BadRequestException({
        statusCode: 400,
        error: 'Bad Request',
        message: `${fieldPrefix}${field} must be a date-time such as 2026-12-01T00:00:00Z`,
        errors: [{ field: `${fieldPrefix}${field}`, messages: ['must be a date-time such as 2026-12-01T00:00:00Z (extended ISO-8601 format)'] }],
      });
    }
    return d;
  };
  const filter = {
    repositoryId: query.repositoryId,
    createdFrom: date(query.createdFrom, 'createdFrom'),
    createdTo: date(query.createdTo, 'createdTo'),
    updatedFrom: date(query.updatedFrom, 'updatedFrom'),
    updatedTo: date(query.updatedTo, 'updatedTo'),
  };
  for (const [from, to, field] of [
    [filter.createdFrom, filter.createdTo, 'createdTo'],
    [filter.updatedFrom, filter.updatedTo, 'updatedTo'],
  ] as const) {
    if (from && to && from > to) {
      throw new BadRequestException({
        statusCode: 400,
        error: 'Bad Request',
        message: `${fieldPrefix}${field} is before ${fieldPrefix}${field.replace('To', 'From')}`,
        errors: [{ field: `${fieldPrefix}${field}`, messages: [`must not be before ${field.replace('To', 'From')}`] }],
      });
    }
  }
  return Object.fromEntries(Object.entries(filter).filter(([, v]) => v !== undefined)) as Omit<JobListFilter, 'state'>;
}
