import type { SpawnedStep } from '../api/types';
import { StateBadge } from '../common/StateBadge';

/** Steps spawned at run time (the regression loop): their parent, depth, status and regression context. */
export function SpawnedSteps({ spawned }: { spawned: SpawnedStep[] }) {
  return (
    <table className="table" data-testid="spawned">
      <thead>
        <tr>
          <th scope="col">Step</th>
          <th scope="col">Spawned by</th>
          <th scope="col">Depth</th>
          <th scope="col">Status</th>
          <th scope="col">Regression context</th>
        </tr>
      </thead>
      <tbody>
        {spawned.map((s) => (
          <tr key={s.id} data-testid="spawned-step" data-step={s.id} data-parent={s.parentStepId} data-status={s.status}>
            <td className="mono">
              {s.id}
              {s.templateStep ? <span className="muted small"> (runs {s.templateStep})</span> : null}
            </td>
            <td className="mono">
              {s.parentStepId}
              {s.parentVisit ? <span className="muted small"> visit {s.parentVisit}</span> : null}
            </td>
            <td className="num">{s.depth}</td>
            <td>
              <StateBadge state={s.status} />
              {s.error ? <span className="text-bad mono small"> {s.error.code}</span> : null}
            </td>
            <td className="small">
              <div>{s.regressionContext.reason}</div>
              {s.regressionContext.failingOutput ? (
                <details>
                  <summary className="small">failing output</summary>
                  <pre className="prose-pre">{s.regressionContext.failingOutput}</pre>
                </details>
              ) : null}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
