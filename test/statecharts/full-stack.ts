/**
 * Replays a generated path through the whole stack: REST (supertest), BullMQ stage workers, the
 * MongoDB-wire store, with the app's MockAgent scripted per path.
 *
 * How a path drives the real app:
 * - the job is submitted over REST with `mock: path=<key>` in its issue body;
 * - the invoked actors' done/error events come from the real stage workers: {@link PathAgent}
 *   wraps the app's MockAgent and, on every call, reads the job's committed history to find where
 *   the job is on its path, then answers as the path says (success, review approval/rejection, a
 *   transient fault that BullMQ retries, a permanent fault, a transient fault on every attempt so
 *   the attempts run out), or hangs until aborted when the path expects an external event next or
 *   ends there;
 * - external events are sent over REST (`POST /jobs/:id/events`) once the history shows the job
 *   at the step's source state. MARK_FAILED is not an external event type (REST answers 400); its
 *   producer is the deadline watchdog (a delayed BullMQ message JOB_DEADLINE_MS after submission),
 *   so a path ending in MARK_FAILED runs in an app with a short JOB_DEADLINE_MS: the job rests in
 *   the step's source state (its agent call hangs) until the watchdog fails it.
 * Then the stored history must equal the path step for step, and every external event the end
 * state does not accept must get 409 without changing the job.
 */
import { AgentError, type AgentCallOptions, type AgentJobContext, type PullRequestInput } from '../../src/agents/agent.port';
import type { MockAgent } from '../../src/agents/mock.agent';
import { STAGE_ACTOR_ID, STAGE_STATE, type JobState, type Stage, type StageFault, type StageUsage } from '../../src/lifecycle/job.types';
import { eventually, type TestApp } from '../support/test-app';
import {
  expectedHistory,
  illegalExternalEvents,
  isFinal,
  isUncommittedStay,
  STAGE_ATTEMPTS,
  type GeneratedPath,
  type HistoryStep,
  type PathStep,
} from './paths';

export const TENANT = 'paths';

/** What the agent does on one call. */
type Outcome =
  | { kind: 'ok'; usage?: StageUsage }
  | { kind: 'reject'; usage?: StageUsage }
  | { kind: 'transient' }
  | { kind: 'permanent' }
  | { kind: 'hang' };

const ACTOR_STAGE = Object.fromEntries(Object.entries(STAGE_ACTOR_ID).map(([stage, id]) => [id, stage as Stage])) as Record<string, Stage>;

/** The stage whose invoked actor sends `step`'s event, if it is an actor event. */
function actorStage(step: PathStep): Stage | undefined {
  const m = /^xstate\.(done|error)\.actor\.(.+)$/.exec(step.event.type);
  return m ? ACTOR_STAGE[m[2]] : undefined;
}

/** The worker sends START_PLANNING itself when it picks up a QUEUED job. */
function isWorkerStart(step: PathStep): boolean {
  return step.source === 'QUEUED' && step.event.type === 'START_PLANNING';
}

/** Index of the first path step not yet in a history of `committed` entries. */
function positionAfter(path: GeneratedPath, committed: number): number {
  let n = 0;
  for (let i = 0; i < path.steps.length; i++) {
    if (n === committed) return i;
    if (!isUncommittedStay(path.steps[i])) n++;
  }
  return path.steps.length;
}

/**
 * What the stage visit starting at `position` does: `stays` transient faults (each a BullMQ
 * retry), then `final` — or `hang` when the path needs the job to rest in the stage (an external
 * event comes next, or the path ends).
 */
