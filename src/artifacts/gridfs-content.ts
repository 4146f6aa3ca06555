import { createHash } from 'node:crypto';
import { Db, GridFSBucket, MongoServerError } from 'mongodb';

/** SHA-256 of `b`, lowercase hex. */
export const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

/**
 * Immutable content in GridFS (bucket `artifact_content`, the official driver's `GridFSBucket`),
 * by a caller-chosen id. Shared by job artifacts and pipeline run artifacts.
 */
export class GridFsContent {
  private readonly bucket: GridFSBucket;

  constructor(private readonly db: Db) {
    this.bucket = new GridFSBucket(db, { bucketName: 'artifact_content' });
  }

  /** Uploads `content` under `id`; a duplicate id (stored before, or a partial upload) is checked and repaired. */
  async uploadOnce(id: string, name: string, content: Buffer): Promise<void> {
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

  private upload(id: string, name: string, content: Buffer): Promise<void> {
    return new Promise((resolve, reject) => {
      const stream = this.bucket.openUploadStreamWithId(id as never, name);
      stream.on('error', reject);
      stream.on('finish', () => resolve());
      stream.end(content);
    });
  }

  /** The content stored under `id`, and its SHA-256 as read. */
  async read(id: string): Promise<{ content: Buffer; sha256: string }> {
    const chunks: Buffer[] = [];
    await new Promise<void>((resolve, reject) => {
      this.bucket
        .openDownloadStream(id as never)
        .on('data', (d: Buffer) => chunks.push(d))
        .on('error', reject)
        .on('end', () => resolve());
    });
    const content = Buffer.concat(chunks);
    return { content, sha256: sha256(content) };
  }
}
