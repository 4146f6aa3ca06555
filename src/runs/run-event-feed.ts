import { runProgress } from '../pipelines/run-events';
import type { RunChangeEvent } from '../events/tenant-event';
import type { TenantEventLog } from '../events/tenant-event-log';
import type { RunRecord } from './run.record';

/** The event of a run's change: what a dashboard row, a run page and its statechart need to update. */
export function runChangeEvent(before: RunRecord | null, after: RunRecord): RunChangeEvent {
  const p = runProgress(after.snapshot.context, after.startedAt ?? after.createdAt, after.endedAt, {});
  return {
    kind: 'run',
    runId: after.id,
    template: { name: after.template.name, version: after.template.version },
    status: after.status,
    version: after.version,
    updatedAt: after.updatedAt.toISOString(),
    events: after.events.slice(before?.events.length ?? 0),
    progress: { done: p.done, total: p.total, percent: p.percent },
    created: before === null,
  };
}

/** Feeds every run change committed in this process into the tenant's event stream (SSE). */
export function feedRunEvents(engine: { onChange(l: (before: RunRecord | null, after: RunRecord) => void): void }, log: TenantEventLog): void {
  engine.onChange((before, after) => log.append(after.tenantId, runChangeEvent(before, after)));
}