function visitPlan(path: GeneratedPath, position: number, stage: Stage): { stays: number; final: Outcome; finalStep?: PathStep } {
  let i = position;
  if (stage === 'planning' && path.steps[i] && isWorkerStart(path.steps[i])) i++;
  let stays = 0;
  while (path.steps[i] && isUncommittedStay(path.steps[i]) && actorStage(path.steps[i]) === stage) {
    stays++;
    i++;
  }
  const next = path.steps[i];
  if (!next || actorStage(next) !== stage) return { stays, final: { kind: 'hang' } };
  if (next.event.type.startsWith('xstate.done.actor.')) {
    const output = next.event.output as { result?: { approved?: boolean }; usage?: StageUsage };
    const usage = output.usage ? { usage: output.usage } : {};
    return { stays, final: output.result?.approved === false ? { kind: 'reject', ...usage } : { kind: 'ok', ...usage }, finalStep: next };
  }
  const fault = next.event.error as StageFault;
  return { stays, final: fault.retryable ? { kind: 'transient' } : { kind: 'permanent' }, finalStep: next };
}

/** One agent call as the path agent saw it. */
export interface PathCall {
  jobId: string;
  stage: Stage;
  attempt: number;
  outcome: Outcome['kind'];
}

/**
 * Wraps the app's MockAgent (the AGENT and PULL_REQUEST_GATEWAY provider) so that jobs whose issue
 * body holds `mock: path=<key>` follow their registered path; other jobs are untouched.
 */
export class PathAgent {
  readonly calls: PathCall[] = [];
  private readonly paths = new Map<string, GeneratedPath>();
  private readonly hanging = new Map<string, Set<(e: Error) => void>>();

  constructor(private readonly t: TestApp) {
    const mock = t.mock as MockAgent & Record<string, unknown>;
    const original = {
      plan: mock.plan.bind(mock),
      code: mock.code.bind(mock),
      review: mock.review.bind(mock),
      open: mock.open.bind(mock),
    };
    mock.plan = (ctx: AgentJobContext, opts: AgentCallOptions) => this.call('planning', ctx, opts, () => original.plan(ctx, opts));
    mock.code = (ctx: AgentJobContext, plan: never, feedback: string[], opts: AgentCallOptions) =>
      this.call('coding', ctx, opts, () => original.code(ctx, plan, feedback, opts));
    mock.review = (ctx: AgentJobContext, plan: never, code: never, opts: AgentCallOptions) =>
      this.call('reviewing', ctx, opts, () => original.review(ctx, plan, code, opts), () => ({
        approved: false,
        comments: [`Round ${ctx.reviewRound}: needs a test.`],
      }));
    mock.open = (ctx: AgentJobContext, input: PullRequestInput, opts: AgentCallOptions) =>
      this.call('pr-open', ctx, opts, () => original.open(ctx, input, opts));
  }

  register(key: string, path: GeneratedPath): void {
    this.paths.set(key, path);
  }

  /** Releases every call of `jobId` still hanging (their results are then discarded by the CAS). */
  release(jobId: string): void {
    for (const reject of this.hanging.get(jobId) ?? []) reject(new AgentError('RELEASED', 'released by the path test', false));
    this.hanging.delete(jobId);
  }

  releaseAll(): void {
    for (const id of [...this.hanging.keys()]) this.release(id);
  }

