import type { ArtifactRef, Stage } from '../lifecycle/job.types';

/** An artifact as stored: its reference plus who produced it. */
export interface ArtifactRecord extends ArtifactRef {
  jobId: string;
  tenantId: string;
  stage: Stage;
  /** Attempt that produced it (1-based). */
  attempt: number;
  createdAt: Date;
}

/** What to store. */
export interface NewArtifact {
  jobId: string;
  tenantId: string;
  stage: Stage;
  attempt: number;
  /** File-like name, e.g. `plan.md`, `diff.patch`, `checks.log`. */
  name: string;
  contentType: string;
  content: Buffer | string;
}

/** The stored content no longer matches its recorded SHA-256. `code` = ARTIFACT_CORRUPT. */
export class ArtifactCorruptError extends Error {
  readonly code = 'ARTIFACT_CORRUPT';
  constructor(
    readonly id: string,
    readonly expected: string,
    readonly actual: string,
  ) {
    super(`artifact ${id}: content hash ${actual} does not match the recorded ${expected}`);
  }
}

/** No such artifact (or another tenant's). `code` = ARTIFACT_NOT_FOUND. */
export class ArtifactNotFoundError extends Error {
  readonly code = 'ARTIFACT_NOT_FOUND';
  constructor(readonly id: string) {
    super(`artifact ${id} not found`);
  }
}

/**
 * Immutable artifacts (port, abstract class used as DI token): content addressed by its SHA-256
 * within a job, so storing the same content twice (a retried or redelivered attempt) gives the
 * same artifact, and different content never overwrites.
 */
export abstract class ArtifactStore {
  /** Stores `artifact` (or finds it stored). @returns its reference. */
  abstract put(artifact: NewArtifact): Promise<ArtifactRecord>;
  /** @throws ArtifactNotFoundError, ArtifactCorruptError (hash mismatch on read). */
  abstract get(id: string): Promise<{ record: ArtifactRecord; content: Buffer }>;
  /** The record only. @throws ArtifactNotFoundError. */
  abstract stat(id: string): Promise<ArtifactRecord>;
  /** Every artifact of a job, oldest first. */
  abstract listForJob(jobId: string): Promise<ArtifactRecord[]>;
}
