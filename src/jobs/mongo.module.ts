import { Global, Inject, Module, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { Db, MongoClient } from 'mongodb';
import { APP_CONFIG, type AppConfig } from '../config/config';
import { JobRepository } from './job.repository';
import { JobRecordListeners, ObservedJobRepository } from './job-record-listeners';
import { MongoJobRepository } from './mongo-job.repository';
import { detectStoreServer, StoreServerInfo } from './store-server';

export const MONGO_CLIENT = Symbol('MONGO_CLIENT');

/**
 * The MongoDB adapter: one client per process, the `jobs` collection behind {@link JobRepository}
 * (wrapped so that {@link JobRecordListeners} hear of every created job and every commit).
 */
@Global()
@Module({
  providers: [
    {
      provide: MONGO_CLIENT,
      inject: [APP_CONFIG],
      useFactory: (config: AppConfig) =>
        new MongoClient(config.MONGODB_URI, { serverSelectionTimeoutMS: 5000, connectTimeoutMS: 5000, maxPoolSize: 20 }),
    },
    {
      provide: Db,
      inject: [MONGO_CLIENT, APP_CONFIG],
      useFactory: (client: MongoClient, config: AppConfig) => client.db(config.MONGODB_DB),
    },
    { provide: MongoJobRepository, inject: [Db], useFactory: (db: Db) => new MongoJobRepository(db) },
    JobRecordListeners,
    StoreServerInfo,
    {
      provide: JobRepository,
      inject: [MongoJobRepository, JobRecordListeners],
      useFactory: (inner: MongoJobRepository, listeners: JobRecordListeners) => new ObservedJobRepository(inner, listeners),
    },
  ],
  exports: [JobRepository, JobRecordListeners, MONGO_CLIENT, Db, StoreServerInfo],
})
export class MongoModule implements OnModuleInit, OnApplicationShutdown {
  constructor(
    @Inject(MONGO_CLIENT) private readonly client: MongoClient,
    private readonly repository: MongoJobRepository,
    private readonly db: Db,
    private readonly info: StoreServerInfo,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  /**
   * Creates the indexes and selects the compare-and-set once: one operation on a server that
   * applies an update atomically with its filter, version claims otherwise (or with
   * STORE_CAS=version-claim). @throws when the server does not answer.
   */
  async onModuleInit(): Promise<void> {
    await this.repository.ensureIndexes();
    const server = await detectStoreServer(this.db);
    this.repository.useAtomicCommits(server.atomicUpdates && this.config.STORE_CAS === 'auto');
    this.info.server = server;
    this.info.commitMode = this.repository.commitMode;
  }

  async onApplicationShutdown(): Promise<void> {
    await this.repository.flushClaims();
    await this.client.close();
  }
}
