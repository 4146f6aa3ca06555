import { createHash } from 'node:crypto';
import {
  Agent,
  AgentCallOptions,
  AgentError,
  AgentJobContext,
  CodeResult,
  PlanResult,
  PullRequestGateway,
  PullRequestInput,
  PullRequestResult,
  ReviewResult,
} from './agent.port';
import type { Stage, StageUsage } from '../lifecycle/job.types';

/**
 * Script for one job, read from its issue body so that a scenario travels with the job (and so
 * through every process and restart). A line `mock: <directive>` per rule:
 * - `mock: delay=<ms>`              delay of every call in ms (overrides the agent's default)
 * - `mock: delay=<stage>:<ms>`      delay of one stage's calls in ms
 * - `mock: fail=<stage>`            permanent failure in that stage
 * - `mock: transient=<stage>:<n>`   first n attempts of that stage fail transiently
 * - `mock: reject=<n>`              review rejects the first n rounds, then approves
 * - `mock: usage=<stage>:<tokens>[:<usd>]`  every call of that stage reports this usage
 *                                   (tokens split half input, half output; USD optional)
 * Stages: planning, coding, reviewing, pr-open.
 */
export interface MockScript {
  delayMs?: number;
  stageDelayMs: Partial<Record<Stage, number>>;
  fail: Stage[];
  transient: Partial<Record<Stage, number>>;
  rejections: number;
  usage: Partial<Record<Stage, StageUsage>>;
}

/** Parses the `mock:` directives of an issue body. Unknown directives are ignored. */
export function parseMockScript(body: string): MockScript {
  const script: MockScript = { stageDelayMs: {}, fail: [], transient: {}, rejections: 0, usage: {} };
  for (const m of body.matchAll(/^\s*mock:\s*([a-z-]+)=([\w:.-]+)\s*$/gim)) {
    const [, key, value] = m;
    if (key === 'delay') {
      const [a, b] = value.split(':');
      if (b === undefined) script.delayMs = Number(a);
      else script.stageDelayMs[a as Stage] = Number(b);
    }
    else if (key === 'fail') script.fail.push(value as Stage);
    else if (key === 'reject') script.rejections = Number(value);
    else if (key === 'transient') {
      const [stage, n] = value.split(':');
      script.transient[stage as Stage] = Number(n ?? 1);
    } else if (key === 'usage') {
      const [stage, tokens, usd] = value.split(':');
      const n = Number(tokens ?? 0);
      script.usage[stage as Stage] = {
        inputTokens: Math.ceil(n / 2),
        outputTokens: Math.floor(n / 2),
        ...(usd !== undefined ? { costUsd: Number(usd) } : {}),
      };
    }
  }
  return script;
}

/** One call the mock received. */
export interface MockCall {
  jobId: string;
  stage: Stage;
  attempt: number;
  idempotencyKey: string;
  /** Set when the call's AbortSignal fired. */
  abortedAt?: number;
  startedAt: number;
}

/**
 * One event of one call in the cross-process call log (MOCK_AGENT_CALL_LOG_KEY): `start` when the
 * call begins, then `done`, `failed` or `aborted` (the AbortSignal fired; `at` is that moment).
 * A call whose process was killed has a `start` only.
 */
export interface MockCallLogEntry {
  jobId: string;
  stage: Stage;
  attempt: number;
  /** The call's idempotency key. */
  key: string;
  pid: number;
  /** ms since the epoch. */
  at: number;
  phase: 'start' | 'done' | 'failed' | 'aborted';
  aborted?: true;
}

/** Where the mock writes {@link MockCallLogEntry}s. Must not throw; may be slow (the start is awaited). */
export interface MockCallLog {
  record(entry: MockCallLogEntry): Promise<void>;
}

/** Options of the {@link MockAgent}. */
export interface MockAgentOptions {
  /** Default delay of every call in ms (0 = resolve on the next tick). */
  delayMs: number;
  /** Script applied to every job, under the job's own `mock:` directives. */
  defaults?: Partial<Omit<MockScript, 'stageDelayMs'>>;
  /** Cross-process call log (off unless MOCK_AGENT_CALL_LOG_KEY is set). */
  callLog?: MockCallLog;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason ?? new Error('aborted'));
    const t = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal.reason ?? new Error('aborted'));
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

function digest(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 8);
}

function slug(text: string): string {
  return (
    text
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-|-$/g, '')
      .slice(0, 40) || 'change'
  );
}

/**
 * A deterministic stand-in for an LLM agent and PR gateway. Outputs are derived from the issue
 * text; behaviour (delay, permanent/transient failures, review rejections) comes from the
 * options and from `mock:` directives in the issue body ({@link parseMockScript}).
 * Transient failures are decided by the attempt number, so they are the same in every process.
 */
export class MockAgent implements Agent, PullRequestGateway {
  /** Observer of every call (tests count calls per job, stage and attempt). */
  onCall?: (call: MockCall) => void;

  /** Script applied to every job (mutable, so tests and the demo can change the agent's mood). */
  defaults: Partial<Omit<MockScript, 'stageDelayMs'>>;

  constructor(private readonly options: MockAgentOptions = { delayMs: 0 }) {
    this.defaults = options.defaults ?? {};
  }

