import { BadRequestException, Controller, Get, Inject, NotFoundException, Optional, Param, Query, Res } from '@nestjs/common';
import {
  ApiOkResponse,
  ApiOperation,
  ApiParam,
  ApiProduces,
  ApiQuery,
  ApiTags,
} from '@nestjs/swagger';
import type { Response } from 'express';
import { ApiErrors, ApiStoreErrors } from '../common/api-errors';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { TenantId } from '../common/tenant.decorator';
import { JobsService } from '../jobs/jobs.service';
import { Authenticated } from '../tenants/tenant-auth.guard';
import { upgradeSnapshot } from '../lifecycle/snapshot-migrations';
import { toMermaid } from './mermaid';
import {
  graphJsonOf,
  mermaidOf,
  scxmlOf,
  STATECHART_CONTENT_TYPES,
  STATECHART_FORMATS,
  type StatechartFormat,
} from './statechart.formats';
import { jobIdPipe } from '../common/job-id.pipe';
import { PIPELINE_CHART_SOURCE, resolveStatechart, type PipelineChartSource } from './pipeline-chart-source';
import { modelOf, STATECHART_NAMES, STATECHARTS, statechartFileBase } from './statecharts.registry';

/** The exported pictures (`npm run statecharts`): `statecharts/` at the repository root. */
function statechartsDir(): string | undefined {
  const candidates = [join(process.cwd(), 'statecharts'), resolve(__dirname, '..', '..', 'statecharts'), resolve(__dirname, '..', '..', '..', 'statecharts')];
  return candidates.find((dir) => existsSync(dir));
}

/**
 * The statecharts as diagrams: Mermaid, SCXML and the directed graph are computed from the
 * machine definition at run time; the SVG picture is the file exported to `statecharts/`.
 * Names resolve through {@link resolveStatechart}: the registered charts (`job`, the built-in
 * pipeline templates' `pipeline:<template>@1`), then stored pipeline template versions when a
 * {@link PipelineChartSource} is provided under PIPELINE_CHART_SOURCE (optional).
 * A job's own diagram highlights its current state and the transitions it took.
 */
@ApiTags('statecharts')
@Controller()
export class StatechartsController {
  constructor(
    private readonly jobs: JobsService,
    @Optional() @Inject(PIPELINE_CHART_SOURCE) private readonly pipelineCharts?: PipelineChartSource | null,
  ) {}

  @Get('statecharts/:machine')
  @ApiOperation({ summary: 'A statechart as Mermaid (default), SCXML, directed-graph JSON or SVG.' })
  @ApiParam({
    name: 'machine',
    example: 'job',
    description: `A chart name: ${STATECHART_NAMES.join(', ')}, or pipeline:<template>@<version> for a stored pipeline template version (svg only for the exported ones).`,
  })
  @ApiQuery({ name: 'format', enum: STATECHART_FORMATS, required: false, description: 'Default mmd.' })
  @ApiProduces('text/plain', 'application/xml', 'application/json', 'image/svg+xml')
  @ApiOkResponse({ description: 'The diagram (text/plain for mmd, application/xml for scxml, application/json for json, image/svg+xml for svg).' })
  @ApiErrors({
    404: '{ code: STATECHART_NOT_FOUND } for an unknown machine (or an svg not exported).',
    400: '{ code: BAD_FORMAT } for a format other than mmd, scxml, json, svg; `errors` names format.',
    500: true,
  })
  async statechart(
    @Param('machine') machine: string,
    @Query('format') format: string | undefined,
    @Res({ passthrough: true }) res: Response,
  ): Promise<string> {
    const entry = await resolveStatechart(machine, this.pipelineCharts);
    if (!entry) {
      throw new NotFoundException({ error: 'Not Found', code: 'STATECHART_NOT_FOUND', message: `no statechart named ${machine}; known: ${STATECHART_NAMES.join(', ')}` });
    }
    const f = (format ?? 'mmd') as StatechartFormat;
    if (!STATECHART_FORMATS.includes(f)) {
      const message = `format must be one of ${STATECHART_FORMATS.join(', ')}`;
      throw new BadRequestException({ error: 'Bad Request', code: 'BAD_FORMAT', message, errors: [{ field: 'format', messages: [message] }] });
    }
    const exported = Object.hasOwn(STATECHARTS, entry.name);
    const body = f === 'svg' ? await this.svg(machine, exported) : { mmd: mermaidOf, scxml: scxmlOf, json: graphJsonOf }[f](entry);
    res.type(STATECHART_CONTENT_TYPES[f]);
    return body;
  }

  @Get('jobs/:id/statechart')
  @ApiTags('jobs')
  @Authenticated()
  @ApiOperation({
    summary: "The job's statechart as Mermaid: its current state (class current), the states it passed (class visited) and the transitions it took (labels marked `(taken)`).",
  })
  @ApiProduces('text/plain')
  @ApiOkResponse({ description: 'Mermaid stateDiagram-v2 (text/plain).' })
  @ApiErrors({
    404: true,
    409: '{ code: UNKNOWN_MACHINE_VERSION }: the job was written by a machine version this build cannot read.',
  })
  @ApiStoreErrors()
  async jobStatechart(@TenantId() tenantId: string, @Param('id', jobIdPipe) id: string, @Res({ passthrough: true }) res: Response): Promise<string> {
    const job = await this.jobs.get(tenantId, id);
    // A snapshot this build cannot read is refused here too (409 UNKNOWN_MACHINE_VERSION): its
    // states and transitions need not be this machine's.
    upgradeSnapshot(job.machineVersion, job.snapshot);
    res.type(STATECHART_CONTENT_TYPES.mmd);
    return toMermaid(modelOf('job'), {
      header: `Job ${job.id} (machine version ${job.machineVersion}): ${job.state} after ${job.history.length} transition(s).`,
      highlight: { current: job.state, taken: job.history },
    });
  }

  /** The exported picture of a registered chart (`statecharts/<file base>.svg`); other charts have none. */
  private async svg(machine: string, exported: boolean): Promise<string> {
    const dir = statechartsDir();
    const file = exported && dir ? join(dir, `${statechartFileBase(machine)}.svg`) : undefined;
    if (!file || !existsSync(file)) {
      const why = exported ? 'has not been exported (npm run statecharts)' : 'is only rendered for the exported charts (npm run statecharts); use format=mmd, scxml or json';
      throw new NotFoundException({ error: 'Not Found', code: 'STATECHART_NOT_FOUND', message: `the SVG of ${machine} ${why}` });
    }
    return readFile(file, 'utf8');
  }
}
