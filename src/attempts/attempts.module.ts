import { Global, Module, OnModuleInit } from '@nestjs/common';
import { Db } from 'mongodb';
import { Redactor } from '../common/secrets';
import { APP_CONFIG, type AppConfig } from '../config/config';
import { JobLogRepository } from '../logs/job-log.repository';
import { LogBus } from '../logs/log-bus';
import { WORKER_ID } from '../queues/worker-id';
import { reapProcesses } from '../tools/process-reaper';
import { AttemptTracker } from './attempt-tracker';
import { MongoStageAttemptRepository } from './mongo-stage-attempt.repository';
import { OrphanReaper } from './orphan-reaper';
import { StageAttemptRepository } from './stage-attempt.repository';

/**
 * Stage attempts: their records (collection `stage_attempts`: pid, host, heartbeat, outcome,
 * usage), the tracker the stage runner records them with, and the reaper of process trees a
 * killed worker left behind.
 */
@Global()
@Module({
  providers: [
    { provide: MongoStageAttemptRepository, inject: [Db], useFactory: (db: Db) => new MongoStageAttemptRepository(db) },
    { provide: StageAttemptRepository, useExisting: MongoStageAttemptRepository },
    {
      provide: AttemptTracker,
      inject: [StageAttemptRepository, JobLogRepository, LogBus, APP_CONFIG, WORKER_ID, Redactor],
      useFactory: (repo: StageAttemptRepository, logs: JobLogRepository, bus: LogBus, config: AppConfig, workerId: string, redactor: Redactor) =>
        new AttemptTracker(repo, logs, bus, { heartbeatMs: config.HEARTBEAT_MS, logMaxBytes: config.LOG_MAX_BYTES, workerId, redactor }),
    },
    {
      provide: OrphanReaper,
      inject: [StageAttemptRepository, APP_CONFIG],
      useFactory: (repo: StageAttemptRepository, config: AppConfig) => new OrphanReaper(repo, reapProcesses, config.KILL_GRACE_MS),
    },
  ],
  exports: [StageAttemptRepository, AttemptTracker, OrphanReaper],
})
export class AttemptsModule implements OnModuleInit {
  constructor(private readonly repository: MongoStageAttemptRepository) {}

  async onModuleInit(): Promise<void> {
    await this.repository.ensureIndexes();
  }
}
