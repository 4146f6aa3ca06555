import { applyDecorators, Body, CanActivate, Controller, ExecutionContext, Get, HttpCode, Injectable, Param, Post, Query, Res, UseGuards } from '@nestjs/common';
import { checkBodyType } from '../common/json-body.guard';
import { ApiBody, ApiConsumes, ApiCreatedResponse, ApiOkResponse, ApiOperation, ApiProduces, ApiQuery, ApiTags } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { ApiErrors, ApiStoreErrors } from '../common/api-errors';
import { TenantId } from '../common/tenant.decorator';
import { Authenticated } from '../tenants/tenant-auth.guard';
import type { TemplateVersion } from './mongo-template.repository';
import { PipelineNotFoundError } from './run.errors';
import { TemplateChartQueryDto, TemplateVersionDto, TemplateVersionQueryDto } from './runs.dto';
import { templateChart, TEMPLATE_CHART_FORMATS } from './run-charts';
import { STATECHART_CONTENT_TYPES } from '../statecharts/statechart.formats';
import { RunsService } from './runs.service';

/** Content types a template may be posted as. */
export const YAML_TYPES = ['application/yaml', 'application/x-yaml', 'text/yaml'];
const TEMPLATE_TYPE = /^(application\/(?:[\w.+-]+\+)?json|application\/yaml|application\/x-yaml|text\/yaml)\s*(?:;|$)/i;
const NAME = /^[a-z][a-z0-9-]{0,62}$/;

/** 415 unless the body is JSON or YAML. */
@Injectable()
class TemplateBodyGuard implements CanActivate {
  canActivate(ctx: ExecutionContext): boolean {
    checkBodyType(ctx.switchToHttp().getRequest<Request>(), TEMPLATE_TYPE, 'a template in JSON (application/json) or YAML (application/yaml)', 'application/json or application/yaml');
    return true;
  }
}

function TemplateBody() {
  return applyDecorators(UseGuards(TemplateBodyGuard), ApiConsumes('application/json', 'application/yaml'), ApiErrors({ 413: true, 415: true }));
}

function present(t: TemplateVersion, quarantined: string | null = null): TemplateVersionDto {
  return { name: t.name, version: t.version, owner: t.owner, template: t.template as unknown as Record<string, unknown>, createdAt: t.createdAt.toISOString(), chart: `pipeline:${t.name}@${t.version}`, quarantined };
}

function checkName(name: string): string {
  if (!NAME.test(name)) throw new PipelineNotFoundError('TEMPLATE_NOT_FOUND', `template ${JSON.stringify(name)} not found`);
  return name;
}

/** Pipeline templates: the tenant's own (versioned) and the built-in ones. */
@ApiTags('pipelines')
@Authenticated()
@ApiStoreErrors()
@Controller('pipeline-templates')
export class PipelineTemplatesController {
  constructor(private readonly runs: RunsService) {}

  @Post()
  @ApiOperation({ summary: 'Store a template (JSON or YAML) as the next version of its name; an unchanged template returns the latest version (200). Runs keep the version they started with.' })
  @ApiBody({ schema: { type: 'object', additionalProperties: true, description: 'See README "Pipelines": name, steps[{ id, tool, with, needs, inputs, outputs, retries, timeoutMs, heartbeatMs }], maxParallel, failFast, …' } })
  @ApiCreatedResponse({ type: TemplateVersionDto, description: 'A new version.' })
  @ApiOkResponse({ type: TemplateVersionDto, description: 'The template equals its latest version.' })
  @TemplateBody()
  @ApiErrors({ 400: 'An invalid template; `errors` names each JSON path (e.g. steps[1].needs[0].step), a cycle is named (a → b → a).' })
  async create(@TenantId() tenantId: string, @Body() body: unknown, @Res({ passthrough: true }) res: Response): Promise<TemplateVersionDto> {
    const { stored, created } = await this.runs.saveTemplate(tenantId, body);
    res.status(created ? 201 : 200);
    return present(stored);
  }

  @Get()
  @ApiOperation({ summary: 'The latest version of every template the tenant can run (its own, and the built-in ones it does not shadow).' })
  @ApiOkResponse({ type: [TemplateVersionDto] })
  @ApiErrors({ 400: true })
  async list(@TenantId() tenantId: string): Promise<TemplateVersionDto[]> {
    const all = await this.runs.listTemplates(tenantId);
    return Promise.all(all.map(async (t) => present(t, await this.runs.pausedReason(tenantId, t.name))));
  }

  @Get(':name')
  @ApiOperation({ summary: 'One template: the latest version, or `?version=`.' })
  @ApiOkResponse({ type: TemplateVersionDto })
  @ApiErrors({ 400: 'A malformed version.', 404: true })
  async get(@TenantId() tenantId: string, @Param('name') name: string, @Query() q: TemplateVersionQueryDto): Promise<TemplateVersionDto> {
    const t = await this.runs.template(tenantId, checkName(name), q.version);
    return present(t, await this.runs.pausedReason(tenantId, t.name));
  }

  @Get(':name/versions')
  @ApiOperation({ summary: 'Every version of a template, newest first.' })
  @ApiOkResponse({ type: [TemplateVersionDto] })
  @ApiErrors({ 400: true, 404: true })
  async versions(@TenantId() tenantId: string, @Param('name') name: string): Promise<TemplateVersionDto[]> {
    return (await this.runs.templateVersions(tenantId, checkName(name))).map((t) => present(t));
  }

  @Get(':name/statechart')
  @ApiOperation({ summary: 'The statechart a template version compiles to (the same model as statecharts/): Mermaid (default), SCXML or directed-graph JSON.' })
  @ApiQuery({ name: 'format', enum: TEMPLATE_CHART_FORMATS, required: false })
  @ApiProduces('text/plain', 'application/xml', 'application/json')
  @ApiOkResponse({ description: 'The diagram.' })
  @ApiErrors({ 400: 'A malformed version or format; `errors` names it.', 404: true })
  async statechart(@TenantId() tenantId: string, @Param('name') name: string, @Query() q: TemplateChartQueryDto, @Res({ passthrough: true }) res: Response): Promise<string> {
    const t = await this.runs.template(tenantId, checkName(name), q.version);
    const format = q.format ?? 'mmd';
    res.type(STATECHART_CONTENT_TYPES[format]);
    return templateChart(t, format);
  }

  @Post(':name/release')
  @HttpCode(200)
  @ApiOperation({ summary: 'Lift a template\'s quarantine (paused after quarantineAfterConsecutiveFailures failed runs): new runs are accepted again.' })
  @ApiOkResponse({ type: TemplateVersionDto })
  @ApiErrors({ 400: true, 404: true })
  async release(@TenantId() tenantId: string, @Param('name') name: string): Promise<TemplateVersionDto> {
    await this.runs.releaseTemplate(tenantId, checkName(name));
    return present(await this.runs.template(tenantId, name));
  }
}

