import { Collection, Db } from 'mongodb';
import { JobLogRepository, type JobLogChunk, type JobLogQuery } from './job-log.repository';

interface ChunkDocument extends Omit<JobLogChunk, 'id'> {
  _id: string;
}

/**
 * {@link JobLogRepository} on the `mongodb` driver (collection `job_logs`): one document per
 * chunk, single-document writes; the cap's deletions are one `delete` command of `_id` statements.
 */
export class MongoJobLogRepository extends JobLogRepository {
  private readonly chunksCollection: Collection<ChunkDocument>;

  constructor(db: Db) {
    super();
    this.chunksCollection = db.collection<ChunkDocument>('job_logs');
  }

  /** Creates the index (idempotent): a job's chunks in line order. */
  async ensureIndexes(): Promise<void> {
    await this.chunksCollection.createIndex({ jobId: 1, at: 1, _id: 1 }, { name: 'job_at' });
  }

  async put(chunk: JobLogChunk): Promise<void> {
    const { id, ...rest } = chunk;
    await this.chunksCollection.replaceOne({ _id: id }, rest, { upsert: true });
  }

  async delete(ids: string[]): Promise<void> {
    if (!ids.length) return;
    await this.chunksCollection.bulkWrite(
      ids.map((_id) => ({ deleteOne: { filter: { _id } } })),
      { ordered: false },
    );
  }

  async chunks(jobId: string, query: Pick<JobLogQuery, 'stage' | 'attempt'> & { fromAt?: Date }, limit: number): Promise<JobLogChunk[]> {
    const filter: Record<string, unknown> = { jobId };
    if (query.stage) filter.stage = query.stage;
    if (query.attempt !== undefined) filter.attempt = query.attempt;
    if (query.fromAt) filter.at = { $gte: query.fromAt };
    const docs = await this.chunksCollection.find(filter).sort({ at: 1, _id: 1 }).limit(limit).toArray();
    return docs.map(({ _id, ...rest }) => ({ id: _id, ...rest }));
  }
}
