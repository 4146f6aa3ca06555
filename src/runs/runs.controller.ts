import { Body, Controller, Get, HttpCode, Param, Post, Query, Res } from '@nestjs/common';
import type { Response } from 'express';
import { runChart } from './run-charts';
import { ApiCreatedResponse, ApiOkResponse, ApiOperation, ApiProduces, ApiTags } from '@nestjs/swagger';
import { ApiErrors, ApiStoreErrors } from '../common/api-errors';
import { JsonBody } from '../common/json-body.guard';
import { RequestActor, TenantId } from '../common/tenant.decorator';
import type { TransitionActor } from '../lifecycle/job.types';
import { EXTERNAL_PIPELINE_EVENTS } from '../pipelines/pipeline.types';
import type { RunActor } from '../pipelines/run-events';
import { accepts } from '../runtime/persisted-actor';
import { Authenticated } from '../tenants/tenant-auth.guard';
import { PipelineNotFoundError } from './run.errors';
import type { RunRecord } from './run.record';
import { RunEngine } from './run-engine';
import { CreateRunDto, ListRunsQueryDto, RunDto, RunPageDto } from './runs.dto';
import { RunsService } from './runs.service';

const RUN_ID = /^run_[0-9a-f-]{36}$/;
const STEP_ID = /^[a-z][a-z0-9_-]{0,62}$/;

function runActor(a: TransitionActor): RunActor {
  return { kind: 'api', id: a.id };
}

/** Runs of the caller's tenant. Another tenant's run answers 404. */
@ApiTags('runs')
@Authenticated()
@ApiStoreErrors()
@Controller()
export class RunsController {
  constructor(
    private readonly runs: RunsService,
    private readonly engine: RunEngine,
  ) {}

  @Post('runs')
  @ApiOperation({ summary: 'Start a run of a template (latest version unless `version`); it is stored in pending and started at once.' })
  @ApiCreatedResponse({ type: RunDto })
  @JsonBody()
  @ApiErrors({ 400: 'A malformed body; `errors` names the field.', 404: 'No such template (or version).', 409: 'The template is quarantined ({ code: TEMPLATE_QUARANTINED }).' })
  async create(@TenantId() tenantId: string, @RequestActor() actor: TransitionActor, @Body() body: CreateRunDto): Promise<RunDto> {
    return this.show(await this.runs.create(tenantId, body.template, body.version, body.inputs ?? {}, runActor(actor)));
  }

  @Get('runs')
  @ApiOperation({ summary: 'List runs, most recently updated first, by status and template.' })
  @ApiOkResponse({ type: RunPageDto })
  @ApiErrors({ 400: 'A malformed status, template, limit or cursor; `errors` names it.' })
  async list(@TenantId() tenantId: string, @Query() q: ListRunsQueryDto): Promise<RunPageDto> {
    const page = await this.runs.list(tenantId, { limit: q.limit ?? 20, ...(q.status ? { status: q.status } : {}), ...(q.template ? { template: q.template } : {}), ...(q.cursor ? { cursor: q.cursor } : {}) });
    return { items: await Promise.all(page.items.map((r) => this.show(r))), nextCursor: page.nextCursor };
  }

  @Get('runs/:id')
  @ApiOperation({ summary: 'A run: status, every step with its status, spawned steps, progress, accepted events.' })
  @ApiOkResponse({ type: RunDto })
  @ApiErrors({ 404: true })
  async get(@TenantId() tenantId: string, @Param('id') id: string): Promise<RunDto> {
    return this.show(await this.runs.get(tenantId, checkRunId(id)));
  }

  @Get('runs/:id/statechart')
  @ApiOperation({ summary: 'The run\'s statechart as Mermaid: every region\'s current state highlighted (class current), the transitions it took marked (taken).' })
  @ApiProduces('text/plain')
  @ApiOkResponse({ description: 'Mermaid stateDiagram-v2 (text/plain).' })
  @ApiErrors({ 404: true })
  async statechart(@TenantId() tenantId: string, @Param('id') id: string, @Res({ passthrough: true }) res: Response): Promise<string> {
    const run = await this.runs.get(tenantId, checkRunId(id));
    const { template } = await this.engine.templateOf(run);
    res.type('text/plain');
    return runChart(template, run);
  }

  @Get('runs/:id/events')
  @ApiOperation({ summary: 'The run\'s audit (run_events): every run and step transition, oldest first, with who caused it.' })
  @ApiOkResponse({ description: 'Array of { seq, at, kind, step?, from, to, event, visit?, detail?, parentStepId?, actor }.' })
  @ApiErrors({ 404: true })
  async events(@TenantId() tenantId: string, @Param('id') id: string) {
    return (await this.runs.get(tenantId, checkRunId(id))).events;
  }

  @Get('runs/:id/progress')
  @ApiOperation({ summary: 'Counts of steps by status, percent done, elapsed ms and an ETA (ms) from the template\'s past step durations.' })
  @ApiOkResponse({ description: '{ counts, total, done, percent, elapsedMs, etaMs }' })
  @ApiErrors({ 404: true })
  async progress(@TenantId() tenantId: string, @Param('id') id: string) {
    return this.runs.progress(await this.runs.get(tenantId, checkRunId(id)));
  }

