import { Global, Module, OnModuleInit } from '@nestjs/common';
import { Db } from 'mongodb';
import { JobLogRepository } from './job-log.repository';
import { JobLogsService } from './job-logs.service';
import { LogBus } from './log-bus';
import { MongoJobLogRepository } from './mongo-job-log.repository';

/** Job logs: storage (collection `job_logs`), the live bus (Redis pub/sub) and reading/tailing. */
@Global()
@Module({
  providers: [
    { provide: MongoJobLogRepository, inject: [Db], useFactory: (db: Db) => new MongoJobLogRepository(db) },
    { provide: JobLogRepository, useExisting: MongoJobLogRepository },
    LogBus,
    JobLogsService,
  ],
  exports: [JobLogRepository, LogBus, JobLogsService],
})
export class LogsModule implements OnModuleInit {
  constructor(private readonly repository: MongoJobLogRepository) {}

  async onModuleInit(): Promise<void> {
    await this.repository.ensureIndexes();
  }
}
