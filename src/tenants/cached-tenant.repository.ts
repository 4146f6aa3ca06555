import { LRUCache } from 'lru-cache';
import type { ApiKeyRecord, Tenant } from './tenant.types';
import { TenantRepository, type TenantChanges } from './tenant.repository';

/** Tenants kept at most (least recently used ones are dropped first). */
const MAX_TENANTS = 10_000;

/** A cached lookup: the tenant, or null for an id without a record (header tenants, dev mode). */
interface Entry {
  tenant: Tenant | null;
}

/**
 * The {@link TenantRepository} the app uses: reads a tenant by id (its settings, its active-job
 * limit) from the store at most once per `ttlMs` per process, and an `upsert` made through it
 * drops the tenant's entry at once. Every submission reads its tenant's budget settings, so
 * without this the store serves one `find` per job for a record that changes by hand, rarely.
 * A change written by another process (`npm run tenant:create`, another API replica) applies within
 * `ttlMs` (TENANT_CACHE_MS, default 5,000 ms; 0 turns the cache off).
 *
 * Not cached: API-key lookups (a revoked key stops working at once) and repository mapping
 * (webhooks), which read the store every time.
 *
 * Cache: `lru-cache` (isaacs/node-lru-cache), TTL per entry, at most 10,000 tenants.
 */
export class CachedTenantRepository extends TenantRepository {
  private readonly byId: LRUCache<string, Entry> | null;

  constructor(
    private readonly inner: TenantRepository,
    /** How long a read tenant is reused, ms (0: never). */
    ttlMs: number,
  ) {
    super();
    this.byId = ttlMs > 0 ? new LRUCache<string, Entry>({ max: MAX_TENANTS, ttl: ttlMs }) : null;
  }

  async findById(id: string): Promise<Tenant | null> {
    const hit = this.byId?.get(id);
    if (hit) return hit.tenant;
    const tenant = await this.inner.findById(id);
    this.byId?.set(id, { tenant });
    return tenant;
  }

  async upsert(id: string, changes: TenantChanges): Promise<{ tenant: Tenant; created: boolean }> {
    this.byId?.delete(id);
    const r = await this.inner.upsert(id, changes);
    this.byId?.delete(id); // a read that raced with the write may have cached the old record
    return r;
  }

  findByApiKeyHash(hash: string): Promise<Tenant | null> {
    return this.inner.findByApiKeyHash(hash);
  }

  findByRepository(fullName: string): Promise<Tenant | null> {
    return this.inner.findByRepository(fullName);
  }

  findClaiming(patterns: string[], exceptId: string): Promise<Tenant[]> {
    return this.inner.findClaiming(patterns, exceptId);
  }

  addApiKey(key: ApiKeyRecord): Promise<void> {
    return this.inner.addApiKey(key);
  }
}