  private script(body: string): MockScript {
    const own = parseMockScript(body);
    const d = this.defaults;
    return {
      ...own,
      fail: [...(d.fail ?? []), ...own.fail],
      transient: { ...(d.transient ?? {}), ...own.transient },
      rejections: own.rejections || d.rejections || 0,
      usage: { ...(d.usage ?? {}), ...own.usage },
    };
  }

  /** Runs one call: logs it, waits its delay, applies the script, then `result(script)`. */
  private async run<T>(stage: Stage, ctx: AgentJobContext, opts: AgentCallOptions, result: (script: MockScript) => T): Promise<T> {
    const log = this.options.callLog;
    const entry = (phase: MockCallLogEntry['phase'], at = Date.now()): MockCallLogEntry => ({
      jobId: ctx.jobId,
      stage,
      attempt: opts.attempt,
      key: opts.idempotencyKey,
      pid: process.pid,
      at,
      phase,
      ...(phase === 'aborted' ? { aborted: true as const } : {}),
    });
    const onAbort = () => void log?.record(entry('aborted'));
    if (log) {
      await log.record(entry('start'));
      // An abort during that write has already fired: an 'abort' listener added now would never run.
      if (opts.signal.aborted) onAbort();
      else opts.signal.addEventListener('abort', onAbort, { once: true });
    }
    try {
      const value = result(await this.enter(stage, ctx, opts));
      if (log) void log.record(entry('done'));
      return value;
    } catch (e) {
      if (log && !opts.signal.aborted) void log.record(entry('failed'));
      throw e;
    } finally {
      opts.signal.removeEventListener('abort', onAbort);
    }
  }

  private async enter(stage: Stage, ctx: AgentJobContext, opts: AgentCallOptions): Promise<MockScript> {
    const script = this.script(ctx.issue.body);
    const call: MockCall = { jobId: ctx.jobId, stage, attempt: opts.attempt, idempotencyKey: opts.idempotencyKey, startedAt: Date.now() };
    opts.signal.addEventListener('abort', () => (call.abortedAt = Date.now()), { once: true });
    this.onCall?.(call);
    const delay = script.stageDelayMs[stage] ?? script.delayMs ?? this.options.delayMs;
    if (delay > 0) await sleep(delay, opts.signal);
    else if (opts.signal.aborted) throw opts.signal.reason ?? new Error('aborted');
    const usage = script.usage[stage];
    if (usage) opts.observer?.usage(usage); // reported also when the call then fails

    if (script.fail.includes(stage)) {
      throw new AgentError('MOCK_PERMANENT_FAILURE', `mock agent: scripted permanent failure in ${stage}`, false, stage);
    }
    const transient = script.transient[stage] ?? 0;
    if (opts.attempt <= transient) {
      throw new AgentError(
        'MOCK_TRANSIENT_FAILURE',
        `mock agent: scripted transient failure in ${stage} (attempt ${opts.attempt} of ${transient} failing)`,
        true,
        stage,
      );
    }
    return script;
  }

  plan(ctx: AgentJobContext, opts: AgentCallOptions): Promise<PlanResult> {
    return this.run('planning', ctx, opts, () => {
      const t = ctx.issue.title;
      return {
        summary: `Fix "${t}" in ${ctx.repositoryId}`,
        steps: [`Reproduce: ${t}`, `Change the code for ${slug(t)}`, 'Add a regression test', 'Open a pull request'],
      };
    });
  }

  code(ctx: AgentJobContext, plan: PlanResult, feedback: string[], opts: AgentCallOptions): Promise<CodeResult> {
    return this.run('coding', ctx, opts, () => {
      const name = slug(ctx.issue.title);
      const rev = feedback.length ? `-r${ctx.reviewRound}` : '';
      return {
        changes: [
          {
            path: `src/${name}.ts`,
            patch: `--- a/src/${name}.ts\n+++ b/src/${name}.ts\n@@ -1 +1 @@\n-// TODO ${digest(ctx.issue.body)}\n+// ${plan.steps[1] ?? 'fix'}${rev}\n`,
            commitMessage: `fix: ${ctx.issue.title}${feedback.length ? ` (addresses ${feedback.length} review comment(s))` : ''}`,
          },
        ],
      };
    });
  }

  review(ctx: AgentJobContext, _plan: PlanResult, code: CodeResult, opts: AgentCallOptions): Promise<ReviewResult> {
    return this.run('reviewing', ctx, opts, (script) => {
      if (ctx.reviewRound <= script.rejections) {
        return {
          approved: false,
          comments: [`Round ${ctx.reviewRound}: ${code.changes[0]?.path ?? 'the change'} needs a test for the edge case.`],
        };
      }
      return { approved: true, comments: ['Looks good.'] };
    });
  }

  open(ctx: AgentJobContext, _input: PullRequestInput, opts: AgentCallOptions): Promise<PullRequestResult> {
    return this.run('pr-open', ctx, opts, () => {
      const n = parseInt(digest(ctx.jobId), 16) % 100000;
      return { number: n, url: `https://github.com/${ctx.repositoryId}/pull/${n}` };
    });
  }
}
