import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  IsIn,
  IsInt,
  IsISO8601,
  IsNotEmpty,
  IsNumber,
  IsObject,
  IsOptional,
  IsString,
  IsUrl,
  Matches,
  Max,
  MaxLength,
  Min,
  ValidateNested,
} from 'class-validator';
import { EXTERNAL_EVENT_TYPES, JOB_STATES, type JobEventType, type JobState } from '../../lifecycle/job.types';

export class IssueDto {
  @ApiProperty({ example: '1347', description: 'Issue number or id in the source tracker.' })
  @IsString()
  @IsNotEmpty()
  @MaxLength(200)
  id!: string;

  @ApiProperty({ example: 'Spelling error in the README file' })
  @IsString()
  @IsNotEmpty()
  @MaxLength(1000)
  title!: string;

  @ApiProperty({ example: "It looks like you accidentally spelled 'commit' with two 't's.", description: 'Up to 65,536 characters.' })
  @IsString()
  @MaxLength(65_536)
  body!: string;

  @ApiProperty({ example: 'https://github.com/Codertocat/Hello-World/issues/1347' })
  @IsUrl({ require_tld: false, require_protocol: true })
  @MaxLength(2000)
  url!: string;
}

export class CreateJobDto {
  @ApiProperty({ example: 'Codertocat/Hello-World', description: 'Repository the change is for (owner/name).' })
  @IsString()
  @Matches(/^[\w.-]+\/[\w.-]+$/, { message: 'repositoryId must look like owner/name' })
  @MaxLength(200)
  repositoryId!: string;

  @ApiProperty({ type: IssueDto })
  @IsObject()
  @ValidateNested()
  @Type(() => IssueDto)
  issue!: IssueDto;

  @ApiPropertyOptional({ description: 'A repeat submission with the same key returns the existing job.', maxLength: 200 })
  @IsOptional()
  @IsString()
  @IsNotEmpty()
  @MaxLength(200)
  idempotencyKey?: string;
}

/** Filters shared by the listing and the counts (time bounds inclusive, ISO-8601). */
export class JobFilterQueryDto {
  @ApiPropertyOptional({ description: 'Exact repository, owner/name.', example: 'acme/widgets' })
  @IsOptional()
  @Matches(/^[\w.-]+\/[\w.-]+$/, { message: 'repositoryId must look like owner/name' })
  @MaxLength(200)
  repositoryId?: string;

  @ApiPropertyOptional({ description: 'Created at or after (ISO-8601).', example: '2026-12-01T00:00:00Z' })
  @IsOptional()
  @IsISO8601({ strict: true }, { message: 'createdFrom must be an ISO-8601 date-time' })
  createdFrom?: string;

  @ApiPropertyOptional({ description: 'Created at or before (ISO-8601).' })
  @IsOptional()
  @IsISO8601({ strict: true }, { message: 'createdTo must be an ISO-8601 date-time' })
  createdTo?: string;

  @ApiPropertyOptional({ description: 'Last updated at or after (ISO-8601).' })
  @IsOptional()
  @IsISO8601({ strict: true }, { message: 'updatedFrom must be an ISO-8601 date-time' })
  updatedFrom?: string;

  @ApiPropertyOptional({ description: 'Last updated at or before (ISO-8601).' })
  @IsOptional()
  @IsISO8601({ strict: true }, { message: 'updatedTo must be an ISO-8601 date-time' })
  updatedTo?: string;
}

export class ListJobsQueryDto extends JobFilterQueryDto {
  @ApiPropertyOptional({ enum: JOB_STATES })
  @IsOptional()
  @IsIn(JOB_STATES)
  state?: JobState;

  @ApiPropertyOptional({ minimum: 1, maximum: 100, default: 20 })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(100)
  limit?: number;

  @ApiPropertyOptional({ description: 'nextCursor of the previous page.' })
  @IsOptional()
  @IsString()
  @MaxLength(500)
  cursor?: string;
}

