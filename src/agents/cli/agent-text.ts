import type { PlanResult } from '../../lifecycle/job.types';
import { AgentError } from '../agent.port';

/**
 * Reads a plan from an agent's final message: the steps are the lines starting with `- `, `* `
 * or `1.`/`1)` (the prompt asks for `- `), the summary the first paragraph of the rest.
 * @throws AgentError `PLAN_EMPTY` (permanent) when the message is empty.
 */
export function planFromMessage(message: string): Pick<PlanResult, 'summary' | 'steps'> {
  const text = message.trim();
  if (!text) throw new AgentError('PLAN_EMPTY', 'the agent answered the planning prompt with an empty message', false, 'planning');
  const steps: string[] = [];
  const rest: string[] = [];
  for (const line of text.split('\n')) {
    const m = /^\s*(?:[-*•]|\d+[.)])\s+(.*\S)\s*$/.exec(line);
    if (m) steps.push(m[1]);
    else rest.push(line);
  }
  const paragraphs = rest.join('\n').split(/\n\s*\n/).map((p) => p.trim()).filter(Boolean);
  const summary = (paragraphs[0] ?? steps[0] ?? text).replace(/\s+/g, ' ').slice(0, 2000);
  return { summary, steps: steps.length ? steps.slice(0, 100) : [summary] };
}

/** An agent review's verdict. */
export interface ReviewVerdict {
  approved: boolean;
  /** Requested changes (lines starting with `- ` before the verdict), or the message. */
  comments: string[];
}

/**
 * Reads the verdict line the review prompt asks for: `VERDICT: APPROVE` or
 * `VERDICT: REQUEST_CHANGES` (the last such line wins).
 * @throws AgentError `REVIEW_VERDICT_MISSING` (permanent) naming the message's last line when none is there — no guessing.
 */
export function verdictFromMessage(message: string): ReviewVerdict {
  const lines = message.trim().split('\n');
  let verdict: 'APPROVE' | 'REQUEST_CHANGES' | null = null;
  for (const line of lines) {
    const m = /^\s*\**\s*VERDICT:\s*(APPROVE|REQUEST_CHANGES)\b/i.exec(line);
    if (m) verdict = m[1].toUpperCase() as 'APPROVE' | 'REQUEST_CHANGES';
  }
  if (!verdict) {
    const last = (lines.at(-1) ?? '').slice(0, 200);
    throw new AgentError('REVIEW_VERDICT_MISSING', `the agent's review has no "VERDICT: APPROVE|REQUEST_CHANGES" line (last line: ${JSON.stringify(last)})`, false, 'reviewing');
  }
  const requested = lines.map((l) => /^\s*[-*]\s+(.*\S)/.exec(l)?.[1]).filter((x): x is string => !!x);
  if (verdict === 'APPROVE') return { approved: true, comments: requested.length ? requested : ['Approved by the agent review.'] };
  return { approved: false, comments: requested.length ? requested : [message.trim().slice(0, 4000)] };
}
