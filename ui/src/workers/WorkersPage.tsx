import { useEffect } from 'react';
import { api } from '../api/endpoints';
import { ErrorBox } from '../common/ErrorBox';
import { useResource } from '../common/useResource';
import { QueuesTable } from './QueuesTable';
import { WorkersTable } from './WorkersTable';

/** Polled here only: workers and queues have no events of their own. */
const REFRESH_MS = 5000;

/** `#/workers`: live workers with their circuit breakers, and the stage queues. */
export function WorkersPage() {
  const workers = useResource((s) => api.workers(s), 'workers');
  const queues = useResource((s) => api.queues(s), 'queues');

  useEffect(() => {
    const tick = () => {
      if (document.visibilityState !== 'visible') return;
      workers.reload();
      queues.reload();
    };
    const t = setInterval(tick, REFRESH_MS);
    return () => clearInterval(t);
  }, [workers.reload, queues.reload]);

  return (
    <div className="workers-page">
      <section className="panel" aria-labelledby="workers-title">
        <div className="section-head">
          <h1 id="workers-title">Workers</h1>
          <span className="small muted">refreshed every {REFRESH_MS / 1000} s</span>
        </div>
        <ErrorBox error={workers.error} what="Workers" />
        {workers.data ? <WorkersTable workers={workers.data} /> : workers.loading ? <p className="muted">Loading…</p> : null}
      </section>
      <section className="panel" aria-labelledby="queues-title">
        <h2 id="queues-title">Queues</h2>
        <ErrorBox error={queues.error} what="Queues" />
        {queues.data ? <QueuesTable queues={queues.data} /> : queues.loading ? <p className="muted">Loading…</p> : null}
      </section>
    </div>
  );
}
