import { Collection, Db, MongoServerError, type Filter } from 'mongodb';
import type { PipelineTemplate } from '../pipelines/template.schema';

/** Owner of the built-in templates (every tenant sees them unless it has its own of that name). */
export const BUILT_IN_OWNER = 'builtin';

/** One stored version of a template. Immutable: a change is a new version. */
export interface TemplateVersion {
  /** The tenant that owns it, or `builtin`. */
  owner: string;
  name: string;
  /** 1, 2, … per (owner, name). */
  version: number;
  template: PipelineTemplate;
  createdAt: Date;
}

interface TemplateDocument extends TemplateVersion {
  /** `<owner>:<name>@<version>`: two writers of one version cannot both insert. */
  _id: string;
}

/**
 * A template's pause (Airflow's max_consecutive_failed_dag_runs): while `reason` is set, new runs get
 * 409 TEMPLATE_QUARANTINED. A release clears `reason` and stamps `releasedAt`, so that the failed
 * runs before it no longer count towards a new pause.
 */
export interface TemplatePause {
  _id: string;
  tenantId: string;
  name: string;
  reason: string | null;
  at: Date;
  releasedAt?: Date;
}

/** A template's pause state: `reason` while paused; `releasedAt` of the last release, if any. */
export interface PauseState {
  reason: string | null;
  releasedAt: Date | null;
}

/** Canonical JSON (sorted keys): tells whether a posted template equals the latest version. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object') {
    return `{${Object.keys(value as object)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value);
}

/**
 * Versioned pipeline templates in `pipeline_templates` (one immutable document per version) and
 * paused templates in `template_pauses`. Single-document writes only.
 */
export class MongoTemplateRepository {
  private readonly templates: Collection<TemplateDocument>;
  private readonly pauses: Collection<TemplatePause>;

  constructor(db: Db) {
    this.templates = db.collection<TemplateDocument>('pipeline_templates');
    this.pauses = db.collection<TemplatePause>('template_pauses');
  }

  async ensureIndexes(): Promise<void> {
    await this.templates.createIndex({ owner: 1, name: 1, version: -1 }, { name: 'owner_name_version' });
  }

  /**
   * Stores `template` as the next version of (owner, name), unless it equals the latest version.
   * @returns the stored version and whether it is new.
   */
  async save(owner: string, template: PipelineTemplate): Promise<{ stored: TemplateVersion; created: boolean }> {
    for (let tries = 0; ; tries++) {
      const latest = await this.latest(owner, template.name);
      if (latest && canonical(latest.template) === canonical(template)) return { stored: latest, created: false };
      const version = (latest?.version ?? 0) + 1;
      const doc: TemplateDocument = { _id: `${owner}:${template.name}@${version}`, owner, name: template.name, version, template, createdAt: new Date() };
      try {
        await this.templates.insertOne(doc);
        return { stored: strip(doc), created: true };
      } catch (e) {
        if (e instanceof MongoServerError && e.code === 11000 && tries < 5) continue; // another writer took this version
        throw e;
      }
    }
  }

  async latest(owner: string, name: string): Promise<TemplateVersion | null> {
    const [doc] = await this.templates.find({ owner, name }).sort({ version: -1 }).limit(1).toArray();
    return doc ? strip(doc) : null;
  }

  /** The template a tenant means by `name`: its own, else the built-in one; `version` absent = latest. */
  async resolve(tenantId: string, name: string, version?: number): Promise<TemplateVersion | null> {
    for (const owner of [tenantId, BUILT_IN_OWNER]) {
      const found = version === undefined ? await this.latest(owner, name) : await this.templates.findOne({ _id: `${owner}:${name}@${version}` });
      if (found) return strip(found as TemplateDocument);
    }
    return null;
  }

  /** Every version of (owner, name), newest first. */
  async versions(owner: string, name: string): Promise<TemplateVersion[]> {
    return (await this.templates.find({ owner, name }).sort({ version: -1 }).toArray()).map(strip);
  }

  /** The latest version of every template a tenant sees (its own, and built-ins it does not shadow), by name. */
  async listFor(tenantId: string): Promise<TemplateVersion[]> {
    const docs = await this.templates.find({ owner: { $in: [tenantId, BUILT_IN_OWNER] } } as Filter<TemplateDocument>).sort({ name: 1, version: -1 }).toArray();
    const byName = new Map<string, TemplateVersion>();
    for (const d of docs) {
      const seen = byName.get(d.name);
      if (!seen || (seen.owner === BUILT_IN_OWNER && d.owner === tenantId)) byName.set(d.name, strip(d));
    }
    return [...byName.values()];
  }

  async pause(tenantId: string, name: string, reason: string): Promise<void> {
    await this.pauses.updateOne({ _id: `${tenantId}:${name}` }, { $set: { tenantId, name, reason, at: new Date() } }, { upsert: true });
  }

  async pausedReason(tenantId: string, name: string): Promise<string | null> {
    return (await this.pauseState(tenantId, name)).reason;
  }

  /** One read: whether the template is paused, and when it was last released. */
  async pauseState(tenantId: string, name: string): Promise<PauseState> {
    const doc = await this.pauses.findOne({ _id: `${tenantId}:${name}` });
    return { reason: doc?.reason ?? null, releasedAt: doc?.releasedAt ?? null };
  }

  /** Clears the pause and stamps `releasedAt` (one single-document update). @returns whether it was paused. */
  async unpause(tenantId: string, name: string): Promise<boolean> {
    const res = await this.pauses.updateOne({ _id: `${tenantId}:${name}`, reason: { $ne: null } }, { $set: { reason: null, releasedAt: new Date() } });
    return res.modifiedCount === 1;
  }
}

function strip(doc: TemplateDocument): TemplateVersion {
  const { _id, ...rest } = doc;
  return rest;
}
