/**
 * The `agent` step tool: one call of the injected {@link Agent} port (the MockAgent, or a
 * coding-agent CLI with AGENT=cli) — `with.call` is `plan`, `code` or `review`, as the job
 * lifecycle's stages. The run stands for the job: `jobId` is the run id (one workspace per run for
 * a CLI agent), the issue is the run's `inputs.issue` (`{ id, title, body, url }`), the repository
 * `with.repositoryId` or `inputs.repositoryId`.
 *
 * - `plan` resolves to the PlanResult (the step's JSON result);
 * - `code` reads the plan from the JSON input `with.plan` (default `plan`); a spawned code step
 *   gets its regression context as the review feedback; resolves to the CodeResult;
 * - `review` reads the plan and the code (inputs `with.plan`, `with.code`, defaults `plan`,
 *   `code`); an approval resolves to the ReviewResult; a rejection is the step failure
 *   `REVIEW_REJECTED` with the comments as its message, so `spawnOnFailure: code` makes the
 *   review loop of the job lifecycle as a pipeline.
 */
import type { Agent, AgentJobContext, CodeResult, PlanResult } from '../agents/agent.port';
import type { StageUsage } from '../lifecycle/job.types';
import type { ProcessInfo, ToolResult } from '../tools/tool.port';

export interface AgentStepSpec {
  runId: string;
  tenantId: string;
  step: string;
  visit: number;
  attempt: number;
  attemptId: string;
  args: Record<string, unknown>;
  runInputs: Record<string, unknown>;
  /** JSON inputs by artifact name. */
  inputs: Record<string, unknown>;
  regression?: { reason: string; failingOutput?: string };
  signal: AbortSignal;
  onProcess?(info: ProcessInfo): void;
}

/** A review rejected the code: `code` = REVIEW_REJECTED, the message carries the comments. */
export class ReviewRejectedError extends Error {
  readonly code = 'REVIEW_REJECTED';
  readonly retryable = false;
  constructor(readonly comments: string[]) {
    super(`review rejected: ${comments.join(' | ')}`);
  }
}

function need<T>(inputs: Record<string, unknown>, name: string, call: string): T {
  if (!Object.hasOwn(inputs, name)) throw Object.assign(new Error(`agent ${call} needs the JSON input "${name}"`), { code: 'INPUT_MISSING', retryable: false });
  return inputs[name] as T;
}

/**
 * Calls the agent once. @returns the tool result (usage summed, value = the agent's result).
 * @throws ReviewRejectedError; the agent's own errors (AgentError: `code`, `retryable`).
 */
export async function runAgentStep(agent: Agent, s: AgentStepSpec): Promise<ToolResult> {
  const started = Date.now();
  const call = typeof s.args.call === 'string' ? s.args.call : 'plan';
  const issueIn = (s.runInputs.issue ?? {}) as Partial<Record<'id' | 'title' | 'body' | 'url', unknown>>;
  const ctx: AgentJobContext = {
    jobId: s.runId,
    tenantId: s.tenantId,
    repositoryId: String(s.args.repositoryId ?? s.runInputs.repositoryId ?? 'local/workspace'),
    issue: { id: String(issueIn.id ?? s.runId), title: String(issueIn.title ?? s.step), body: String(issueIn.body ?? ''), url: String(issueIn.url ?? '') },
    reviewRound: s.visit,
    workspace: null,
    lastCode: null,
  };
  const usage: StageUsage = { inputTokens: 0, outputTokens: 0, costUsd: 0 };
  const lines: string[] = [];
  const opts = {
    signal: s.signal,
    idempotencyKey: s.attemptId,
    attempt: s.attempt,
    observer: {
      usage: (u: StageUsage) => {
        usage.inputTokens += u.inputTokens;
        usage.outputTokens += u.outputTokens;
        usage.costUsd = (usage.costUsd ?? 0) + (u.costUsd ?? 0);
      },
      workspace: () => undefined,
      processStarted: (info: ProcessInfo) => s.onProcess?.(info),
      processEnded: () => undefined,
      line: (l: { text: string }) => void lines.push(l.text),
    },
  };
  const planName = typeof s.args.plan === 'string' ? s.args.plan : 'plan';
  const codeName = typeof s.args.code === 'string' ? s.args.code : 'code';
  let value: unknown;
  if (call === 'plan') value = await agent.plan(ctx, opts);
  else if (call === 'code') {
    const feedback = s.regression ? [s.regression.reason, ...(s.regression.failingOutput ? [s.regression.failingOutput] : [])] : [];
    value = await agent.code(ctx, need<PlanResult>(s.inputs, planName, call), feedback, opts);
  } else if (call === 'review') {
    const review = await agent.review(ctx, need<PlanResult>(s.inputs, planName, call), need<CodeResult>(s.inputs, codeName, call), opts);
    if (!review.approved) throw new ReviewRejectedError(review.comments);
    value = review;
  } else {
    throw Object.assign(new Error(`agent call must be plan, code or review, not ${JSON.stringify(call)}`), { code: 'TOOL_BAD_REQUEST', retryable: false });
  }
  const tail = lines.join('\n').slice(-4096);
  return { tool: 'agent', exitCode: null, signal: null, pid: null, durationMs: Date.now() - started, stdoutTail: tail, stderrTail: '', outcome: { kind: 'success', message: tail }, usage, value };
}
