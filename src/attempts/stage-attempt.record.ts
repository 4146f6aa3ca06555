import type { Stage, StageUsage } from '../lifecycle/job.types';
import type { ProcessInfo } from '../tools/tool.port';

/** A subprocess a stage attempt started (pid, group, marker and host: found again after a crash), and its end. */
export interface AttemptProcess extends ProcessInfo {
  endedAt: Date | null;
  exitCode: number | null;
  signal: string | null;
  /** ms from spawn to exit. */
  durationMs: number | null;
}

/**
 * What became of an attempt: `running` while its worker heartbeats; `succeeded` / `failed` when
 * its call settled; `aborted` (cancel, shutdown); `dead` when its heartbeat stopped for longer
 * than HEARTBEAT_TIMEOUT_MS (its stage runs again as a new attempt).
 */
export type AttemptStatus = 'running' | 'succeeded' | 'failed' | 'aborted' | 'dead';

/** What starts an attempt. */
export interface AttemptStart {
  jobId: string;
  tenantId: string;
  stage: Stage;
  /** 1-based attempt number. */
  attempt: number;
  /** The job's version the attempt ran on. */
  version: number;
  /** The tool (agent CLI, `mock`, `pr:<gateway>`) that did the work. */
  tool: string;
}

/**
 * One attempt of one stage of one job (collection `stage_attempts`): who ran it, where, its
 * processes, heartbeat, outcome and usage. Written lazily: a MockAgent (`tool` `mock`) attempt
 * that spawned nothing, ended before its first heartbeat and succeeded leaves no record (the
 * job's history tells it); every attempt of a real tool is recorded.
 */
export interface StageAttemptRecord extends AttemptStart {
  /** `<jobId>:<stage>:<version>:<attempt>:<random>`. */
  id: string;
  status: AttemptStatus;
  /** Host and pid of the worker process. */
  host: string;
  workerPid: number;
  /** Id of the worker process (its registry entry). */
  workerId: string;
  processes: AttemptProcess[];
  startedAt: Date;
  heartbeatAt: Date;
  endedAt: Date | null;
  /** ms from start to end. */
  durationMs: number | null;
  usage: StageUsage | null;
  error: { code: string; message: string } | null;
  /** When a later attempt killed (or proved gone) the processes this one left behind. */
  reaped?: ReapRecord;
}

/** What reaping an attempt's leftover processes did (OrphanReaper), and where. */
export interface ReapRecord {
  at: Date;
  host: string;
  found: number;
  killed: number;
  remaining: number;
}

/** How an attempt ended. */
export interface AttemptEnd {
  status: Exclude<AttemptStatus, 'running' | 'dead'>;
  usage: StageUsage | null;
  error: { code: string; message: string } | null;
}
