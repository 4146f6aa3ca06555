import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsIn, IsInt, IsObject, IsOptional, IsString, Max, MaxLength, Min, ValidateNested } from 'class-validator';
import { JOB_STATES, type JobState } from '../../lifecycle/job.types';
import { JobFilterQueryDto } from './job.dto';

/** The events a bulk action may send: the two an operator sends to many jobs at once. */
export const BULK_EVENT_TYPES = ['MARK_CANCELLED', 'RETRY'] as const;
export type BulkEventType = (typeof BULK_EVENT_TYPES)[number];

/** Which jobs a bulk action is for: the listing's filters (at least one of them). */
export class BulkFilterDto extends JobFilterQueryDto {
  @ApiPropertyOptional({ enum: JOB_STATES })
  @IsOptional()
  @IsIn(JOB_STATES)
  state?: JobState;
}

/** `POST /jobs/bulk`: send one event to every job of the tenant that matches a filter. */
export class BulkActionDto {
  @ApiProperty({ enum: BULK_EVENT_TYPES, description: 'MARK_CANCELLED (cancel) or RETRY (from FAILED).' })
  @IsIn(BULK_EVENT_TYPES)
  type!: BulkEventType;

  @ApiProperty({ type: BulkFilterDto, description: 'The listing\'s filters; at least one must be given (an empty filter would act on every job).' })
  @IsObject()
  @ValidateNested()
  @Type(() => BulkFilterDto)
  filter!: BulkFilterDto;

  @ApiPropertyOptional({ minimum: 1, maximum: 500, default: 100, description: 'At most this many jobs per call, most recently updated first; `more` says whether others matched.' })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(500)
  limit?: number;

  @ApiPropertyOptional({ description: 'For MARK_CANCELLED: why (kept on each job).' })
  @IsOptional()
  @IsString()
  @MaxLength(1000)
  reason?: string;
}

export class BulkAppliedDto {
  @ApiProperty() jobId!: string;
  @ApiProperty({ enum: JOB_STATES, description: 'The state the event took the job to.' }) state!: JobState;
}

export class BulkSkippedDto {
  @ApiProperty() jobId!: string;
  @ApiProperty({ enum: JOB_STATES, description: 'The job\'s state when the event was refused.' }) state!: JobState;
  @ApiProperty({ example: 'ILLEGAL_EVENT', description: 'ILLEGAL_EVENT (the state does not accept it), CONCURRENT_UPDATE, JOB_NOT_FOUND (deleted meanwhile), UNKNOWN_MACHINE_VERSION; after an outage DEPENDENCY_UNAVAILABLE (the job it hit: outcome unknown) and NOT_ATTEMPTED (the jobs after it).' })
  code!: string;
  @ApiProperty({ description: 'Why, in words (e.g. "event RETRY is not accepted in state CANCELLED; accepted: none").' }) message!: string;
}

/** What a bulk action did, job by job: every matched job is in `applied` or `skipped`. */
export class BulkResultDto {
  @ApiProperty({ enum: BULK_EVENT_TYPES }) type!: BulkEventType;
  @ApiProperty({ description: 'Jobs that matched the filter in this call (≤ limit).' }) matched!: number;
  @ApiProperty({ type: [BulkAppliedDto] }) applied!: BulkAppliedDto[];
  @ApiProperty({ type: [BulkSkippedDto] }) skipped!: BulkSkippedDto[];
  @ApiProperty({ description: 'More jobs matched than `limit`: call again (jobs already handled no longer match a state filter, or are skipped).' })
  more!: boolean;
}
