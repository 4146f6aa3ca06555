import type { JobError, JobState, TransitionRecord } from '../lifecycle/job.types';
import { SWEPT_JOB_STATES } from './job.record';

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
  /**
   * `updatedAt` while the job is in a state the sweeper watches ({@link SWEPT_JOB_STATES}), null
   * otherwise (absent on documents written before it existed, read as null). Its own index then
   * holds only those jobs: DocumentDB walks a compound index's range on its second field over every
   * entry in the range, so `{ state, updatedAt < t }` read every finished job (70 ms at 100,000).
   */
  sweepAt?: Date | null;
  /** `tenantId` while the job is in a {@link SWEPT_JOB_STATES} state, else null: the admission count's index. */
  inFlightTenantId?: string | null;
}

/** The in-flight fields of a job document in `state` at `updatedAt` (see {@link JobDocument.sweepAt}). */
export function inFlightFields(state: JobState, tenantId: string, updatedAt: Date): Pick<JobDocument, 'sweepAt' | 'inFlightTenantId'> {
  const inFlight = (SWEPT_JOB_STATES as readonly JobState[]).includes(state);
  return { sweepAt: inFlight ? updatedAt : null, inFlightTenantId: inFlight ? tenantId : null };
}
