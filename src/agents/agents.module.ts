import { Global, Module } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '../config/config';
import { AGENT, PULL_REQUEST_GATEWAY } from './agent.port';
import { MockAgent, parseMockScript } from './mock.agent';

/**
 * Chooses the {@link Agent} by the AGENT setting (only `mock` ships). A real agent is another
 * provider for the AGENT token; nothing else changes.
 */
@Global()
@Module({
  providers: [
    {
      provide: MockAgent,
      inject: [APP_CONFIG],
      useFactory: (config: AppConfig) =>
        new MockAgent({
          delayMs: config.MOCK_AGENT_DELAY_MS,
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
