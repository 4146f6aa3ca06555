import { Logger } from '@nestjs/common';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type { ArtifactStore } from '../../artifacts/artifact.store';
import type { AppConfig } from '../../config/config';
import type { TenantRepository } from '../../tenants/tenant.repository';
import { CLI_PROFILES, type BuiltInCliName } from '../../tools/cli/profiles';
import { ProcessSupervisor } from '../../tools/process-supervisor';
import { createToolAdapters } from '../../tools/tool-adapters';
import type { ToolAdapter } from '../../tools/tool.port';
import type { ToolBreakers } from '../../tools/tool-breakers';
import { WorkspaceManager } from '../../workspaces';
import { CliAgent } from './cli-agent';
import { JobWorkspaces } from './job-workspaces';
import { DEFAULT_PROMPTS_DIR, PromptTemplates } from './prompt-templates';

/** Comma-separated names → list. */
export const names = (csv: string): string[] =>
  csv
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);

/** WORKSPACE_ROOT, or `<tmpdir>/aicd-workspaces`. */
export function workspaceRoot(config: AppConfig): string {
  return config.WORKSPACE_ROOT || path.join(tmpdir(), 'aicd-workspaces');
}

/**
 * The worker's workspace manager: WORKSPACE_ROOT, the git token (GIT_TOKEN, else the GitHub
 * token provider) through askpass only, git commands logged at debug.
 */
export function createWorkspaceManager(config: AppConfig, token: () => Promise<string | null>): WorkspaceManager {
  const log = new Logger('Workspaces');
  return new WorkspaceManager({
    root: workspaceRoot(config),
    token,
    logger: { debug: (m) => log.debug(m), warn: (m) => log.warn(m) },
  });
}

/**
 * The tool adapters of this worker (one process supervisor with KILL_GRACE_MS): shell, function,
 * the four CLIs (AGENT_CLI_BIN overrides the configured CLI's binary) and, for
 * AGENT_CLI=custom, the AGENT_CLI_COMMAND argv template.
 * @throws Error naming AGENT_CLI_COMMAND when it is not a JSON array of strings.
 */
export function createAdapters(config: AppConfig): Map<string, ToolAdapter> {
  const supervisor = new ProcessSupervisor({ killGraceMs: config.KILL_GRACE_MS });
  const bins: Partial<Record<BuiltInCliName, string>> = {};
  if (config.AGENT_CLI_BIN && config.AGENT_CLI !== 'custom') bins[config.AGENT_CLI] = config.AGENT_CLI_BIN;
  let custom;
  if (config.AGENT_CLI === 'custom') {
    let argv: unknown;
    try {
      argv = JSON.parse(config.AGENT_CLI_COMMAND);
    } catch {
      argv = null;
    }
    if (!Array.isArray(argv) || !argv.length || argv.some((a) => typeof a !== 'string')) {
      throw new Error('AGENT_CLI_COMMAND must be a JSON array of strings, e.g. ["my-agent","--prompt-file","{promptFile}"] (AGENT_CLI=custom)');
    }
    custom = { name: 'custom', argv: argv as string[], envNames: names(config.AGENT_CLI_ENV) };
  }
  return createToolAdapters({ supervisor, bins, ...(custom ? { custom } : {}) });
}

/** Builds the CLI agent (AGENT=cli) from config. */
export function createCliAgent(
  config: AppConfig,
  deps: { adapters: Map<string, ToolAdapter>; breakers: ToolBreakers; manager: WorkspaceManager; artifacts: ArtifactStore; tenants: TenantRepository; redact: readonly string[] },
): CliAgent {
  const profileEnv = config.AGENT_CLI === 'custom' ? [] : CLI_PROFILES[config.AGENT_CLI].envNames;
  return new CliAgent(
    {
      cli: config.AGENT_CLI,
      cliEnvNames: [...profileEnv, ...names(config.AGENT_CLI_ENV)],
      maxTurns: config.AGENT_CLI_MAX_TURNS,
      idleTimeoutMs: config.TOOL_IDLE_TIMEOUT_MS,
      authorName: config.GIT_AUTHOR_NAME,
      authorEmail: config.GIT_AUTHOR_EMAIL,
      maxDiffBytes: config.MAX_DIFF_BYTES,
      workspaceMaxBytes: config.WORKSPACE_MAX_BYTES,
      reviewCommand: config.REVIEW_COMMAND,
      reviewEnvNames: names(config.REVIEW_COMMAND_ENV),
      reviewTimeoutMs: config.REVIEW_TIMEOUT_MS,
      reviewAgent: config.REVIEW_AGENT,
      redact: deps.redact,
    },
    {
      workspaces: new JobWorkspaces(deps.manager, deps.artifacts, deps.tenants, config.GIT_URL_TEMPLATE),
      adapters: deps.adapters,
      breakers: deps.breakers,
      artifacts: deps.artifacts,
      tenants: deps.tenants,
      prompts: new PromptTemplates(config.PROMPTS_DIR || DEFAULT_PROMPTS_DIR),
    },
  );
}
