/** Tenant ids: the same shape as the `X-Tenant-Id` header and GITHUB_WEBHOOK_TENANT. */
export const TENANT_ID_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;

/**
 * A repository pattern a tenant owns: `owner/name`, or `owner/*` for every repository of the
 * owner. GitHub names are case-insensitive; patterns are stored lower-case.
 */
export const REPOSITORY_PATTERN = /^[\w.-]+\/(?:[\w.-]+|\*)$/;

/**
 * A tenant's overrides of the service-wide settings; null (or absent) = the service's value.
 * None of them is a secret (tokens stay in the service's environment).
 */
export interface TenantSettings {
  /** Clone URL template (`{repository}` = owner/name) instead of GIT_URL_TEMPLATE. */
  gitUrlTemplate: string | null;
  /** The checks review runs (`sh -c`, in the worktree) instead of REVIEW_COMMAND. */
  reviewCommand: string | null;
  /** Per repository (owner/name, lower-case): its checks, over `reviewCommand`. */
  reviewCommands: { repository: string; command: string }[];
  /** Per-job budget in USD instead of JOB_BUDGET_USD (0 = none). */
  budgetUsd: number | null;
  /** Per-job budget in tokens instead of JOB_BUDGET_TOKENS (0 = none). */
  budgetTokens: number | null;
}

/** No overrides. */
export const DEFAULT_TENANT_SETTINGS: TenantSettings = { gitUrlTemplate: null, reviewCommand: null, reviewCommands: [], budgetUsd: null, budgetTokens: null };

/** A tenant: who owns jobs, which repositories' webhook deliveries are theirs, their limit and settings. */
export interface Tenant {
  /** Also the `tenantId` of the tenant's jobs. */
  id: string;
  /** Repository patterns (lower-case) whose GitHub deliveries create jobs for this tenant. */
  repositories: string[];
  /** Active jobs allowed at once; null = TENANT_MAX_ACTIVE_JOBS; 0 = no limit. */
  maxActiveJobs: number | null;
  settings: TenantSettings;
  createdAt: Date;
  updatedAt: Date;
}

/** The checks of `repository` for a tenant: its per-repository command, its command, else `fallback`. */
export function reviewCommandFor(settings: TenantSettings, repository: string, fallback: string): string {
  const own = settings.reviewCommands.find((r) => r.repository === repository.toLowerCase());
  return own?.command ?? settings.reviewCommand ?? fallback;
}

/** An API key as stored: never the key itself, only its SHA-256. */
export interface ApiKeyRecord {
  /** Random id of the key (to revoke it). */
  id: string;
  tenantId: string;
  /** SHA-256 hex of the key (unique). */
  hash: string;
  /** First characters of the key, to tell keys apart; not enough to use it. */
  hint: string;
  createdAt: Date;
}

/** Normalises a repository pattern (lower-case, trimmed). @throws Error when it is not `owner/name` or `owner/*`. */
export function normaliseRepositoryPattern(pattern: string): string {
  const p = pattern.trim().toLowerCase();
  if (!REPOSITORY_PATTERN.test(p)) throw new Error(`repository pattern must be owner/name or owner/*, not ${JSON.stringify(pattern)}`);
  return p;
}

/** The patterns that match repository `owner/name`, most specific first: `owner/name`, `owner/*`. */
export function patternsMatching(fullName: string): string[] {
  const name = fullName.toLowerCase();
  const owner = name.split('/')[0];
  return [name, `${owner}/*`];
}
