import { JOB_MACHINE_VERSION } from './job.machine';
import type { PersistedJobSnapshot } from './job.runtime';

/** Upgrades a persisted snapshot from machine version `from` to `to`. Pure. */
export interface SnapshotMigration {
  from: string;
  to: string;
  description: string;
  migrate(snapshot: PersistedJobSnapshot): PersistedJobSnapshot;
}

/**
 * Registry of snapshot migrations, oldest first. A change to the statechart that alters what a
 * persisted snapshot means bumps `JOB_MACHINE_VERSION` and adds a migration here.
 */
export const SNAPSHOT_MIGRATIONS: SnapshotMigration[] = [
  {
    from: '1',
    to: '2',
    description: 'v2 adds context.usage (zero), context.workspace (null) and limits.budget (no limit), and the isOverBudget branches; v1 states keep their names.',
    migrate: (s) => {
      const context = s.context as unknown as Record<string, unknown> & { limits: Record<string, unknown> };
      return {
        ...s,
        context: {
          ...context,
          usage: context.usage ?? { inputTokens: 0, outputTokens: 0, costUsd: 0 },
          workspace: context.workspace ?? null,
          limits: { ...context.limits, budget: context.limits.budget ?? { usd: null, tokens: null } },
        } as unknown as PersistedJobSnapshot['context'],
      };
    },
  },
];

/** A snapshot written by a machine version this build cannot read. `code` = UNKNOWN_MACHINE_VERSION. */
export class UnknownMachineVersionError extends Error {
  readonly code = 'UNKNOWN_MACHINE_VERSION';
  constructor(
    readonly machineVersion: string,
    readonly currentVersion: string,
  ) {
    super(`snapshot was written by machine version ${machineVersion}; this build runs ${currentVersion} and has no migration path`);
  }
}

/**
 * Brings `snapshot`, written by `machineVersion`, to `target` by chaining migrations.
 * @throws UnknownMachineVersionError when no chain of migrations leads there.
 */
export function upgradeSnapshot(
  machineVersion: string,
  snapshot: PersistedJobSnapshot,
  target: string = JOB_MACHINE_VERSION,
  migrations: SnapshotMigration[] = SNAPSHOT_MIGRATIONS,
): PersistedJobSnapshot {
  let version = machineVersion;
  let current = snapshot;
  const seen = new Set<string>();
  while (version !== target) {
    const step = migrations.find((m) => m.from === version);
    if (!step || seen.has(version)) throw new UnknownMachineVersionError(machineVersion, target);
    seen.add(version);
    current = step.migrate(current);
    version = step.to;
  }
  return current;
}
