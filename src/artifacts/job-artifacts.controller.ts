import { Controller, Get, Param, Res } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiProduces, ApiTags } from '@nestjs/swagger';
import { ApiErrors, ApiStoreErrors } from '../common/api-errors';
import type { Response } from 'express';
import { jobIdPipe } from '../common/job-id.pipe';
import { TenantId } from '../common/tenant.decorator';
import { ArtifactRefDto } from '../jobs/dto/job.dto';
import { JobsService } from '../jobs/jobs.service';
import { Authenticated } from '../tenants/tenant-auth.guard';
import { ArtifactNotFoundError, ArtifactStore } from './artifact.store';

/** A job's artifacts (plans, diffs, check outputs) — the caller's tenant only. */
@ApiTags('jobs')
@Authenticated()
@ApiStoreErrors()
@Controller('jobs')
export class JobArtifactsController {
  constructor(
    private readonly jobs: JobsService,
    private readonly artifacts: ArtifactStore,
  ) {}

  @Get(':id/artifacts')
  @ApiOperation({ summary: 'The artifacts the job\'s stages produced, oldest first, with SHA-256 and size.' })
  @ApiOkResponse({ type: [ArtifactRefDto] })
  @ApiErrors({ 404: true })
  async list(@TenantId() tenantId: string, @Param('id', jobIdPipe) id: string) {
    await this.jobs.get(tenantId, id);
    return (await this.artifacts.listForJob(id)).map((a) => ({ ...a, createdAt: a.createdAt.toISOString() }));
  }

  @Get(':id/artifacts/:artifactId')
  @ApiOperation({ summary: 'An artifact\'s content (its content type; `X-Content-SHA256`). A hash mismatch on read is a 500 naming ARTIFACT_CORRUPT.' })
  @ApiProduces('text/plain', 'text/markdown', 'text/x-diff', 'application/octet-stream')
  @ApiOkResponse({ description: 'The content.' })
  @ApiErrors({ 404: 'No such job, or no such artifact of it ({ code: JOB_NOT_FOUND | ARTIFACT_NOT_FOUND }).', 500: 'The stored content does not match its SHA-256 ({ code: ARTIFACT_CORRUPT }), or an unexpected error.' })
  async content(@TenantId() tenantId: string, @Param('id', jobIdPipe) id: string, @Param('artifactId') artifactId: string, @Res() res: Response): Promise<void> {
    await this.jobs.get(tenantId, id);
    const { record, content } = await this.artifacts.get(artifactId);
    if (record.jobId !== id) throw new ArtifactNotFoundError(artifactId);
    res.setHeader('Content-Type', record.contentType);
    res.setHeader('X-Content-SHA256', record.sha256);
    res.setHeader('Content-Disposition', `inline; filename="${record.name.replace(/[^\w.-]/g, '_')}"`);
    res.status(200).send(content);
  }
}
