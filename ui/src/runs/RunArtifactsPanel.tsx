import { useState } from 'react';
import { api } from '../api/endpoints';
import type { ArtifactLineage, RunArtifacts } from '../api/types';
import { Empty } from '../common/Empty';
import { ErrorBox } from '../common/ErrorBox';
import { formatBytes, formatTime } from '../common/format';

const who = (c: { step: string; visit: number; attempt: number }) => `${c.step} v${c.visit} #${c.attempt}`;

function Lineage({ artifactId }: { artifactId: string }) {
  const [state, setState] = useState<{ data?: ArtifactLineage; error?: unknown; loading: boolean }>({ loading: false });
  const load = () => {
    setState({ loading: true });
    api.artifactLineage(artifactId).then(
      (data) => setState({ data, loading: false }),
      (error: unknown) => setState({ error, loading: false }),
    );
  };
  if (!state.data && !state.loading && !state.error) {
    return (
      <button type="button" className="btn btn-small" onClick={load} data-testid="artifact-lineage-button">
        Lineage
      </button>
    );
  }
  if (state.loading) return <span className="small muted">loading…</span>;
  if (state.error) return <ErrorBox error={state.error} what="Lineage" />;
  const l = state.data!;
  return (
    <div className="small" data-testid="artifact-lineage">
      produced by <span className="mono">{who(l.producer)}</span> of <span className="mono">{l.producer.runId}</span>;{' '}
      {l.consumers.length === 0
        ? 'read by no step yet'
        : `read by ${l.consumers.map((c) => `${who(c)} at ${formatTime(c.at)}${c.sha256 === l.artifact.sha256 ? ' (hash matched)' : ' (HASH DIFFERS)'}`).join(', ')}`}
    </div>
  );
}

/** The run's artifacts: producer, SHA-256, size, files, which attempts read them (with the hash they read), and the lineage on demand. */
export function RunArtifactsPanel({ data }: { data: RunArtifacts }) {
  if (data.artifacts.length === 0) return <Empty>No artifacts yet (a step's `outputs` store them).</Empty>;
  return (
    <table className="table" data-testid="run-artifacts">
      <thead>
        <tr>
          <th scope="col">Name</th>
          <th scope="col">Kind</th>
          <th scope="col">Produced by</th>
          <th scope="col">SHA-256</th>
          <th scope="col">Size</th>
          <th scope="col">Read by</th>
          <th scope="col">Lineage</th>
        </tr>
      </thead>
      <tbody>
        {data.artifacts.map((a) => {
          const readers = data.consumption.filter((c) => c.artifactId === a.id);
          return (
            <tr key={a.id} data-testid="run-artifact" data-name={a.name} data-artifact-id={a.id}>
              <td className="mono">{a.name}</td>
              <td>
                {a.kind}
                {a.files ? (
                  <details>
                    <summary className="small">
                      {a.files.length} file{a.files.length === 1 ? '' : 's'}
                    </summary>
                    <ul className="small mono plain-list">
                      {a.files.map((f) => (
                        <li key={f.path} title={f.sha256}>
                          {f.path} ({formatBytes(f.bytes)})
                        </li>
                      ))}
                    </ul>
                  </details>
                ) : null}
              </td>
              <td className="mono">{who(a.producer)}</td>
              <td className="mono small" title={a.sha256}>
                {a.sha256.slice(0, 12)}…
              </td>
              <td className="num">{formatBytes(a.bytes)}</td>
              <td className="small" data-testid="artifact-readers">
                {readers.length === 0 ? <span className="muted">—</span> : readers.map((c) => `${who(c)}${c.sha256 === a.sha256 ? '' : ' (hash differs!)'}`).join(', ')}
              </td>
              <td>
                <Lineage artifactId={a.id} />
              </td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}