  @Get('runs/:id/attempts')
  @ApiOperation({ summary: 'The run\'s step attempts (step_attempts): tool, router choice, pid, host, heartbeat, exit, duration, usage, error, output tails.' })
  @ApiOkResponse({ description: 'Array of step attempts, oldest first.' })
  @ApiErrors({ 404: true })
  attempts(@TenantId() tenantId: string, @Param('id') id: string) {
    return this.runs.attemptsOf(tenantId, checkRunId(id));
  }

  @Get('runs/:id/artifacts')
  @ApiOperation({ summary: 'The run\'s artifacts (name, kind, SHA-256, bytes, files, producer) and every consumption record.' })
  @ApiOkResponse({ description: '{ artifacts: [...], consumption: [...] }' })
  @ApiErrors({ 404: true })
  artifacts(@TenantId() tenantId: string, @Param('id') id: string) {
    return this.runs.artifactsOf(tenantId, checkRunId(id));
  }

  @Get('artifacts/:id/lineage')
  @ApiOperation({ summary: 'Who produced a run artifact (run, step, visit, attempt) and who consumed it (with the hash they read).' })
  @ApiOkResponse({ description: '{ artifact, producer, consumers }' })
  @ApiErrors({ 404: true })
  lineage(@TenantId() tenantId: string, @Param('id') id: string) {
    return this.runs.lineage(tenantId, id);
  }

  @Post('runs/:id/cancel')
  @HttpCode(200)
  @ApiOperation({ summary: 'Send CANCEL: the run goes to canceled and every running step\'s process group is killed, in whichever worker runs it.' })
  @ApiOkResponse({ type: RunDto })
  @ApiErrors({ 404: true, 409: 'The run has ended ({ code: ILLEGAL_EVENT, state, acceptedEvents }).' })
  async cancel(@TenantId() tenantId: string, @RequestActor() actor: TransitionActor, @Param('id') id: string): Promise<RunDto> {
    return this.show(await this.runs.send(tenantId, checkRunId(id), { type: 'CANCEL', reason: `canceled by ${actor.id}` }, runActor(actor)));
  }

  @Post('runs/:id/release')
  @HttpCode(200)
  @ApiOperation({ summary: 'Send RELEASE: a quarantined run goes on; the steps it interrupted run again.' })
  @ApiOkResponse({ type: RunDto })
  @ApiErrors({ 404: true, 409: 'The run is not quarantined ({ code: ILLEGAL_EVENT, state, acceptedEvents }).' })
  async release(@TenantId() tenantId: string, @RequestActor() actor: TransitionActor, @Param('id') id: string): Promise<RunDto> {
    return this.show(await this.runs.send(tenantId, checkRunId(id), { type: 'RELEASE' }, runActor(actor)));
  }

  @Post('runs/:id/steps/:step/retry')
  @HttpCode(200)
  @ApiOperation({ summary: 'Send RETRY_STEP: from failed or quarantined, rerun this step and what depends on it; what is upstream keeps its result and artifacts.' })
  @ApiOkResponse({ type: RunDto })
  @ApiErrors({ 400: 'A malformed step id.', 404: 'No such run, or no such step in its template.', 409: 'The run is not failed or quarantined ({ code: ILLEGAL_EVENT, state, acceptedEvents }).' })
  async retryStep(@TenantId() tenantId: string, @RequestActor() actor: TransitionActor, @Param('id') id: string, @Param('step') step: string): Promise<RunDto> {
    if (!STEP_ID.test(step)) throw new PipelineNotFoundError('STEP_NOT_FOUND', `step ${JSON.stringify(step)} not found`);
    return this.show(await this.runs.retryStep(tenantId, checkRunId(id), step, runActor(actor)));
  }

  private async show(run: RunRecord): Promise<RunDto> {
    const { machine } = await this.engine.templateOf(run);
    const ctx = run.snapshot.context;
    const acceptedEvents = EXTERNAL_PIPELINE_EVENTS.filter((type) =>
      accepts(machine, run.snapshot, (type === 'RETRY_STEP' ? { type, step: Object.keys(ctx.steps)[0] } : { type }) as never),
    );
    return {
      id: run.id,
      template: { name: run.template.name, version: run.template.version },
      status: run.status,
      version: run.version,
      inputs: run.inputs,
      steps: ctx.steps,
      spawned: ctx.spawned,
      progress: { ...(await this.runs.progress(run)) },
      error: ctx.error,
      acceptedEvents,
      createdAt: run.createdAt.toISOString(),
      updatedAt: run.updatedAt.toISOString(),
      startedAt: run.startedAt?.toISOString() ?? null,
      endedAt: run.endedAt?.toISOString() ?? null,
    };
  }
}

/** A run id must look like one; anything else is an unknown run (404), not a server error. */
function checkRunId(id: string): string {
  if (!RUN_ID.test(id)) throw new PipelineNotFoundError('RUN_NOT_FOUND', `run ${id} not found`);
  return id;
}
