import { Collection, Db, MongoServerError } from 'mongodb';
import { GridFsContent, sha256 } from './gridfs-content';
import { ArtifactCorruptError, ArtifactNotFoundError, ArtifactStore, type ArtifactRecord, type NewArtifact } from './artifact.store';

interface ArtifactDocument extends Omit<ArtifactRecord, 'id'> {
  _id: string;
}

/**
 * {@link ArtifactStore} on MongoDB: content in GridFS (bucket `artifact_content`, the official
 * driver's `GridFSBucket`), metadata in `artifacts`. The id is `<jobId>:<name>:<first 16 hex of
 * the SHA-256>`. An upload writes its chunks, then its files document, then the metadata; a
 * reader only finds an artifact once its metadata exists, so a crash mid-upload leaves no visible
 * artifact (the next put of the same content removes the partial chunks and uploads again).
 * The metadata is written beside the content (in parallel); `put` resolves when both exist.
 */
export class GridFsArtifactStore extends ArtifactStore {
  private readonly content: GridFsContent;
  private readonly records: Collection<ArtifactDocument>;

  constructor(private readonly db: Db) {
    super();
    this.content = new GridFsContent(db);
    this.records = db.collection<ArtifactDocument>('artifacts');
  }

  /** Creates the index (idempotent): a job's artifacts in order. */
  async ensureIndexes(): Promise<void> {
    await this.records.createIndex({ jobId: 1, createdAt: 1 }, { name: 'job_created' });
  }

  async put(a: NewArtifact): Promise<ArtifactRecord> {
    const content = Buffer.isBuffer(a.content) ? a.content : Buffer.from(a.content, 'utf8');
    const hash = sha256(content);
    const id = `${a.jobId}:${a.name}:${hash.slice(0, 16)}`;
    const doc: ArtifactDocument = {
      _id: id,
      jobId: a.jobId,
      tenantId: a.tenantId,
      stage: a.stage,
      attempt: a.attempt,
      name: a.name,
      contentType: a.contentType,
      sha256: hash,
      bytes: content.length,
      createdAt: new Date(),
    };
    // Content and metadata are written side by side (one round trip less); put resolves only when
    // both are there, and nothing refers to the artifact before that.
    const settled = await Promise.allSettled([this.content.uploadOnce(id, a.name, content), this.insertRecord(doc)]);
    for (const r of settled) if (r.status === 'rejected') throw r.reason;
    return toRecord(doc);
  }

  private async insertRecord(doc: ArtifactDocument): Promise<void> {
    try {
      await this.records.insertOne(doc);
    } catch (e) {
      if (!(e instanceof MongoServerError && e.code === 11000)) throw e;
    }
  }

  async stat(id: string): Promise<ArtifactRecord> {
    const doc = await this.records.findOne({ _id: id });
    if (!doc) throw new ArtifactNotFoundError(id);
    return toRecord(doc);
  }

  async get(id: string): Promise<{ record: ArtifactRecord; content: Buffer }> {
    const record = await this.stat(id);
    const { content, sha256: actual } = await this.content.read(id);
    if (actual !== record.sha256) throw new ArtifactCorruptError(id, record.sha256, actual);
    return { record, content };
  }

  async listForJob(jobId: string): Promise<ArtifactRecord[]> {
    return (await this.records.find({ jobId }).sort({ createdAt: 1, _id: 1 }).toArray()).map(toRecord);
  }
}

function toRecord({ _id, ...rest }: ArtifactDocument): ArtifactRecord {
  return { id: _id, ...rest };
}
