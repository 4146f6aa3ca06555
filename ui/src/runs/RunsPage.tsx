import { useRuns } from './useRuns';

/** `#/runs`: a placeholder until pipelines exist. */
export function RunsPage() {
  const runs = useRuns();
  return (
    <section className="panel" aria-labelledby="runs-title" data-testid="runs-page">
      <h1 id="runs-title">Runs</h1>
      {runs.available ? null : (
        <p className="placeholder" data-testid="runs-placeholder">
          Pipeline runs appear here when the pipelines feature lands.
        </p>
      )}
    </section>
  );
}
