import type { JobError, JobState, TransitionRecord } from '../lifecycle/job.types';

/** The stored shape of a job (collection `jobs`). Keys of `snapshot` are escaped, see snapshot-codec. */
export interface JobDocument {
  _id: string;
  tenantId: string;
  idempotencyKey: string;
  repositoryId: string;
  branch?: string | null;
  state: JobState;
  version: number;
  machineVersion: string;
  snapshot: Record<string, unknown>;
  history: TransitionRecord[];
  error: JobError | null;
  createdAt: Date;
  updatedAt: Date;
}
