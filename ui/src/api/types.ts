/**
 * The service's REST contract as the dashboard reads it (see README "API"). Times are ISO-8601
 * strings. Kept by hand (the wire shapes: times as strings), except the states and stages, which come from
 * the server's job.types.
 */

// The states, stages and their mapping are the server's own (src/lifecycle/job.types.ts has no
// imports, so the UI bundles it as it is): one list, not a copy to keep in step.
export { FINAL_STATES, JOB_STATES, STAGE_STATE, STAGES, stageOfState, type JobState, type Stage } from '../../../src/lifecycle/job.types';
import type { JobState, Stage } from '../../../src/lifecycle/job.types';

/** External events a client may send (`POST /jobs/:id/events`). */
export const EXTERNAL_EVENTS = ['START_PLANNING', 'START_CODING', 'START_REVIEWING', 'RETRY', 'MARK_COMPLETED', 'MARK_CANCELLED'] as const;
export type ExternalEvent = (typeof EXTERNAL_EVENTS)[number];

export interface Issue {
  id: string;
  title: string;
  body: string;
  url: string;
}

export interface Transition {
  from: JobState;
  to: JobState;
  event: string;
  at: string;
  /** Stage attempt (1-based); 0 for external events. */
  attempt: number;
  guard?: string;
  /** Who caused it (the audit trail): a tenant's key, a bulk action, a worker, the deadline, a webhook delivery. */
  actor?: { kind: 'api' | 'bulk' | 'worker' | 'deadline' | 'webhook'; id: string };
}

export interface JobError {
  code: string;
  message: string;
  stage: string;
}

export interface JobSummary {
  id: string;
  tenantId: string;
  repositoryId: string;
  branch: string | null;
  state: JobState;
  version: number;
  issue: Issue;
  error: JobError | null;
  createdAt: string;
  updatedAt: string;
}

export interface Usage {
  inputTokens: number;
  outputTokens: number;
  costUsd?: number;
}

export interface ArtifactRef {
  id: string;
  name: string;
  contentType: string;
  sha256: string;
  bytes: number;
}

export interface Checks {
  command: string;
  exitCode: number | null;
  passed: boolean;
  durationMs: number;
  outputTail: string;
}

export interface JobContextSummary {
  plan: string[] | null;
  planSummary: string | null;
  changedFiles: string[] | null;
  reviewApproved: boolean | null;
  reviewComments: string[];
  reviewRounds: number;
  prUrl: string | null;
  attempts: Record<string, number>;
  failedStage: string | null;
  usage: Usage;
  budget: { usd: number | null; tokens: number | null };
  workspace: { branch: string; baseBranch: string; baseCommit: string } | null;
  commitSha: string | null;
  diffStat: string | null;
  diff: ArtifactRef | null;
  checks: Checks | null;
}

export interface JobDetail extends JobSummary {
  context: JobContextSummary;
  acceptedEvents: string[];
  history: Transition[];
}

export interface JobPage {
  items: JobSummary[];
  nextCursor: string | null;
}

export interface JobCounts {
  total: number;
  byState: Partial<Record<JobState, number>>;
}

export type AttemptStatus = 'running' | 'succeeded' | 'failed' | 'aborted' | 'dead';

export interface AttemptProcess {
  tool: string;
  pid: number;
  pgid: number | null;
  host: string;
  startedAt: string;
  endedAt: string | null;
  exitCode: number | null;
  signal: string | null;
  durationMs: number | null;
}

export interface StageAttempt {
  id: string;
  stage: Stage;
  attempt: number;
  version: number;
  tool: string;
  status: AttemptStatus;
  host: string;
  workerId: string;
  processes: AttemptProcess[];
  startedAt: string;
  heartbeatAt: string;
  endedAt: string | null;
  durationMs: number | null;
  usage: Usage | null;
  error: { code: string; message: string } | null;
  reaped?: { at: string; host: string; found: number; killed: number; remaining: number };
}

