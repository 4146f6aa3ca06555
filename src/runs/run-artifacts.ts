import { Collection, Db, MongoServerError } from 'mongodb';
import { GridFsContent, sha256 } from '../artifacts/gridfs-content';

/** One file of a file artifact. */
export interface ArtifactFile {
  /** Path relative to the producing step's workspace, `/`-separated. */
  path: string;
  sha256: string;
  bytes: number;
  /** GridFS id of its content. */
  contentId: string;
}

/**
 * A pipeline run's artifact (collection `artifacts`, beside job artifacts; content in GridFS):
 * immutable, named by the template's `outputs`, produced by exactly one step attempt.
 */
export interface RunArtifact {
  /** `<runId>:<step>:<visit>:<attempt>:<name>`: one attempt produces a name once. */
  id: string;
  runId: string;
  tenantId: string;
  name: string;
  kind: 'files' | 'json';
  /** SHA-256 of the content (JSON: of its text; files: of the manifest `sha256  path` lines). */
  sha256: string;
  /** Total bytes. */
  bytes: number;
  files?: ArtifactFile[];
  /** GridFS id of the JSON text (kind json). */
  contentId?: string;
  producer: { step: string; visit: number; attempt: number; attemptId: string };
  createdAt: Date;
}

/** One consumption (seed 004 `artifact_consumption`): a step attempt read an artifact with this hash. */
export interface ArtifactConsumption {
  _id: string;
  artifactId: string;
  runId: string;
  tenantId: string;
  step: string;
  visit: number;
  attempt: number;
  attemptId: string;
  sha256: string;
  at: Date;
}

/** The content read back does not hash to what was recorded. `code` = ARTIFACT_HASH_MISMATCH. */
export class ArtifactHashMismatchError extends Error {
  readonly code = 'ARTIFACT_HASH_MISMATCH';
  constructor(
    readonly artifactId: string,
    readonly path: string,
    readonly expected: string,
    readonly actual: string,
  ) {
    super(`artifact ${artifactId}${path ? ` file ${path}` : ''}: content hash ${actual} does not match the recorded ${expected}`);
    this.name = 'ArtifactHashMismatchError';
  }
}

type ArtifactDocument = Omit<RunArtifact, 'id'> & { _id: string; kind: 'files' | 'json' };

/** Run artifacts and their consumption records on MongoDB (GridFS for content). */
export class RunArtifactStore {
  private readonly records: Collection<ArtifactDocument>;
  private readonly consumption: Collection<ArtifactConsumption>;
  private readonly content: GridFsContent;

  constructor(db: Db) {
    this.records = db.collection<ArtifactDocument>('artifacts');
    this.consumption = db.collection<ArtifactConsumption>('artifact_consumption');
    this.content = new GridFsContent(db);
  }

  async ensureIndexes(): Promise<void> {
    await this.records.createIndex({ runId: 1, createdAt: 1 }, { name: 'run_created' });
    await this.consumption.createIndex({ artifactId: 1 }, { name: 'artifact' });
    await this.consumption.createIndex({ runId: 1 }, { name: 'run' });
  }

  /** Stores a file artifact (the files in `files`, read by the caller). Idempotent per id. */
  async putFiles(base: Omit<RunArtifact, 'id' | 'kind' | 'sha256' | 'bytes' | 'files' | 'contentId' | 'createdAt'>, files: { path: string; content: Buffer }[]): Promise<RunArtifact> {
    const id = artifactId(base);
    const stored: ArtifactFile[] = [];
    for (const f of files) {
      const hash = sha256(f.content);
      const contentId = `${id}:${hash.slice(0, 16)}:${stored.length}`;
      await this.content.uploadOnce(contentId, f.path, f.content);
      stored.push({ path: f.path, sha256: hash, bytes: f.content.length, contentId });
    }
    const manifest = stored.map((f) => `${f.sha256}  ${f.path}`).join('\n');
    return this.insert({ ...base, _id: id, kind: 'files', sha256: sha256(manifest), bytes: stored.reduce((n, f) => n + f.bytes, 0), files: stored, createdAt: new Date() });
  }

  /** Stores a JSON artifact. Idempotent per id. */
  async putJson(base: Omit<RunArtifact, 'id' | 'kind' | 'sha256' | 'bytes' | 'files' | 'contentId' | 'createdAt'>, value: unknown): Promise<RunArtifact> {
    const id = artifactId(base);
    const text = Buffer.from(JSON.stringify(value ?? null), 'utf8');
    const contentId = `${id}:json`;
    await this.content.uploadOnce(contentId, `${base.name}.json`, text);
    return this.insert({ ...base, _id: id, kind: 'json', sha256: sha256(text), bytes: text.length, contentId, createdAt: new Date() });
  }

  private async insert(doc: ArtifactDocument): Promise<RunArtifact> {
    try {
      await this.records.insertOne(doc);
    } catch (e) {
      if (!(e instanceof MongoServerError && e.code === 11000)) throw e;
      const existing = await this.records.findOne({ _id: doc._id });
      if (existing) return toArtifact(existing);
    }
    return toArtifact(doc);
  }

  async find(id: string, tenantId?: string): Promise<RunArtifact | null> {
    const doc = await this.records.findOne({ _id: id, ...(tenantId ? { tenantId } : {}), runId: { $exists: true } });
    return doc ? toArtifact(doc) : null;
  }

  async listForRun(runId: string): Promise<RunArtifact[]> {
    return (await this.records.find({ runId }).sort({ createdAt: 1, _id: 1 }).toArray()).map(toArtifact);
  }

  /**
   * Reads an artifact's content and checks every hash.
   * @throws ArtifactHashMismatchError when a file (or the JSON text) no longer hashes to its record.
   */
  async read(artifact: RunArtifact): Promise<{ files: { path: string; content: Buffer }[]; json?: unknown }> {
    if (artifact.kind === 'json') {
      const { content, sha256: actual } = await this.content.read(artifact.contentId!);
      if (actual !== artifact.sha256) throw new ArtifactHashMismatchError(artifact.id, '', artifact.sha256, actual);
      return { files: [], json: JSON.parse(content.toString('utf8')) };
    }
    const files: { path: string; content: Buffer }[] = [];
    for (const f of artifact.files ?? []) {
      const { content, sha256: actual } = await this.content.read(f.contentId);
      if (actual !== f.sha256) throw new ArtifactHashMismatchError(artifact.id, f.path, f.sha256, actual);
      files.push({ path: f.path, content });
    }
    return { files };
  }

  /** Records that an attempt consumed `artifact` (idempotent per attempt and artifact). */
  async recordConsumption(c: Omit<ArtifactConsumption, '_id' | 'at'>): Promise<void> {
    try {
      await this.consumption.insertOne({ ...c, _id: `${c.attemptId}>${c.artifactId}`, at: new Date() });
    } catch (e) {
      if (!(e instanceof MongoServerError && e.code === 11000)) throw e;
    }
  }

  async consumersOf(artifactId: string): Promise<ArtifactConsumption[]> {
    return this.consumption.find({ artifactId }).sort({ at: 1 }).toArray();
  }

  async consumptionOfRun(runId: string): Promise<ArtifactConsumption[]> {
    return this.consumption.find({ runId }).sort({ at: 1 }).toArray();
  }
}

function artifactId(b: { runId: string; name: string; producer: RunArtifact['producer'] }): string {
  return `${b.runId}:${b.producer.step}:${b.producer.visit}:${b.producer.attempt}:${b.name}`;
}

function toArtifact({ _id, ...rest }: ArtifactDocument): RunArtifact {
  return { id: _id, ...rest };
}
