import { lazy, Suspense, useState } from 'react';
import { api } from '../api/endpoints';
import type { Artifact } from '../api/types';
import { ErrorBox } from '../common/ErrorBox';
import { formatBytes } from '../common/format';
import { useResource } from '../common/useResource';

const DiffView = lazy(() => import('./DiffView').then((m) => ({ default: m.DiffView })));

/** Shown inline up to this size; larger ones are downloaded. */
const MAX_INLINE_BYTES = 5 * 1024 * 1024;

export function isDiff(a: Pick<Artifact, 'name' | 'contentType'>): boolean {
  return /\.(patch|diff)$/i.test(a.name) || /diff|patch/i.test(a.contentType);
}

export function isText(a: Pick<Artifact, 'name' | 'contentType'>): boolean {
  return /^text\/|json|xml|yaml|markdown|diff|patch/i.test(a.contentType) || /\.(md|log|txt|patch|diff|json|ya?ml)$/i.test(a.name);
}

async function download(jobId: string, a: Artifact): Promise<void> {
  const blob = await api.artifactBlob(jobId, a.id);
  const url = URL.createObjectURL(blob);
  const link = document.createElement('a');
  link.href = url;
  link.download = a.name;
  link.click();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** One artifact's content: a diff viewer for patches, text for plans and check logs, else a download. */
export function ArtifactViewer({ jobId, artifact }: { jobId: string; artifact: Artifact }) {
  const inline = isText(artifact) && artifact.bytes <= MAX_INLINE_BYTES;
  const content = useResource(async (signal) => (inline ? (await api.artifactText(jobId, artifact.id, signal)).text : ''), `${jobId}|${artifact.id}|${inline}`);
  const [downloadError, setDownloadError] = useState<unknown>(null);
  return (
    <div className="artifact-view" data-testid="artifact-view" data-artifact={artifact.name}>
      <div className="artifact-head">
        <strong className="mono">{artifact.name}</strong>
        <span className="muted small">
          {artifact.contentType} · {formatBytes(artifact.bytes)} · sha256 <span className="mono">{artifact.sha256.slice(0, 12)}</span>
        </span>
        <button type="button" className="btn btn-quiet" onClick={() => download(jobId, artifact).catch(setDownloadError)}>
          Download
        </button>
      </div>
      <ErrorBox error={downloadError} what="Download" />
      <ErrorBox error={content.error} what="Content" />
      {!inline ? <p className="muted small">Not shown inline (binary or larger than {formatBytes(MAX_INLINE_BYTES)}).</p> : null}
      {inline && content.data === undefined && !content.error ? <p className="muted small">Loading…</p> : null}
      {inline && content.data !== undefined ? (
        isDiff(artifact) ? (
          <Suspense fallback={<p className="muted small">Loading the diff viewer…</p>}>
            <DiffView text={content.data} />
          </Suspense>
        ) : (
          <pre className="artifact-text" data-testid="artifact-text">
            {content.data}
          </pre>
        )
      ) : null}
    </div>
  );
}
