import type { JobBudget, StageUsage, Usage } from './job.types';

/** Usage arithmetic and the budget check the statechart's `isOverBudget` guard uses. Pure. */

/** No usage yet. */
export const NO_USAGE: Usage = { inputTokens: 0, outputTokens: 0, costUsd: 0 };

/** `total` plus what one stage visit reported (costUsd counts as 0 when absent). */
export function addUsage(total: Usage, add: StageUsage | undefined): Usage {
  if (!add) return total;
  return {
    inputTokens: total.inputTokens + add.inputTokens,
    outputTokens: total.outputTokens + add.outputTokens,
    costUsd: Math.round((total.costUsd + (add.costUsd ?? 0)) * 1e6) / 1e6,
  };
}

/** Whether `usage` is over `budget`: more USD or more input+output tokens than allowed (null = no limit). */
export function overBudget(usage: Usage, budget: JobBudget): boolean {
  return (
    (budget.usd !== null && usage.costUsd > budget.usd) ||
    (budget.tokens !== null && usage.inputTokens + usage.outputTokens > budget.tokens)
  );
}
