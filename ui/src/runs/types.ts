/**
 * Pipeline runs — not served yet. When the pipelines feature lands, fill in these types from its
 * contract, add the calls to api/endpoints.ts, and implement {@link useRuns} like useJobList
 * (a resource reloaded on live events); RunsPage then lists them in the jobs page's style.
 */

/** What a pipeline run will look like (the shape is a placeholder until the API exists). */
export interface PipelineRun {
  id: string;
  pipelineId: string;
  state: string;
  /** Jobs the run started. */
  jobIds: string[];
  createdAt: string;
  updatedAt: string;
}

export interface RunsPage {
  items: PipelineRun[];
  nextCursor: string | null;
}

/** Whether the server has pipeline runs (false until the feature lands). */
export const PIPELINE_RUNS_AVAILABLE = false;
