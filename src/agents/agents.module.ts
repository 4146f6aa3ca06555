import { Global, Module } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '../config/config';
import { AGENT, PULL_REQUEST_GATEWAY } from './agent.port';
import { MockAgent, parseMockScript } from './mock.agent';
import { RedisMockCallLog } from './redis-call-log';

/**
 * Chooses the {@link Agent} by the AGENT setting (only `mock` ships). A real agent is another
 * provider for the AGENT token; nothing else changes.
 */
@Global()
@Module({
  providers: [
    // Cross-process call log for tests (MOCK_AGENT_CALL_LOG_KEY); null when off.
    {
      provide: RedisMockCallLog,
      inject: [APP_CONFIG],
      useFactory: (config: AppConfig) =>
        config.MOCK_AGENT_CALL_LOG_KEY ? new RedisMockCallLog(config.REDIS_URL, config.MOCK_AGENT_CALL_LOG_KEY) : null,
    },
    {
      provide: MockAgent,
      inject: [APP_CONFIG, RedisMockCallLog],
      useFactory: (config: AppConfig, callLog: RedisMockCallLog | null) =>
        new MockAgent({
          delayMs: config.MOCK_AGENT_DELAY_MS,
          ...(callLog ? { callLog } : {}),
          defaults: parseMockScript(
            [
              ...config.MOCK_AGENT_FAIL_STAGES.split(',').filter(Boolean).map((s) => `mock: fail=${s.trim()}`),
              ...config.MOCK_AGENT_TRANSIENT.split(',').filter(Boolean).map((s) => `mock: transient=${s.trim()}`),
              `mock: reject=${config.MOCK_AGENT_REJECTIONS}`,
            ].join('\n'),
          ),
        }),
    },
    {
      provide: AGENT,
      inject: [APP_CONFIG, MockAgent],
      useFactory: (config: AppConfig, mock: MockAgent) => {
        switch (config.AGENT) {
          case 'mock':
            return mock;
        }
      },
    },
    // The simulated gateway: deterministic PR URLs, same scripting as the mock agent.
    { provide: PULL_REQUEST_GATEWAY, useExisting: MockAgent },
  ],
  exports: [AGENT, PULL_REQUEST_GATEWAY, MockAgent],
})
export class AgentsModule {}
