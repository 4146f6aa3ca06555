import { useState } from 'react';
import type { Artifact } from '../api/types';
import { Empty } from '../common/Empty';
import { formatBytes, formatDateTime, formatTime } from '../common/format';
import { ArtifactViewer } from './ArtifactViewer';

/** Artifacts as a table; "View" opens one below it (diff.patch opens first when there is one). */
export function ArtifactList({ jobId, artifacts, empty }: { jobId: string; artifacts: Artifact[]; empty: string }) {
  const [openId, setOpenId] = useState<string | null>(null);
  if (artifacts.length === 0) return <Empty>{empty}</Empty>;
  const open = artifacts.find((a) => a.id === openId) ?? null;
  return (
    <div className="artifacts">
      <table className="table" data-testid="artifacts">
        <thead>
          <tr>
            <th scope="col">Name</th>
            <th scope="col">Stage</th>
            <th scope="col">#</th>
            <th scope="col">Size</th>
            <th scope="col">Created</th>
            <th scope="col">
              <span className="visually-hidden">Open</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {artifacts.map((a) => (
            <tr key={a.id} className={a.id === openId ? 'selected' : undefined} data-testid="artifact" data-name={a.name}>
              <td className="mono">{a.name}</td>
              <td>{a.stage ?? '—'}</td>
              <td className="num">{a.attempt ?? '—'}</td>
              <td className="num">{formatBytes(a.bytes)}</td>
              <td className="nowrap" title={formatDateTime(a.createdAt)}>
                {formatTime(a.createdAt)}
              </td>
              <td>
                <button type="button" className="btn btn-small" onClick={() => setOpenId(a.id === openId ? null : a.id)} aria-expanded={a.id === openId} data-testid="artifact-open">
                  {a.id === openId ? 'Close' : 'View'}
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {open ? <ArtifactViewer jobId={jobId} artifact={open} /> : null}
    </div>
  );
}
