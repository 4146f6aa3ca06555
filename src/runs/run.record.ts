/**
 * A pipeline run as stored (seed 002 `runs`): its template version, its statechart snapshot and
 * the append-only audit of its transitions (`run_events`, kept in the run's own document so that
 * they are written by the same single-document commit as the snapshot).
 */
import type { PipelineContext, RunStatus } from '../pipelines/pipeline.types';
import type { RunEvent } from '../pipelines/run-events';
import type { PersistedSnapshot } from '../runtime/persisted-actor';

export interface RunRecord {
  /** `run_<uuid>`. */
  id: string;
  tenantId: string;
  /** The template version it runs (`owner` is the tenant, or `builtin`). */
  template: { owner: string; name: string; version: number };
  status: RunStatus;
  /** Incremented by every commit (compare-and-set). */
  version: number;
  /** PIPELINE_COMPILER_VERSION of the machine that wrote the snapshot. */
  machineVersion: string;
  snapshot: PersistedSnapshot & { context: PipelineContext };
  /** The run's inputs as given at creation: never changed afterwards. */
  inputs: Record<string, unknown>;
  events: RunEvent[];
  createdAt: Date;
  updatedAt: Date;
  /** When the run left `pending`; null before. */
  startedAt: Date | null;
  /** When the run reached succeeded, failed or canceled (the last time); null while it can go on. */
  endedAt: Date | null;
}

/** What one commit changes. */
export interface RunCommit {
  status: RunStatus;
  snapshot: RunRecord['snapshot'];
  machineVersion: string;
  events: RunEvent[];
}

export interface RunListQuery {
  tenantId: string;
  status?: RunStatus;
  template?: string;
  limit: number;
  /** Opaque cursor from the previous page. */
  cursor?: string;
}
