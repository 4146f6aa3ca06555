/**
 * The jobs `npm run demo` follows (scripts/demo.ts): what it reads of each, how it follows them
 * live (GET /jobs/:id until they rest, printing each committed transition), and the report.
 */
import type { JobError, JobState, TransitionRecord } from '../../src/lifecycle/job.types';
import type { RealHandsRow } from '../demo-real-hands';
import { table, wrap } from './text';

/** A check the demo makes besides the jobs' final states. */
export interface Check {
  what: string;
  pass: boolean;
}

/** The slice of GET /jobs/:id the demo reads. */
export interface JobView {
  id: string;
  tenantId: string;
  state: JobState;
  error: JobError | null;
  context: { reviewRounds: number; prUrl: string | null; failedStage: string | null };
  history: TransitionRecord[];
}

/** A job the demo follows. */
export interface Tracked {
  key: string;
  scenario: string;
  tenant: string;
  id: string;
  expected: JobState;
  /** Extra check on the settled job; returns why it is wrong, or undefined. */
  verify?: (job: JobView) => string | undefined;
  /** Called on each observed state (e.g. cancel when CODING). */
  onState?: (job: JobView, self: Tracked) => Promise<void>;
  state: JobState;
  job?: JobView;
  printed: number;
  settled: boolean;
  timedOut?: boolean;
  problem?: string;
  cancelSent?: boolean;
}

/** States after which a job does not move by itself. */
export const RESTING: readonly string[] = ['COMPLETED', 'CANCELLED', 'FAILED'];

export const count = (job: JobView, event: string) => job.history.filter((h) => h.event === event).length;
export const statePath = (h: TransitionRecord[]) => (h.length ? [h[0].from, ...h.map((x) => x.to)] : []);
export const eventLabel = (h: TransitionRecord) => `${h.event}${h.attempt > 1 ? ` (attempt ${h.attempt})` : ''}`;

/** What {@link followJobs} needs from the demo. */
export interface FollowDeps {
  /** GET /jobs/:id as the job's tenant; throws unless 200. */
  get: (j: Tracked) => Promise<JobView>;
  say: (line?: string) => void;
  /** `+N ms` since the demo's first delivery. */
  ms: (at?: number) => string;
  /** For the timeout line (ms). */
  timeoutMs: number;
  pollMs: number;
}

/** Polls every unsettled job until all rest or the deadline passes, printing transitions live. */
export async function followJobs(jobs: Tracked[], deadline: number, d: FollowDeps): Promise<void> {
  const { say, ms } = d;
  const keyWidth = Math.max(...jobs.map((j) => j.key.length));
  for (;;) {
    const open = jobs.filter((j) => !j.settled);
    if (!open.length) return;
    if (Date.now() > deadline) {
      for (const j of open) {
        j.timedOut = true;
        j.settled = true;
      }
      say(`${ms()}  timeout: ${open.map((j) => `${j.key} still ${j.state}`).join(', ')} (${d.timeoutMs / 1000} s after the first delivery)`);
      return;
    }
    const fresh: Array<{ j: Tracked; h: TransitionRecord }> = [];
    await Promise.all(
      open.map(async (j) => {
        const job = await d.get(j);
        j.job = job;
        j.state = job.state;
        for (const h of job.history.slice(j.printed)) fresh.push({ j, h });
        j.printed = job.history.length;
      }),
    );
    fresh.sort((a, b) => Date.parse(a.h.at) - Date.parse(b.h.at));
    for (const { j, h } of fresh) {
      say(`${ms(Date.parse(h.at))}  ${j.key.padEnd(keyWidth)}  ${`${h.from} → ${h.to}`.padEnd(22)}  ${eventLabel(h)}`);
    }
    for (const j of open) {
      if (j.onState && j.job) await j.onState(j.job, j);
      if (RESTING.includes(j.state)) j.settled = true;
    }
    await new Promise((r) => setTimeout(r, d.pollMs));
  }
}

/**
 * Judges every followed job (timed out, another final state, or its own `verify`), then prints the
 * history per job, the table of jobs (these and the real-hands `hands.rows`) and the checks.
 */
export function reportJobs(jobs: Tracked[], hands: { rows: RealHandsRow[] }, checks: Check[], say: (line?: string) => void): void {
  const ok = (pass: boolean) => (pass ? '✓' : '✗');
  for (const j of jobs) {
    if (j.timedOut) j.problem = `timed out in ${j.state}`;
    else if (j.state !== j.expected) j.problem = `ended ${j.state}${j.job?.error ? ` (${j.job.error.code})` : ''}`;
    else j.problem = j.verify && j.job ? j.verify(j.job) : undefined;
  }
  say();
  say('history per job:');
  for (const j of jobs) {
    const h = j.job?.history ?? [];
    say(`  ${j.key}  job ${j.id}  tenant ${j.tenant}  (${j.scenario})`);
    const parts = h.length ? [h[0].from, ...h.map((x) => `─${eventLabel(x)}→ ${x.to}`)] : [j.state];
    for (const l of wrap(parts, ' ', 118, '      ')) say(l);
    if (j.job?.error) say(`      error: ${j.job.error.code} in ${j.job.error.stage}: ${j.job.error.message}`);
    if (j.job?.context.prUrl) say(`      pull request: ${j.job.context.prUrl}`);
  }
  say();
  const rows = jobs.map((j) => {
    const h = j.job?.history ?? [];
    return [
      j.id.slice(0, 8),
      j.key,
      j.scenario,
      j.expected,
      j.timedOut ? `${j.state} (timeout)` : j.state,
      ok(!j.problem),
      `${statePath(h).join('→') || j.state}  [${h.length} events]`,
    ];
  });
  for (const r of hands.rows) rows.push([r.id.slice(0, 8), r.key, r.scenario, r.expected, r.final, ok(r.ok), r.transitions]);
  for (const l of table(['job', 'name', 'scenario', 'expected', 'final', 'ok', 'transitions'], rows)) say(l);
  say();
  say('checks:');
  for (const c of checks) say(`  ${ok(c.pass)} ${c.what}`);
  for (const j of jobs.filter((x) => x.problem)) say(`  ✗ ${j.key}: ${j.problem}`);
  for (const r of hands.rows.filter((x) => x.problem)) say(`  ✗ ${r.key}: ${r.problem}`);

}
