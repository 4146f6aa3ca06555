import { BadRequestException, Controller, Get, NotFoundException, Param, Query, Res } from '@nestjs/common';
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
import { modelOf, STATECHART_NAMES, STATECHARTS } from './statecharts.registry';


/** The exported pictures (`npm run statecharts`): `statecharts/` at the repository root. */
function statechartsDir(): string | undefined {
  const candidates = [join(process.cwd(), 'statecharts'), resolve(__dirname, '..', '..', 'statecharts'), resolve(__dirname, '..', '..', '..', 'statecharts')];
  return candidates.find((dir) => existsSync(dir));
}

/**
 * The lifecycle statecharts as diagrams: Mermaid, SCXML and the directed graph are computed from
 * the machine definition at run time; the SVG picture is the file exported to `statecharts/`.
 * A job's own diagram highlights its current state and the transitions it took.
 */
@ApiTags('statecharts')
@Controller()
export class StatechartsController {
  constructor(private readonly jobs: JobsService) {}

  @Get('statecharts/:machine')
  @ApiOperation({ summary: 'A statechart as Mermaid (default), SCXML, directed-graph JSON or SVG.' })
  @ApiParam({ name: 'machine', enum: STATECHART_NAMES, example: 'job' })
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
    if (!Object.hasOwn(STATECHARTS, machine)) {
      throw new NotFoundException({ error: 'Not Found', code: 'STATECHART_NOT_FOUND', message: `no statechart named ${machine}; known: ${STATECHART_NAMES.join(', ')}` });
    }
    const f = (format ?? 'mmd') as StatechartFormat;
    if (!STATECHART_FORMATS.includes(f)) {
      const message = `format must be one of ${STATECHART_FORMATS.join(', ')}`;
      throw new BadRequestException({ error: 'Bad Request', code: 'BAD_FORMAT', message, errors: [{ field: 'format', messages: [message] }] });
    }
    const body = f === 'svg' ? await this.svg(machine) : { mmd: mermaidOf, scxml: scxmlOf, json: graphJsonOf }[f](machine);
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

  private async svg(machine: string): Promise<string> {
    const dir = statechartsDir();
    const file = dir && join(dir, `${machine}.svg`);
    if (!file || !existsSync(file)) {
      throw new NotFoundException({ error: 'Not Found', code: 'STATECHART_NOT_FOUND', message: `${machine}.svg has not been exported (npm run statecharts)` });
    }
    return readFile(file, 'utf8');
  }
}
