import type { TestApp } from '../support/test-app';
import { eventually } from '../support/test-app';

export const TENANT = { 'x-tenant-id': 'acme' };

/** Stores a template for the `acme` tenant; returns its version. */
export async function postTemplate(t: TestApp, template: Record<string, unknown>): Promise<number> {
  const res = await t.http.post('/pipeline-templates').set(TENANT).send(template);
  if (res.status !== 201 && res.status !== 200) throw new Error(`template refused: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.version as number;
}

/** Starts a run; returns its id. */
export async function startRun(t: TestApp, template: string, inputs: Record<string, unknown> = {}, version?: number): Promise<string> {
  const res = await t.http.post('/runs').set(TENANT).send({ template, inputs, ...(version ? { version } : {}) });
  if (res.status !== 201) throw new Error(`run refused: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.id as string;
}

export interface RunView {
  id: string;
  status: string;
  steps: Record<string, { status: string; visit: number; reason?: string; error?: { code: string; message: string }; artifacts?: Record<string, string> }>;
  spawned: { id: string; parentStepId: string; status: string; depth: number; regressionContext: { reason: string; failingOutput?: string } }[];
  error: { code: string; message: string } | null;
  acceptedEvents: string[];
  progress: { percent: number; done: number; total: number };
}

export async function getRun(t: TestApp, id: string): Promise<RunView> {
  return (await t.http.get(`/runs/${id}`).set(TENANT).expect(200)).body as RunView;
}

/**
 * A run's step attempts (`GET /runs/:id/attempts`) once none of them is `running`. A succeeded
 * step's attempt is recorded just after the run's commit that took its result (reported first,
 * recorded after: src/runs/step-work.ts), so a run can read `succeeded` a moment before its last
 * attempt does.
 */
export async function settledAttempts<T = any>(t: TestApp, id: string, timeoutMs = 10_000): Promise<T[]> {
  const read = async () => (await t.http.get(`/runs/${id}/attempts`).set(TENANT).expect(200)).body as { status: string }[];
  return eventually(
    async () => {
      const attempts = await read();
      return attempts.some((a) => a.status === 'running') ? undefined : (attempts as T[]);
    },
    timeoutMs,
    async () => `run ${id}: attempts still running: ${JSON.stringify(await read())}`,
  );
}

/** Waits until the run is in one of `statuses`. */
export async function waitForRun(t: TestApp, id: string, statuses: string[], timeoutMs = 30_000): Promise<RunView> {
  return eventually(
    async () => {
      const r = await getRun(t, id);
      return statuses.includes(r.status) ? r : undefined;
    },
    timeoutMs,
    async () => `run ${id} not in ${statuses.join('|')}: ${JSON.stringify(await getRun(t, id))}`,
  );
}

export interface RunEventView {
  seq: number;
  kind: 'run' | 'step';
  step?: string;
  from: string;
  to: string;
  event: string;
  at: string;
  detail?: string;
}

export async function runEvents(t: TestApp, id: string): Promise<RunEventView[]> {
  return (await t.http.get(`/runs/${id}/events`).set(TENANT).expect(200)).body as RunEventView[];
}

/** The order in which steps entered `succeeded` (from the audit). */
export function succeededOrder(events: RunEventView[]): string[] {
  return events.filter((e) => e.kind === 'step' && e.to === 'succeeded').map((e) => e.step!);
}

/** A shell step. */
export function sh(id: string, run: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { id, tool: 'shell', with: { run }, ...extra };
}