  private async call<T>(stage: Stage, ctx: AgentJobContext, opts: AgentCallOptions, ok: () => Promise<T>, reject?: () => T): Promise<T> {
    const key = /^\s*mock:\s*path=(\S+)\s*$/m.exec(ctx.issue.body)?.[1];
    const path = key ? this.paths.get(key) : undefined;
    if (!path) return ok();
    const record = await this.t.jobs.findById(ctx.jobId);
    const position = positionAfter(path, record?.history.length ?? 0);
    const plan = visitPlan(path, position, stage);
    let outcome: Outcome;
    if (opts.attempt <= plan.stays) outcome = { kind: 'transient' };
    else outcome = plan.final;
    this.calls.push({ jobId: ctx.jobId, stage, attempt: opts.attempt, outcome: outcome.kind });
    switch (outcome.kind) {
      case 'ok':
        // A done event with usage over the job's budget: the real observer reports it, as a CLI agent would.
        if (outcome.usage) opts.observer?.usage(outcome.usage);
        return ok();
      case 'reject':
        if (outcome.usage) opts.observer?.usage(outcome.usage);
        return reject!();
      case 'transient':
        throw new AgentError('MOCK_TRANSIENT_FAILURE', `path: transient fault in ${stage} (attempt ${opts.attempt})`, true, stage);
      case 'permanent':
        throw new AgentError('MOCK_PERMANENT_FAILURE', `path: permanent fault in ${stage}`, false, stage);
      case 'hang':
        return new Promise<T>((_resolve, rejectCall) => {
          let set = this.hanging.get(ctx.jobId);
          if (!set) this.hanging.set(ctx.jobId, (set = new Set()));
          const done = (e: Error) => {
            set.delete(done);
            rejectCall(e);
          };
          set.add(done);
          if (opts.signal.aborted) done(opts.signal.reason ?? new Error('aborted'));
          opts.signal.addEventListener('abort', () => done(opts.signal.reason ?? new Error('aborted')), { once: true });
        });
    }
  }
}

const historyOf = (history: HistoryStep[]) => history.map(({ from, to, event }) => ({ from, to, event }));

/** Waits until the job's history has exactly `n` entries (fails fast when it has more). */
async function waitForHistory(t: TestApp, jobId: string, n: number, expected: HistoryStep[], timeoutMs = 30_000) {
  return eventually(
    async () => {
      const job = await t.jobs.findById(jobId);
      if (!job) return undefined;
      if (job.history.length > n) {
        throw new Error(`job ${jobId} went past its path: history ${JSON.stringify(historyOf(job.history))}, expected ${JSON.stringify(expected)}`);
      }
      return job.history.length === n ? job : undefined;
    },
    timeoutMs,
    async () => `job ${jobId}: history ${JSON.stringify(historyOf((await t.jobs.findById(jobId))?.history ?? []))}, waiting for ${n} entries of ${JSON.stringify(expected)}`,
  );
}

/** What one full-stack replay checked. */
export interface FullStackResult {
  jobId: string;
  history: HistoryStep[];
  expected: HistoryStep[];
  end: JobState;
  /** Agent attempts the stays at the end of the path caused (checked through the call log). */
  staysSeen: number;
  /** External event types sent at the end and answered 409. */
  refused: string[];
}

/**
 * Drives `path` through the app `t` (whose AUTO_COMPLETE must match the path's variant; for a
 * path ending in MARK_FAILED, whose JOB_DEADLINE_MS is `options.deadlineMs`) and returns what it
 * observed. Leaves the job in a final state (cancels it if the path ends in a
 * working state) and releases its hanging agent calls.
 */
