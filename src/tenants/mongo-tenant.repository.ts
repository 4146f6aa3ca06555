import { Collection, Db } from 'mongodb';
import type { TenantChanges } from './tenant.repository';
import { TenantRepository } from './tenant.repository';
import { DEFAULT_TENANT_SETTINGS, patternsMatching, type ApiKeyRecord, type Tenant, type TenantSettings } from './tenant.types';

/** Collection `tenants`. */
export interface TenantDocument {
  _id: string;
  repositories: string[];
  maxActiveJobs: number | null;
  settings?: Partial<TenantSettings>;
  createdAt: Date;
  updatedAt: Date;
}

/** Collection `api_keys`: the SHA-256 of each key, unique; never the key. */
export interface ApiKeyDocument {
  _id: string;
  tenantId: string;
  hash: string;
  hint: string;
  createdAt: Date;
}

function toTenant(doc: TenantDocument): Tenant {
  return {
    id: doc._id,
    repositories: doc.repositories ?? [],
    maxActiveJobs: doc.maxActiveJobs ?? null,
    settings: { ...DEFAULT_TENANT_SETTINGS, ...(doc.settings ?? {}) },
    createdAt: doc.createdAt,
    updatedAt: doc.updatedAt,
  };
}

/**
 * {@link TenantRepository} on the `mongodb` driver: collections `tenants` and `api_keys`, with a
 * unique index on `api_keys.hash` and a (multikey) index on `tenants.repositories`. Only what
 * FerretDB v1 supports: plain and unique indexes, single-document writes.
 */
export class MongoTenantRepository extends TenantRepository {
  private readonly tenants: Collection<TenantDocument>;
  private readonly keys: Collection<ApiKeyDocument>;

  constructor(db: Db) {
    super();
    this.tenants = db.collection<TenantDocument>('tenants');
    this.keys = db.collection<ApiKeyDocument>('api_keys');
  }

  /** Creates the indexes (idempotent). */
  async ensureIndexes(): Promise<void> {
    await this.keys.createIndex({ hash: 1 }, { name: 'hash_unique', unique: true });
    await this.keys.createIndex({ tenantId: 1 }, { name: 'tenant' });
    await this.tenants.createIndex({ repositories: 1 }, { name: 'repositories' });
  }

  async upsert(id: string, changes: TenantChanges): Promise<{ tenant: Tenant; created: boolean }> {
    const now = new Date();
    const set: Partial<TenantDocument> = { updatedAt: now };
    if (changes.repositories !== undefined) set.repositories = changes.repositories;
    if (changes.maxActiveJobs !== undefined) set.maxActiveJobs = changes.maxActiveJobs;
    const setFields = set as Record<string, unknown>;
    for (const [k, v] of Object.entries(changes.settings ?? {})) if (v !== undefined) setFields[`settings.${k}`] = v;
    const onInsert: Partial<TenantDocument> = { createdAt: now };
    if (changes.repositories === undefined) onInsert.repositories = [];
    if (changes.maxActiveJobs === undefined) onInsert.maxActiveJobs = null;
    const before = await this.tenants.findOneAndUpdate(
      { _id: id },
      { $set: set, $setOnInsert: onInsert },
      { upsert: true, returnDocument: 'before' },
    );
    const after = await this.tenants.findOne({ _id: id });
    return { tenant: toTenant(after!), created: before === null };
  }

  async findById(id: string): Promise<Tenant | null> {
    const doc = await this.tenants.findOne({ _id: id });
    return doc ? toTenant(doc) : null;
  }

  async findByApiKeyHash(hash: string): Promise<Tenant | null> {
    const key = await this.keys.findOne({ hash });
    if (!key) return null;
    return this.findById(key.tenantId);
  }

  async findByRepository(fullName: string): Promise<Tenant | null> {
    const patterns = patternsMatching(fullName);
    const docs = await this.tenants.find({ repositories: { $in: patterns } }).sort({ _id: 1 }).toArray();
    for (const p of patterns) {
      const doc = docs.find((d) => d.repositories.includes(p));
      if (doc) return toTenant(doc);
    }
    return null;
  }

  async findClaiming(patterns: string[], exceptId: string): Promise<Tenant[]> {
    if (!patterns.length) return [];
    const docs = await this.tenants.find({ repositories: { $in: patterns }, _id: { $ne: exceptId } }).toArray();
    return docs.map(toTenant);
  }

  async addApiKey(key: ApiKeyRecord): Promise<void> {
    await this.keys.insertOne({ _id: key.id, tenantId: key.tenantId, hash: key.hash, hint: key.hint, createdAt: key.createdAt });
  }
}
