import type { RunsPage } from './types';

export interface RunsResult {
  available: boolean;
  data: RunsPage | undefined;
}

/** The tenant's pipeline runs. A stub until the pipelines feature lands (see types.ts). */
export function useRuns(): RunsResult {
  return { available: false, data: undefined };
}
