import { apiBlob, apiJson, apiText } from './client';
import type {
  Artifact,
  ArtifactLineage,
  BulkResult,
  JobCounts,
  JobDetail,
  JobPage,
  LogPage,
  PipelineRun,
  QueueInfo,
  RunArtifacts,
  RunAuditEvent,
  RunPage,
  StepAttemptRecord,
  StageAttempt,
  SubmitJobInput,
  TemplateVersion,
  WorkerInfo,
} from './types';

/** Filters of the job list and its counts (query parameters of `GET /jobs` and `GET /jobs/counts`). */
export interface JobFilters {
  state?: string;
  repositoryId?: string;
  createdFrom?: string;
  createdTo?: string;
  updatedFrom?: string;
  updatedTo?: string;
}

/** Filters of the run list (`GET /runs`). */
export interface RunFilters {
  status?: string;
  template?: string;
}

const job = (id: string) => `/jobs/${encodeURIComponent(id)}`;
const run = (id: string) => `/runs/${encodeURIComponent(id)}`;
const sig = (signal?: AbortSignal) => (signal ? { signal } : {});

export const api = {
  whoami: (key: string, signal?: AbortSignal) => apiJson<{ tenantId: string }>('/whoami', { key, ...(signal ? { signal } : {}) }),

  listJobs: (filters: JobFilters, page: { limit: number; cursor?: string | undefined }, signal?: AbortSignal) =>
    apiJson<JobPage>('/jobs', { query: { ...filters, limit: page.limit, cursor: page.cursor }, ...(signal ? { signal } : {}) }),

  /** Counts ignore the state filter (they are the counts per state). */
  countJobs: ({ state: _state, ...filters }: JobFilters, signal?: AbortSignal) =>
    apiJson<JobCounts>('/jobs/counts', { query: { ...filters }, ...(signal ? { signal } : {}) }),

  submitJob: (input: SubmitJobInput) => apiJson<JobDetail>('/jobs', { method: 'POST', body: input }),

  getJob: (id: string, signal?: AbortSignal) => apiJson<JobDetail>(job(id), signal ? { signal } : {}),

  statechart: (id: string, signal?: AbortSignal) => apiText(`${job(id)}/statechart`, signal ? { signal } : {}),

  attempts: (id: string, signal?: AbortSignal) => apiJson<StageAttempt[]>(`${job(id)}/attempts`, signal ? { signal } : {}),

  logs: (id: string, q: { stage: string; attempt: number; after?: string | undefined; limit?: number }, signal?: AbortSignal) =>
    apiJson<LogPage>(`${job(id)}/logs`, { query: { ...q }, ...(signal ? { signal } : {}) }),

  artifacts: (id: string, signal?: AbortSignal) => apiJson<Artifact[]>(`${job(id)}/artifacts`, signal ? { signal } : {}),

  /** The artifact id contains `:`: it is URL-encoded. */
  artifactText: (id: string, artifactId: string, signal?: AbortSignal) =>
    apiText(`${job(id)}/artifacts/${encodeURIComponent(artifactId)}`, signal ? { signal } : {}),

  artifactBlob: (id: string, artifactId: string) => apiBlob(`${job(id)}/artifacts/${encodeURIComponent(artifactId)}`),

  cancel: (id: string) => apiJson<JobDetail>(`${job(id)}/cancel`, { method: 'POST' }),

  retry: (id: string) => apiJson<JobDetail>(`${job(id)}/retry`, { method: 'POST' }),

  sendEvent: (id: string, event: { type: string; reason?: string; budgetUsd?: number | null; budgetTokens?: number | null }) =>
    apiJson<JobDetail>(`${job(id)}/events`, { method: 'POST', body: event }),

  /** Sends MARK_CANCELLED or RETRY to every job matching `filter` (at most `limit`). */
  bulk: (body: { type: 'MARK_CANCELLED' | 'RETRY'; filter: JobFilters; limit?: number; reason?: string }) =>
    apiJson<BulkResult>('/jobs/bulk', { method: 'POST', body }),

  workers: (signal?: AbortSignal) => apiJson<WorkerInfo[]>('/workers', signal ? { signal } : {}),

  queues: (signal?: AbortSignal) => apiJson<QueueInfo[]>('/queues', signal ? { signal } : {}),

  // Pipeline runs (README "Pipelines").
  listRuns: (filters: RunFilters, page: { limit: number; cursor?: string | undefined }, signal?: AbortSignal) =>
    apiJson<RunPage>('/runs', { query: { ...filters, limit: page.limit, cursor: page.cursor }, ...sig(signal) }),

  startRun: (body: { template: string; version?: number; inputs: Record<string, unknown> }) => apiJson<PipelineRun>('/runs', { method: 'POST', body }),

  getRun: (id: string, signal?: AbortSignal) => apiJson<PipelineRun>(run(id), sig(signal)),

  runStatechart: (id: string, signal?: AbortSignal) => apiText(`${run(id)}/statechart`, sig(signal)),

  runEvents: (id: string, signal?: AbortSignal) => apiJson<RunAuditEvent[]>(`${run(id)}/events`, sig(signal)),

  runAttempts: (id: string, signal?: AbortSignal) => apiJson<StepAttemptRecord[]>(`${run(id)}/attempts`, sig(signal)),

  runArtifacts: (id: string, signal?: AbortSignal) => apiJson<RunArtifacts>(`${run(id)}/artifacts`, sig(signal)),

  /** The artifact id contains `:`: it is URL-encoded. */
  artifactLineage: (artifactId: string, signal?: AbortSignal) => apiJson<ArtifactLineage>(`/artifacts/${encodeURIComponent(artifactId)}/lineage`, sig(signal)),

  cancelRun: (id: string) => apiJson<PipelineRun>(`${run(id)}/cancel`, { method: 'POST' }),

  releaseRun: (id: string) => apiJson<PipelineRun>(`${run(id)}/release`, { method: 'POST' }),

  retryStep: (id: string, step: string) => apiJson<PipelineRun>(`${run(id)}/steps/${encodeURIComponent(step)}/retry`, { method: 'POST' }),

  templates: (signal?: AbortSignal) => apiJson<TemplateVersion[]>('/pipeline-templates', sig(signal)),

  template: (name: string, version: number | undefined, signal?: AbortSignal) =>
    apiJson<TemplateVersion>(`/pipeline-templates/${encodeURIComponent(name)}`, { query: { version }, ...sig(signal) }),
};

export const paths = {
  logStream: (id: string, q: { stage: string; attempt: number }) =>
    `${job(id)}/logs/stream?stage=${encodeURIComponent(q.stage)}&attempt=${q.attempt}`,
  events: '/events/stream',
};