/** `GET /jobs/counts`: the tenant's jobs matching the filters, per state. */
export class JobCountsDto {
  @ApiProperty({ description: 'Jobs matching the filters.' }) total!: number;
  @ApiProperty({
    description: 'Jobs per state (every state present, 0 when none).',
    type: 'object',
    properties: Object.fromEntries(JOB_STATES.map((s) => [s, { type: 'integer' }])),
    required: [...JOB_STATES],
  })
  byState!: Record<JobState, number>;
}

export class SendEventDto {
  @ApiProperty({ enum: EXTERNAL_EVENT_TYPES, description: 'An event the job accepts in its current state.' })
  @IsIn(EXTERNAL_EVENT_TYPES)
  type!: JobEventType;

  @ApiPropertyOptional({ description: 'For MARK_CANCELLED: why.' })
  @IsOptional()
  @IsString()
  @MaxLength(1000)
  reason?: string;

  @ApiPropertyOptional({ nullable: true, type: Number, minimum: 0, description: 'For RETRY: the job\'s new USD budget (null = none), e.g. after BUDGET_EXCEEDED.' })
  @IsOptional()
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(0)
  budgetUsd?: number | null;

  @ApiPropertyOptional({ nullable: true, type: Number, minimum: 0, description: 'For RETRY: the job\'s new token budget (null = none).' })
  @IsOptional()
  @IsInt()
  @Min(0)
  budgetTokens?: number | null;
}

/** Who caused a transition (the audit trail). */
export class TransitionActorDto {
  @ApiProperty({ enum: ['api', 'bulk', 'worker', 'deadline', 'webhook'], description: 'api/bulk: a tenant\'s request (POST /jobs/bulk for bulk); worker: a stage\'s result; deadline: the JOB_DEADLINE_MS watchdog; webhook: a GitHub delivery.' })
  kind!: 'api' | 'bulk' | 'worker' | 'deadline' | 'webhook';
  @ApiProperty({ example: 'key:3f9a1c02', description: 'api/bulk: `key:<first 8 hex of the API key\'s SHA-256>` (or `header` in development mode); worker: `<host>:<pid>`; deadline: `JOB_DEADLINE_MS`; webhook: the X-GitHub-Delivery GUID (or `github`).' })
  id!: string;
}

export class TransitionDto {
  @ApiProperty({ enum: JOB_STATES }) from!: JobState;
  @ApiProperty({ enum: JOB_STATES }) to!: JobState;
  @ApiProperty({ example: 'PLAN_SUCCEEDED' }) event!: string;
  @ApiProperty({ description: 'ISO-8601 commit time.' }) at!: string;
  @ApiProperty({ description: 'Stage attempt (1-based); 0 for external events.' }) attempt!: number;
  @ApiPropertyOptional({ description: 'Guard of the branch taken (e.g. isApproved).' }) guard?: string;
  @ApiPropertyOptional({ type: TransitionActorDto, description: 'Who caused it (absent on transitions recorded before the audit trail).' }) actor?: TransitionActorDto;
}

export class JobErrorDto {
  @ApiProperty({ example: 'MOCK_PERMANENT_FAILURE' }) code!: string;
  @ApiProperty() message!: string;
  @ApiProperty({ example: 'coding' }) stage!: string;
}

export class JobSummaryDto {
  @ApiProperty() id!: string;
  @ApiProperty() tenantId!: string;
  @ApiProperty() repositoryId!: string;
  @ApiProperty({ nullable: true, type: String, example: 'aicd/1347-7d6c1f0e', description: 'The job\'s git branch (when the issue id is a number).' }) branch!: string | null;
  @ApiProperty({ enum: JOB_STATES }) state!: JobState;
  @ApiProperty({ description: 'Compare-and-set version; +1 per commit.' }) version!: number;
  @ApiProperty() machineVersion!: string;
  @ApiProperty() issue!: IssueDto;
  @ApiProperty({ nullable: true, type: JobErrorDto }) error!: JobErrorDto | null;
  @ApiProperty() createdAt!: string;
  @ApiProperty() updatedAt!: string;
}

