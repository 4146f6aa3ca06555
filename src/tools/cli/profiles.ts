/** The built-in coding-agent CLI profiles, by tool name. */
import { aiderProfile } from './aider.profile';
import type { CliProfile } from './cli-profile';
import { claudeProfile } from './claude.profile';
import { codexProfile } from './codex.profile';
import { geminiProfile } from './gemini.profile';

/** Names of the built-in CLI tools. */
export type BuiltInCliName = 'claude' | 'codex' | 'gemini' | 'aider';

/** The built-in profiles (`custom` is built per configuration with `createCustomProfile`). */
export const CLI_PROFILES: Readonly<Record<BuiltInCliName, CliProfile>> = {
  claude: claudeProfile,
  codex: codexProfile,
  gemini: geminiProfile,
  aider: aiderProfile,
};
