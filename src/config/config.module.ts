import { DynamicModule, Global, Module } from '@nestjs/common';
import { ConfigModule } from '@nestjs/config';
import { Redactor } from '../common/secrets';
import { WORKER_ID, newWorkerId } from '../queues/worker-id';
import { APP_CONFIG, secretsOf, validateConfig, type AppConfig } from './config';

/**
 * Global typed config: `@Inject(APP_CONFIG) config: AppConfig` (or `ConfigService`). `overrides`
 * win over the environment (tests run several apps in one process). The validated values are
 * handed to `ConfigModule` through `load`, not `validate`, because `validate` copies them into
 * `process.env`, which would leak one app's settings into the next.
 */
@Global()
@Module({})
export class AppConfigModule {
  static forRoot(overrides: Record<string, string> = {}): DynamicModule {
    const config = validateConfig({ ...process.env, ...overrides });
    return {
      module: AppConfigModule,
      imports: [ConfigModule.forRoot({ ignoreEnvFile: true, ignoreEnvVars: true, load: [() => config] })],
      providers: [
        { provide: APP_CONFIG, useValue: config },
        // Everything written out (job logs, errors) is redacted of the secrets this process holds.
        { provide: Redactor, useValue: new Redactor(secretsOf(config as AppConfig, process.env)) },
        { provide: WORKER_ID, useValue: newWorkerId() },
      ],
      exports: [APP_CONFIG, Redactor, WORKER_ID],
    };
  }
}