export class UsageDto {
  @ApiProperty({ description: 'Input tokens.' }) inputTokens!: number;
  @ApiProperty({ description: 'Output tokens.' }) outputTokens!: number;
  @ApiProperty({ description: 'US dollars (0 when the tools report tokens only).' }) costUsd!: number;
}

export class BudgetDto {
  @ApiProperty({ nullable: true, type: Number, description: 'USD limit; null = none.' }) usd!: number | null;
  @ApiProperty({ nullable: true, type: Number, description: 'Input + output token limit; null = none.' }) tokens!: number | null;
}

export class WorkspaceDto {
  @ApiProperty({ example: 'aicd/42-7d6c1f0e' }) branch!: string;
  @ApiProperty({ example: 'main' }) baseBranch!: string;
  @ApiProperty({ description: 'Commit the branch starts from.' }) baseCommit!: string;
}

export class ArtifactRefDto {
  @ApiProperty() id!: string;
  @ApiProperty({ example: 'diff.patch' }) name!: string;
  @ApiProperty() contentType!: string;
  @ApiProperty({ description: 'SHA-256 of the content, hex.' }) sha256!: string;
  @ApiProperty({ description: 'Size, bytes.' }) bytes!: number;
}

export class ChecksDto {
  @ApiProperty({ example: 'go test ./...' }) command!: string;
  @ApiProperty({ nullable: true, type: Number }) exitCode!: number | null;
  @ApiProperty() passed!: boolean;
  @ApiProperty({ description: 'ms.' }) durationMs!: number;
  @ApiProperty({ description: 'The last lines of their output.' }) outputTail!: string;
  @ApiPropertyOptional({ type: ArtifactRefDto }) output?: ArtifactRefDto;
}

export class JobContextSummaryDto {
  @ApiProperty({ nullable: true, description: 'Plan steps.', type: [String] }) plan!: string[] | null;
  @ApiProperty({ nullable: true, description: 'Paths of changed files.', type: [String] }) changedFiles!: string[] | null;
  @ApiProperty({ nullable: true }) reviewApproved!: boolean | null;
  @ApiProperty({ type: [String] }) reviewComments!: string[];
  @ApiProperty() reviewRounds!: number;
  @ApiProperty({ nullable: true }) prUrl!: string | null;
  @ApiProperty({ description: 'Attempt that produced each stage result.' }) attempts!: Record<string, number>;
  @ApiProperty({ nullable: true }) failedStage!: string | null;
  @ApiProperty({ type: UsageDto, description: 'Usage of every committed stage visit so far.' }) usage!: UsageDto;
  @ApiProperty({ type: BudgetDto }) budget!: BudgetDto;
  @ApiProperty({ nullable: true, type: WorkspaceDto, description: 'The git workspace (AGENT=cli).' }) workspace!: WorkspaceDto | null;
  @ApiProperty({ nullable: true, type: String, description: 'The plan summary.' }) planSummary!: string | null;
  @ApiProperty({ nullable: true, type: String, description: 'The last code commit (AGENT=cli).' }) commitSha!: string | null;
  @ApiProperty({ nullable: true, type: String, description: '`git diff --stat` of the last code round.' }) diffStat!: string | null;
  @ApiProperty({ nullable: true, type: ArtifactRefDto, description: 'The last code round\'s diff.' }) diff!: ArtifactRefDto | null;
  @ApiProperty({ nullable: true, type: ChecksDto, description: 'The checks the last review ran.' }) checks!: ChecksDto | null;
}

export class JobDetailDto extends JobSummaryDto {
  @ApiProperty({ type: JobContextSummaryDto }) context!: JobContextSummaryDto;
  @ApiProperty({ enum: EXTERNAL_EVENT_TYPES, isArray: true, description: 'Events accepted now.' }) acceptedEvents!: JobEventType[];
  @ApiProperty({ type: [TransitionDto] }) history!: TransitionDto[];
}

export class JobPageDto {
  @ApiProperty({ type: [JobSummaryDto] }) items!: JobSummaryDto[];
  @ApiProperty({ nullable: true, type: String }) nextCursor!: string | null;
}