export async function replayFullStack(
  t: TestApp,
  agent: PathAgent,
  path: GeneratedPath,
  key: string,
  options: { deadlineMs?: number } = {},
): Promise<FullStackResult> {
  agent.register(key, path);
  const expected = expectedHistory(path);
  const http = () => t.http;
  const res = await http()
    .post('/jobs')
    .set('x-tenant-id', TENANT)
    .send({
      repositoryId: 'acme/widgets',
      issue: { id: key, title: `Path ${key}`, body: `Generated path ${key}: ${path.description}\nmock: path=${key}`, url: `https://github.com/acme/widgets/issues/${key.replace(/\W/g, '')}` },
    })
    .expect(201);
  const jobId = res.body.id as string;
  try {
    let committed = 0;
    for (let i = 0; i < path.steps.length; i++) {
      const step = path.steps[i];
      if (isWorkerStart(step)) {
        // The worker sends START_PLANNING itself, but commits it only with the planning result.
        // When the path wants the job to rest in PLANNING, START_PLANNING is sent over REST.
        if (visitPlan(path, i, 'planning').final.kind === 'hang') {
          await waitForHistory(t, jobId, committed, expected);
          await http().post(`/jobs/${jobId}/events`).set('x-tenant-id', TENANT).send({ type: 'START_PLANNING' }).expect(200);
        }
      } else if (!actorStage(step)) {
        await waitForHistory(t, jobId, committed, expected);
        if (step.event.type === 'MARK_FAILED') {
          // Sent by the deadline watchdog when JOB_DEADLINE_MS has passed: only as the last step.
          if (i !== path.steps.length - 1) throw new Error(`path ${key}: MARK_FAILED only comes from the deadline watchdog, so only as the last step`);
          await http().post(`/jobs/${jobId}/events`).set('x-tenant-id', TENANT).send({ type: 'MARK_FAILED' }).expect(400);
        } else {
          await http().post(`/jobs/${jobId}/events`).set('x-tenant-id', TENANT).send({ type: step.event.type }).expect(200);
        }
      }
      if (!isUncommittedStay(step)) committed++;
    }
    const job = await waitForHistory(t, jobId, expected.length, expected, options.deadlineMs ? options.deadlineMs + 30_000 : 30_000);
    if (job.state !== path.end) throw new Error(`job ${jobId} is in ${job.state}, path ends in ${path.end}`);
    if (path.steps.at(-1)?.event.type === 'MARK_FAILED' && job.error?.code !== 'JOB_DEADLINE_EXCEEDED') {
      throw new Error(`job ${jobId}: MARK_FAILED without the watchdog's error: ${JSON.stringify(job.error)}`);
    }

    // Stays at the end of the path leave no history: the call log shows BullMQ's retry.
    let staysSeen = 0;
    const trailing = [...path.steps].reverse().findIndex((s) => !isUncommittedStay(s));
    const stays = trailing === -1 ? path.steps.length : trailing;
    if (stays > 0) {
      const stage = actorStage(path.steps.at(-1)!)!;
      await eventually(
        async () => (agent.calls.some((c) => c.jobId === jobId && c.stage === stage && c.attempt === stays + 1) ? true : undefined),
        30_000,
        () => `job ${jobId}: no ${stage} attempt ${stays + 1} after ${stays} transient fault(s): ${JSON.stringify(agent.calls.filter((c) => c.jobId === jobId))}`,
      );
      staysSeen = agent.calls.filter((c) => c.jobId === jobId && c.stage === stage && c.outcome === 'transient').length;
    }
    if (stays + 1 > STAGE_ATTEMPTS) throw new Error(`path ${key} needs ${stays} stays; only ${STAGE_ATTEMPTS} attempts`);

    // Every external event the end state does not accept: 409, nothing changes.
    const refused = illegalExternalEvents(path.endSnapshot);
    for (const type of refused) {
      const r = await http().post(`/jobs/${jobId}/events`).set('x-tenant-id', TENANT).send({ type });
      if (r.status !== 409 || r.body.code !== 'ILLEGAL_EVENT' || r.body.state !== path.end) {
        throw new Error(`job ${jobId} in ${path.end}: ${type} answered ${r.status} ${JSON.stringify(r.body)}, expected 409 ILLEGAL_EVENT`);
      }
    }
    const after = await t.jobs.findById(jobId);
    if (after!.version !== job.version || after!.state !== job.state) throw new Error(`job ${jobId} changed after refused events`);

    return { jobId, history: historyOf(job.history), expected, end: job.state, staysSeen, refused };
  } finally {
    const job = await t.jobs.findById(jobId);
    if (job && !isFinal(job.state) && job.state !== 'FAILED') {
      await http().post(`/jobs/${jobId}/cancel`).set('x-tenant-id', TENANT);
    }
    agent.release(jobId);
  }
}

/** The stage of a working state (for messages). */
export function stageOf(state: JobState): Stage | undefined {
  return (Object.entries(STAGE_STATE) as [Stage, JobState][]).find(([, s]) => s === state)?.[0];
}