export type LogStream = 'stdout' | 'stderr' | 'system';

export interface LogLine {
  id: string;
  at: string;
  stage: Stage;
  attempt: number;
  stream: LogStream;
  text: string;
}

export interface LogPage {
  lines: LogLine[];
  nextCursor: string | null;
}

export interface Artifact extends ArtifactRef {
  stage?: string;
  attempt?: number;
  createdAt?: string;
}

export type BreakerState = 'closed' | 'open' | 'half-open' | 'isolated';

export interface WorkerInfo {
  id: string;
  host: string;
  pid: number;
  stages: string[];
  startedAt: string;
  heartbeatAt: string;
  alive: boolean;
  breakers: Record<string, BreakerState>;
}

export interface QueueInfo {
  name: string;
  /** null for a queue that is not a stage (e.g. deadlines). */
  stage: string | null;
  /** Whether the queue is paused (waiting messages are not taken). */
  paused?: boolean;
  counts: { waiting: number; active: number; delayed: number; failed: number; completed: number; prioritized: number; paused?: number };
}

/** `event: job` of `GET /events/stream`. */
export interface JobEvent {
  kind: 'job';
  jobId: string;
  state: JobState;
  version: number;
  updatedAt: string;
  repositoryId: string;
  issueTitle: string;
  transitions: Transition[];
  created: boolean;
  /** The error code once the job FAILED, else null. */
  errorCode?: string | null;
}

/** `event: log` of `GET /events/stream`. */
export interface LogEvent {
  kind: 'log';
  jobId: string;
  line: LogLine;
}

export type LiveEvent = JobEvent | LogEvent | RunChangeEvent;

/** Error bodies: `{ statusCode, error, code?, message, errors? }`; a 409 ILLEGAL_EVENT adds the rest. */
export interface ErrorBody {
  statusCode?: number;
  error?: string;
  code?: string;
  message?: string | string[];
  errors?: { field: string; messages: string[] }[];
  state?: string;
  event?: string;
  acceptedEvents?: string[];
}

export interface SubmitJobInput {
  repositoryId: string;
  issue: Issue;
}

/** `POST /jobs/bulk`: every matched job is in `applied` or `skipped`. */
export interface BulkResult {
  type: 'MARK_CANCELLED' | 'RETRY';
  matched: number;
  applied: { jobId: string; state: JobState }[];
  skipped: { jobId: string; state: JobState; code: string; message: string }[];
  /** More jobs matched than the limit. */
  more: boolean;
}

// ---------------------------------------------------------------------------------------------
// Pipeline runs (README "Pipelines"). The statuses are the server's own lists
// (src/pipelines/pipeline.types.ts: type-only imports, so the UI bundles just the arrays).

export { RUN_STATUSES, STEP_STATUSES, type RunStatus, type StepStatus } from '../../../src/pipelines/pipeline.types';
import type { RunStatus, StepStatus } from '../../../src/pipelines/pipeline.types';

/** One step of a run (`steps[id]` of `GET /runs/:id`). */
export interface RunStep {
  status: StepStatus;
  /** Times it entered running (0 before the first). */
  visit: number;
  reason?: string;
  error?: { code: string; message: string };
  /** Output name → artifact id, of its last successful visit. */
  artifacts?: Record<string, string>;
}

/** A step spawned at run time (the regression loop), e.g. `dev~1`. */
export interface SpawnedStep {
  id: string;
  templateStep?: string;
  parentStepId: string;
  parentVisit?: number;
  status: 'ready' | 'running' | 'succeeded' | 'failed' | 'canceled';
  depth: number;
  visit?: number;
  regressionContext: { reason: string; failingOutput?: string };
  error?: { code: string; message: string };
  artifacts?: Record<string, string>;
}

export interface RunProgress {
  counts: Partial<Record<StepStatus, number>>;
  total: number;
  done: number;
  percent: number;
  elapsedMs: number;
  /** null while a remaining step has no past duration. */
  etaMs: number | null;
}

