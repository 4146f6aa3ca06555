import { Global, Inject, Module, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { Db, MongoClient } from 'mongodb';
import { APP_CONFIG, type AppConfig } from '../config/config';
import { JobRepository } from './job.repository';
import { JobRecordListeners, ObservedJobRepository } from './job-record-listeners';
import { MongoJobRepository } from './mongo-job.repository';

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
    {
      provide: JobRepository,
      inject: [MongoJobRepository, JobRecordListeners],
      useFactory: (inner: MongoJobRepository, listeners: JobRecordListeners) => new ObservedJobRepository(inner, listeners),
    },
  ],
  exports: [JobRepository, JobRecordListeners, MONGO_CLIENT, Db],
})
export class MongoModule implements OnModuleInit, OnApplicationShutdown {
  constructor(
    @Inject(MONGO_CLIENT) private readonly client: MongoClient,
    private readonly repository: MongoJobRepository,
  ) {}

  async onModuleInit(): Promise<void> {
    await this.repository.ensureIndexes();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.repository.flushClaims();
    await this.client.close();
  }
}
