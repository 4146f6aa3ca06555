import type { ApiKeyRecord, Tenant, TenantSettings } from './tenant.types';

/** What `upsert` changes; an omitted field keeps its stored value (or its default on creation). */
export interface TenantChanges {
  repositories?: string[];
  maxActiveJobs?: number | null;
  /** Fields of the settings to replace (the others keep their stored values). */
  settings?: Partial<TenantSettings>;
}

/**
 * Persistence port for tenants and their API keys (abstract class used as DI token). Keys are
 * stored only as SHA-256 hashes, unique.
 */
export abstract class TenantRepository {
  /** Creates the tenant or updates the given fields. @returns the tenant and whether it was created. */
  abstract upsert(id: string, changes: TenantChanges): Promise<{ tenant: Tenant; created: boolean }>;

  abstract findById(id: string): Promise<Tenant | null>;

  /** The tenant owning the API key with this hash, or null (unknown or revoked key). */
  abstract findByApiKeyHash(hash: string): Promise<Tenant | null>;

  /**
   * The tenant whose patterns match `owner/name` (case-insensitive): an exact `owner/name` wins
   * over `owner/*`. Null when none does.
   */
  abstract findByRepository(fullName: string): Promise<Tenant | null>;

  /** Tenants other than `exceptId` that list any of `patterns` exactly. */
  abstract findClaiming(patterns: string[], exceptId: string): Promise<Tenant[]>;

  /** Stores a key record (its hash). @throws when the hash exists (cannot happen for random keys). */
  abstract addApiKey(key: ApiKeyRecord): Promise<void>;
}

/** A tenant's repository pattern is already another tenant's. `code` = REPOSITORY_CLAIMED. */
export class RepositoryClaimedError extends Error {
  readonly code = 'REPOSITORY_CLAIMED';
  constructor(readonly claims: { pattern: string; tenantId: string }[]) {
    super(`repository pattern(s) already belong to another tenant: ${claims.map((c) => `${c.pattern} (${c.tenantId})`).join(', ')}`);
  }
}
