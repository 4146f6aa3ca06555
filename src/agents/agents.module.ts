import { Global, Module } from '@nestjs/common';
import { ArtifactStore } from '../artifacts/artifact.store';
import { Redactor } from '../common/secrets';
import { APP_CONFIG, type AppConfig } from '../config/config';
import { TenantRepository } from '../tenants/tenant.repository';
import type { ToolAdapter } from '../tools/tool.port';
import { ToolBreakers } from '../tools/tool-breakers';
import { WorkspaceManager } from '../workspaces';
import { AGENT, PULL_REQUEST_GATEWAY } from './agent.port';
import { createAdapters, createCliAgent, createWorkspaceManager } from './cli/cli-agent.factory';
import { WorkspaceJanitor } from './cli/workspace-janitor';
import { MockAgent, parseMockScript } from './mock.agent';
import { createPullRequestGateway, GIT_TOKEN_PROVIDER, gitTokenProvider, type GitTokenProvider } from './pull-request-gateways';
import { RedisMockCallLog } from './redis-call-log';

/** DI token of this worker's tool adapters (`Map<name, ToolAdapter>`). */
export const TOOL_ADAPTERS = Symbol('TOOL_ADAPTERS');

/**
 * Chooses the {@link Agent} by AGENT (`mock`: the scripted MockAgent; `cli`: a coding-agent CLI in
 * a git worktree per job) and the PullRequestGateway by PR_GATEWAY (`mock`, `git`, `github`), and
 * provides what they share: the tool adapters, one circuit breaker per tool, the workspace
 * manager (WORKSPACE_ROOT) and the janitor removing finished jobs' worktrees.
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
      provide: ToolBreakers,
      inject: [APP_CONFIG],
      useFactory: (config: AppConfig) => new ToolBreakers({ threshold: config.TOOL_BREAKER_THRESHOLD, halfOpenAfterMs: config.TOOL_BREAKER_HALF_OPEN_MS }),
    },
    { provide: TOOL_ADAPTERS, inject: [APP_CONFIG], useFactory: (config: AppConfig) => createAdapters(config) },
    { provide: GIT_TOKEN_PROVIDER, inject: [APP_CONFIG], useFactory: (config: AppConfig) => gitTokenProvider(config) },
    {
      provide: WorkspaceManager,
      inject: [APP_CONFIG, GIT_TOKEN_PROVIDER],
      useFactory: (config: AppConfig, token: GitTokenProvider) => createWorkspaceManager(config, () => token.token()),
    },
    {
      provide: AGENT,
      inject: [APP_CONFIG, MockAgent, TOOL_ADAPTERS, ToolBreakers, WorkspaceManager, ArtifactStore, TenantRepository, Redactor],
      useFactory: (
        config: AppConfig,
        mock: MockAgent,
        adapters: Map<string, ToolAdapter>,
        breakers: ToolBreakers,
        manager: WorkspaceManager,
        artifacts: ArtifactStore,
        tenants: TenantRepository,
        redactor: Redactor,
      ) => {
        switch (config.AGENT) {
          case 'mock':
            return mock;
          case 'cli':
            return createCliAgent(config, { adapters, breakers, manager, artifacts, tenants, redact: redactor.secrets });
        }
      },
    },
    {
      provide: PULL_REQUEST_GATEWAY,
      inject: [APP_CONFIG, MockAgent, WorkspaceManager, ArtifactStore, TenantRepository, GIT_TOKEN_PROVIDER],
      useFactory: (config: AppConfig, mock: MockAgent, manager: WorkspaceManager, artifacts: ArtifactStore, tenants: TenantRepository, token: GitTokenProvider) =>
        config.PR_GATEWAY === 'mock' ? mock : createPullRequestGateway(config, { manager, artifacts, tenants, token }),
    },
    WorkspaceJanitor,
  ],
  exports: [AGENT, PULL_REQUEST_GATEWAY, MockAgent, ToolBreakers, TOOL_ADAPTERS, WorkspaceManager, WorkspaceJanitor],
})
export class AgentsModule {}
