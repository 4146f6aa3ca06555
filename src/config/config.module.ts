import { DynamicModule, Global, Module } from '@nestjs/common';
import { ConfigModule } from '@nestjs/config';
import { APP_CONFIG, validateConfig } from './config';

/** Global typed config: `@Inject(APP_CONFIG) config: AppConfig`. `overrides` win over the environment (tests). */
@Global()
@Module({})
export class AppConfigModule {
  static forRoot(overrides: Record<string, string> = {}): DynamicModule {
    return {
      module: AppConfigModule,
      imports: [ConfigModule.forRoot({ ignoreEnvFile: true, validate: (env) => validateConfig({ ...env, ...overrides }) })],
      providers: [{ provide: APP_CONFIG, useFactory: () => validateConfig({ ...process.env, ...overrides }) }],
      exports: [APP_CONFIG],
    };
  }
}