/** `GET /runs/:id` (and each item of `GET /runs`). */
export interface PipelineRun {
  id: string;
  template: { name: string; version: number };
  status: RunStatus;
  version: number;
  inputs: Record<string, unknown>;
  steps: Record<string, RunStep>;
  spawned: SpawnedStep[];
  progress: RunProgress;
  error: { code: string; message: string } | null;
  acceptedEvents: string[];
  createdAt: string;
  updatedAt: string;
  startedAt: string | null;
  endedAt: string | null;
}

export type RunPage = { items: PipelineRun[]; nextCursor: string | null };

/** Who moved a run: a key through the API, a worker (`host:pid`), the sweeper. */
export type RunActor = { kind: 'api' | 'worker' | 'sweeper'; id: string };

/** One entry of `GET /runs/:id/events` (run_events), oldest first. */
export interface RunAuditEvent {
  seq: number;
  at: string;
  kind: 'run' | 'step';
  step?: string;
  from: string;
  to: string;
  event: string;
  visit?: number;
  detail?: string;
  parentStepId?: string;
  actor: RunActor;
}

/** One item of `GET /runs/:id/attempts`. */
export interface StepAttemptRecord {
  id: string;
  step: string;
  templateStep: string;
  visit: number;
  attempt: number;
  tool: string;
  router: { capability: string; strategy: string; tool: string; reason: string } | null;
  /** `succeeded`: the result the run took; `discarded`: succeeded, but the run no longer waited for it; `aborted`: canceled, or its worker died. */
  status: 'running' | 'succeeded' | 'discarded' | 'failed' | 'aborted';
  host: string;
  pid: number | null;
  startedAt: string;
  heartbeatAt: string;
  endedAt: string | null;
  durationMs: number | null;
  exitCode: number | null;
  usage: Usage | null;
  error: { code: string; message: string } | null;
  stdoutTail: string;
  stderrTail: string;
  /** Artifact ids it produced. */
  produced: string[];
}

export interface RunArtifact {
  id: string;
  name: string;
  kind: 'files' | 'json';
  sha256: string;
  bytes: number;
  files?: { path: string; sha256: string; bytes: number }[];
  producer: { step: string; visit: number; attempt: number; attemptId: string };
  createdAt?: string;
}

export interface ArtifactConsumption {
  artifactId: string;
  step: string;
  visit: number;
  attempt: number;
  attemptId?: string;
  sha256: string;
  at: string;
}

/** `GET /runs/:id/artifacts`. */
export type RunArtifacts = { artifacts: RunArtifact[]; consumption: ArtifactConsumption[] };

/** `GET /artifacts/:id/lineage`. */
export interface ArtifactLineage {
  artifact: RunArtifact;
  producer: RunArtifact['producer'] & { runId: string };
  consumers: ArtifactConsumption[];
}

/** A template step as stored (defaults applied). */
export interface TemplateStep {
  id: string;
  tool: string;
  needs: { step: string; on: 'success' | 'failure' | 'always' }[];
  inputs?: string[];
  outputs?: Record<string, unknown>;
  with?: Record<string, unknown>;
}

/** An item of `GET /pipeline-templates`, and `GET /pipeline-templates/:name?version=`. */
export interface TemplateVersion {
  name: string;
  version: number;
  /** `builtin` or the tenant id. */
  owner: string;
  template: { name: string; description?: string; maxParallel?: number; steps: TemplateStep[] };
  chart: string;
  /** Why the template is paused (TEMPLATE_QUARANTINED), else null. */
  quarantined: string | null;
  createdAt?: string;
}

/** `event: run` of `GET /events/stream`. */
export interface RunChangeEvent {
  kind: 'run';
  runId: string;
  template: { name: string; version: number };
  status: RunStatus;
  version: number;
  updatedAt: string;
  /** The run events of that commit. */
  events: RunAuditEvent[];
  progress: { done: number; total: number; percent: number };
  created: boolean;
}
