import { jobMachine } from '../lifecycle/job.machine';
import { seedEventName } from '../lifecycle/job.types';
import { builtInPipelineEntries } from './pipeline-statecharts';
import type { StatechartEntry } from './statechart-entry';
import { statechartModel, type StatechartLabeller, type StatechartModel } from './statechart.model';

export type { StatechartEntry } from './statechart-entry';

/**
 * Names the job machine's events in the seed's vocabulary ({@link seedEventName}): the invoked
 * actors' done/error events become PLAN_SUCCEEDED, PLAN_FAILED, …; the review's done event is
 * REVIEW_APPROVED on its `isApproved` branch and REVIEW_REJECTED on the others, whose fallback
 * (neither approved nor another round allowed) reads "rounds exceeded"; its first branch, the
 * budget guard, takes both (REVIEW_APPROVED / REVIEW_REJECTED [isOverBudget]).
 */
export const jobLabeller: StatechartLabeller = {
  eventLabel(eventType, branch) {
    if (eventType === 'xstate.done.actor.review') {
      // The budget branch comes first and takes approvals and rejections alike.
      if (branch.guard?.startsWith('isOverBudget')) return 'REVIEW_APPROVED / REVIEW_REJECTED';
      return branch.guard === 'isApproved' ? 'REVIEW_APPROVED' : 'REVIEW_REJECTED';
    }
    return seedEventName({ type: eventType });
  },
  fallbackLabel(eventType) {
    return eventType === 'xstate.done.actor.review' ? 'rounds exceeded' : undefined;
  },
};

/**
 * Every machine that is exported to `statecharts/` and served at `/statecharts/:machine`: the job
 * machine (`job`) and the built-in pipeline templates' machines (`pipeline:<template>@1`).
 */
export const STATECHARTS: Readonly<Record<string, StatechartEntry>> = Object.fromEntries(
  [
    {
      name: 'job', source: 'jobMachine (src/lifecycle/job.machine.ts)', machine: jobMachine, labeller: jobLabeller, sinks: ['FAILED', 'CANCELLED'],
      sameRank: [['CODING', 'FAILED'], ['PR_OPEN', 'CANCELLED']],
    } satisfies StatechartEntry,
    ...builtInPipelineEntries(),
  ].map((e) => [e.name, e]),
);

export const STATECHART_NAMES = Object.keys(STATECHARTS);

/**
 * The base of a chart's file names in `statecharts/` (`<base>.mmd`, `.scxml`, …): its name with
 * `:` made `-` (`job` → `job`, `pipeline:dev-test-regression@1` → `pipeline-dev-test-regression@1`).
 * A colon is not allowed in Windows file names and reads as a URL scheme in a Markdown link.
 */
export function statechartFileBase(name: string): string {
  return name.replace(/:/g, '-');
}

/** The model of a registered statechart (by name) or of an entry. @throws Error for an unknown name. */
export function modelOf(nameOrEntry: string | StatechartEntry): StatechartModel {
  if (typeof nameOrEntry === 'string' && !Object.hasOwn(STATECHARTS, nameOrEntry)) throw new Error(`unknown statechart ${nameOrEntry}`);
  const entry = typeof nameOrEntry === 'string' ? STATECHARTS[nameOrEntry] : nameOrEntry;
  return statechartModel(entry.machine, entry.labeller);
}
