import type { JobState, TransitionRecord } from '../lifecycle/job.types';
import type { JobLogLine } from '../logs/job-log.repository';
import type { RunStatus } from '../pipelines/pipeline.types';
import type { RunEvent } from '../pipelines/run-events';

/** A job was created or committed a transition (SSE `event: job`). */
export interface JobChangeEvent {
  kind: 'job';
  jobId: string;
  state: JobState;
  /** The job's version after the change (compare-and-set token). */
  version: number;
  /** ISO-8601. */
  updatedAt: string;
  repositoryId: string;
  issueTitle: string;
  /** Transitions this change added, oldest first (the whole history for a created job). */
  transitions: TransitionRecord[];
  /** True for a newly submitted job. */
  created: boolean;
  /** The job's error code once it FAILED, else null. */
  errorCode: string | null;
}

/** Lines a stage attempt of a job wrote (SSE: one `event: log` per line). */
export interface LogLinesEvent {
  kind: 'log';
  jobId: string;
  lines: JobLogLine[];
}

/** A pipeline run was created or committed a change (SSE `event: run`). */
export interface RunChangeEvent {
  kind: 'run';
  runId: string;
  template: { name: string; version: number };
  status: RunStatus;
  /** The run's version after the change (compare-and-set token). */
  version: number;
  /** ISO-8601. */
  updatedAt: string;
  /** The run events this change added (run and step transitions), oldest first. */
  events: RunEvent[];
  /** Steps done, total and percent after the change (as `GET /runs/:id/progress`, without the ETA). */
  progress: { done: number; total: number; percent: number };
  created: boolean;
}

/** What a tenant's event stream carries. A consumer must ignore kinds it does not know. */
export type TenantEvent = JobChangeEvent | LogLinesEvent | RunChangeEvent;

/** A stored event with its stream id (Redis Stream entry id `<ms>-<seq>`, ordered). */
export interface StoredTenantEvent {
  id: string;
  event: TenantEvent;
  /** The event's JSON as stored (so a fan-out need not serialize it again per client). */
  json: string;
}

const STREAM_ID = /^(\d{1,16})-(\d{1,16})$/;

/** True for a Redis Stream entry id (`<ms>-<seq>`). */
export function isStreamId(id: string): boolean {
  return STREAM_ID.test(id);
}

/** Orders two Redis Stream ids (negative: a before b). Both must satisfy {@link isStreamId}. */
export function compareStreamIds(a: string, b: string): number {
  const [, am, as] = STREAM_ID.exec(a)!;
  const [, bm, bs] = STREAM_ID.exec(b)!;
  const ms = BigInt(am) - BigInt(bm);
  if (ms !== 0n) return ms < 0n ? -1 : 1;
  const seq = BigInt(as) - BigInt(bs);
  return seq === 0n ? 0 : seq < 0n ? -1 : 1;
}
