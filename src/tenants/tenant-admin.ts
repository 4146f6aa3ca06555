import { randomUUID } from 'node:crypto';
import { apiKeyHint, generateApiKey, hashApiKey } from './api-key';
import { RepositoryClaimedError, TenantRepository } from './tenant.repository';
import { normaliseRepositoryPattern, TENANT_ID_PATTERN, type Tenant, type TenantSettings } from './tenant.types';

/**
 * Checks settings before they are stored. @throws Error naming the setting: a URL template with
 * credentials in it (tokens stay in the service's environment), a budget below 0, an empty command.
 */
export function validateSettings(settings: Partial<TenantSettings>): Partial<TenantSettings> {
  const t = settings.gitUrlTemplate;
  if (t != null && /^[a-z][a-z0-9+.-]*:\/\/[^/@]*@/i.test(t)) throw new Error('git URL template must not carry credentials (user:token@); set GIT_TOKEN / GITHUB_TOKEN on the service');
  for (const k of ['budgetUsd', 'budgetTokens'] as const) {
    const v = settings[k];
    if (v != null && !(Number.isFinite(v) && v >= 0)) throw new Error(`${k} must be a number >= 0, not ${v}`);
  }
  if (settings.reviewCommand !== undefined && settings.reviewCommand !== null && !settings.reviewCommand.trim()) throw new Error('review command must not be empty (use null for the service default)');
  for (const r of settings.reviewCommands ?? []) {
    normaliseRepositoryPattern(r.repository);
    if (!r.command.trim()) throw new Error(`review command of ${r.repository} must not be empty`);
  }
  return { ...settings, ...(settings.reviewCommands ? { reviewCommands: settings.reviewCommands.map((r) => ({ repository: r.repository.toLowerCase(), command: r.command })) } : {}) };
}

export interface IssueApiKeyInput {
  tenantId: string;
  /** Replaces the tenant's repository patterns when given. */
  repositories?: string[];
  /** Replaces the tenant's active-job limit when given (0 = no limit, null = TENANT_MAX_ACTIVE_JOBS). */
  maxActiveJobs?: number | null;
  /** Replaces these settings when given. */
  settings?: Partial<TenantSettings>;
}

export interface IssuedApiKey {
  tenant: Tenant;
  /** Whether the tenant was created by this call. */
  created: boolean;
  /** The key, in clear: returned once, stored only as its SHA-256. */
  apiKey: string;
  keyId: string;
  hint: string;
}

/**
 * Creates the tenant if needed (or updates its repositories / limit), then issues a new API key
 * for it. Used by `npm run tenant:create` (and the demo). Plain TypeScript: no Nest.
 * @throws Error for a malformed tenant id, repository pattern or limit; RepositoryClaimedError
 *   when another tenant already lists one of the patterns.
 */
export async function issueApiKey(repo: TenantRepository, input: IssueApiKeyInput): Promise<IssuedApiKey> {
  if (!TENANT_ID_PATTERN.test(input.tenantId)) {
    throw new Error(`tenant name must be 1-64 characters of A-Z a-z 0-9 _ . -, not ${JSON.stringify(input.tenantId)}`);
  }
  const repositories = input.repositories?.map(normaliseRepositoryPattern);
  if (input.maxActiveJobs != null && (!Number.isInteger(input.maxActiveJobs) || input.maxActiveJobs < 0)) {
    throw new Error(`max active jobs must be an integer >= 0, not ${input.maxActiveJobs}`);
  }
  const settings = input.settings ? validateSettings(input.settings) : undefined;
  if (repositories?.length) {
    const others = await repo.findClaiming(repositories, input.tenantId);
    const claims = others.flatMap((t) => t.repositories.filter((p) => repositories.includes(p)).map((pattern) => ({ pattern, tenantId: t.id })));
    if (claims.length) throw new RepositoryClaimedError(claims);
  }
  const { tenant, created } = await repo.upsert(input.tenantId, {
    ...(repositories ? { repositories: [...new Set(repositories)] } : {}),
    ...(input.maxActiveJobs !== undefined ? { maxActiveJobs: input.maxActiveJobs } : {}),
    ...(settings ? { settings } : {}),
  });
  const apiKey = generateApiKey();
  const keyId = randomUUID();
  const hint = apiKeyHint(apiKey);
  await repo.addApiKey({ id: keyId, tenantId: tenant.id, hash: hashApiKey(apiKey), hint, createdAt: new Date() });
  return { tenant, created, apiKey, keyId, hint };
}
