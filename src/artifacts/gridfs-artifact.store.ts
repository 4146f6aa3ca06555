import { createHash } from 'node:crypto';
import { Collection, Db, GridFSBucket, MongoServerError } from 'mongodb';
import { ArtifactCorruptError, ArtifactNotFoundError, ArtifactStore, type ArtifactRecord, type NewArtifact } from './artifact.store';

interface ArtifactDocument extends Omit<ArtifactRecord, 'id'> {
  _id: string;
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/**
 * {@link ArtifactStore} on MongoDB: content in GridFS (bucket `artifact_content`, the official
 * driver's `GridFSBucket`), metadata in `artifacts`. The id is `<jobId>:<name>:<first 16 hex of
 * the SHA-256>`. An upload writes its chunks, then its files document, then the metadata; a
 * reader only finds an artifact once its metadata exists, so a crash mid-upload leaves no visible
 * artifact (the next put of the same content removes the partial chunks and uploads again).
 * The metadata is written beside the content (in parallel); `put` resolves when both exist.
 */
export class GridFsArtifactStore extends ArtifactStore {
  private readonly bucket: GridFSBucket;
  private readonly records: Collection<ArtifactDocument>;

  constructor(private readonly db: Db) {
    super();
    this.bucket = new GridFSBucket(db, { bucketName: 'artifact_content' });
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
    const settled = await Promise.allSettled([this.uploadOnce(id, a.name, content), this.insertRecord(doc)]);
    for (const r of settled) if (r.status === 'rejected') throw r.reason;
    return toRecord(doc);
  }

  /** Uploads the content; a duplicate id (the same content stored before, or a partial upload) is checked and repaired. */
  private async uploadOnce(id: string, name: string, content: Buffer): Promise<void> {
    try {
      await this.upload(id, name, content);
    } catch (e) {
      if (!(e instanceof MongoServerError && e.code === 11000)) throw e;
      const files = this.db.collection<{ _id: string; length: number }>('artifact_content.files');
      if ((await files.findOne({ _id: id }))?.length === content.length) return; // stored before, complete
      await this.db.collection('artifact_content.chunks').deleteMany({ files_id: id });
      await files.deleteOne({ _id: id });
      await this.upload(id, name, content);
    }
  }

  private async insertRecord(doc: ArtifactDocument): Promise<void> {
    try {
      await this.records.insertOne(doc);
    } catch (e) {
      if (!(e instanceof MongoServerError && e.code === 11000)) throw e;
    }
  }

  private upload(id: string, name: string, content: Buffer): Promise<void> {
    return new Promise((resolve, reject) => {
      const stream = this.bucket.openUploadStreamWithId(id as never, name);
      stream.on('error', reject);
      stream.on('finish', () => resolve());
      stream.end(content);
    });
  }

  async stat(id: string): Promise<ArtifactRecord> {
    const doc = await this.records.findOne({ _id: id });
    if (!doc) throw new ArtifactNotFoundError(id);
    return toRecord(doc);
  }

  async get(id: string): Promise<{ record: ArtifactRecord; content: Buffer }> {
    const record = await this.stat(id);
    const chunks: Buffer[] = [];
    await new Promise<void>((resolve, reject) => {
      this.bucket
        .openDownloadStream(id as never)
        .on('data', (d: Buffer) => chunks.push(d))
        .on('error', reject)
        .on('end', () => resolve());
    });
    const content = Buffer.concat(chunks);
    const actual = sha256(content);
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
