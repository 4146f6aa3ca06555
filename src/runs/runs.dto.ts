import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsIn, IsInt, IsObject, IsOptional, IsString, Matches, Max, MaxLength, Min } from 'class-validator';
import { RUN_STATUSES, type RunStatus } from '../pipelines/pipeline.types';

export class CreateRunDto {
  @ApiProperty({ example: 'dev-test-regression', description: 'Template name (the tenant\'s own, else the built-in one).' })
  @IsString()
  @Matches(/^[a-z][a-z0-9-]{0,62}$/, { message: 'template must be a template name (lowercase letters, digits and "-")' })
  template!: string;

  @ApiPropertyOptional({ example: 1, description: 'Template version; default the latest. A run keeps its version.' })
  @IsOptional()
  @IsInt()
  @Min(1)
  version?: number;

  @ApiPropertyOptional({ example: { test: 'go test ./...' }, description: 'The run\'s inputs (immutable). A scalar input `x` reaches every step as AICD_INPUT_X; `repository` (a path or git URL) is cloned as the run\'s workspace.' })
  @IsOptional()
  @IsObject()
  inputs?: Record<string, unknown>;
}

export class ListRunsQueryDto {
  @ApiPropertyOptional({ enum: RUN_STATUSES })
  @IsOptional()
  @IsIn(RUN_STATUSES as unknown as string[], { message: `status must be one of ${RUN_STATUSES.join(', ')}` })
  status?: RunStatus;

  @ApiPropertyOptional({ example: 'fan-out-fan-in' })
  @IsOptional()
  @IsString()
  @MaxLength(63)
  template?: string;

  @ApiPropertyOptional({ minimum: 1, maximum: 100, default: 20 })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(100)
  limit?: number;

  @ApiPropertyOptional({ description: 'Opaque cursor from the previous page\'s nextCursor.' })
  @IsOptional()
  @IsString()
  @MaxLength(500)
  cursor?: string;
}

export class TemplateVersionQueryDto {
  @ApiPropertyOptional({ minimum: 1, description: 'A version; default the latest.' })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  version?: number;
}

export class TemplateChartQueryDto extends TemplateVersionQueryDto {
  @ApiPropertyOptional({ enum: ['mmd', 'scxml', 'json'], default: 'mmd' })
  @IsOptional()
  @IsIn(['mmd', 'scxml', 'json'], { message: 'format must be one of mmd, scxml, json' })
  format?: 'mmd' | 'scxml' | 'json';
}

/** A stored template version as the API shows it. */
export class TemplateVersionDto {
  @ApiProperty({ example: 'dev-test-regression' }) name!: string;
  @ApiProperty({ example: 1 }) version!: number;
  @ApiProperty({ example: 'builtin', description: '`builtin` or the tenant id.' }) owner!: string;
  @ApiProperty({ description: 'The template with defaults applied (see README "Pipelines").', type: 'object', additionalProperties: true }) template!: Record<string, unknown>;
  @ApiProperty() createdAt!: string;
  @ApiProperty({ example: 'pipeline:dev-test-regression@1', description: 'Its statechart: GET /statecharts/{chart}?format=mmd|scxml|json|svg.' }) chart!: string;
  @ApiPropertyOptional({ description: 'Set when the template is paused after consecutive failed runs (TEMPLATE_QUARANTINED).', nullable: true, type: String }) quarantined?: string | null;
}

/** A run as the API shows it. */
export class RunDto {
  @ApiProperty({ example: 'run_0b8c…' }) id!: string;
  @ApiProperty({ example: { name: 'fan-out-fan-in', version: 1 } }) template!: { name: string; version: number };
  @ApiProperty({ enum: RUN_STATUSES }) status!: RunStatus;
  @ApiProperty({ description: 'Compare-and-set version: incremented by every commit.' }) version!: number;
  @ApiProperty({ type: 'object', additionalProperties: true }) inputs!: Record<string, unknown>;
  @ApiProperty({ description: 'Steps by id: status, visit, reason, error, artifacts (output name → artifact id).', type: 'object', additionalProperties: true }) steps!: Record<string, unknown>;
  @ApiProperty({ description: 'Steps spawned at run time (regression): id, parentStepId, depth, status, regressionContext.', type: 'array', items: { type: 'object' } }) spawned!: unknown[];
  @ApiProperty({ description: 'Counts by status, percent, elapsedMs, etaMs.', type: 'object', additionalProperties: true }) progress!: Record<string, unknown>;
  @ApiProperty({ nullable: true, type: 'object', additionalProperties: true, description: '{ code, message } once failed, quarantined or canceled.' }) error!: { code: string; message: string } | null;
  @ApiProperty({ type: [String], description: 'Events a person may send now (CANCEL, RELEASE, RETRY_STEP).' }) acceptedEvents!: string[];
  @ApiProperty() createdAt!: string;
  @ApiProperty() updatedAt!: string;
  @ApiProperty({ nullable: true, type: String }) startedAt!: string | null;
  @ApiProperty({ nullable: true, type: String }) endedAt!: string | null;
}

export class RunPageDto {
  @ApiProperty({ type: [RunDto] }) items!: RunDto[];
  @ApiProperty({ nullable: true, type: String }) nextCursor!: string | null;
}
