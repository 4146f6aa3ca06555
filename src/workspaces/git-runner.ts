/**
 * Runs git subprocesses the one way this module allows:
 * - argv only (no shell), stdin closed, a minimal environment: PATH, HOME, LC_ALL=C and the GIT_*
 *   variables set here; nothing else of the worker's environment (no stray GIT_DIR, no tokens);
 * - the host's git configuration is ignored: GIT_CONFIG_NOSYSTEM=1 and GIT_CONFIG_GLOBAL=/dev/null
 *   (git(1), ENVIRONMENT VARIABLES, https://git-scm.com/docs/git#_environment_variables), plus
 *   `-c` overrides on every call ({@link GIT_SAFETY_CONFIG}): no hooks, no credential helper, no
 *   fsmonitor, no signing, no auto-gc, no `ext::` transport;
 * - network commands (fetch, ls-remote, push) alone get GIT_ASKPASS and the token variable
 *   (see `askpass.ts`); every command gets GIT_TERMINAL_PROMPT=0;
 * - each command runs in its own process group (`detached`): a timeout or the caller's
 *   AbortSignal kills the whole group (git's helpers such as git-remote-https or ssh too), and
 *   the lock files the killed git left are removed (`stale-locks.ts`);
 * - failures become {@link WorkspaceError}s whose messages carry the command name and the
 *   redacted tail of stderr.
 */
import { execa } from 'execa';
import { TOKEN_ENV } from './askpass';
import { redact, tail } from './redact';
import { removeLocksLeftByKilledGit } from './stale-locks';
import { WorkspaceError } from './workspace.errors';
import type { GitCommandRecord, WorkspaceLogger } from './workspace.types';

/** `-c` settings given to every git command, whatever the repository's config says. */
export const GIT_SAFETY_CONFIG: readonly string[] = [
  'core.hooksPath=/dev/null',
  'credential.helper=',
  'core.fsmonitor=false',
  'commit.gpgSign=false',
  'tag.gpgSign=false',
  'gc.auto=0',
  'maintenance.auto=false',
  'protocol.ext.allow=never',
  'submodule.recurse=false',
  'fetch.recurseSubmodules=false',
  'push.recurseSubmodules=no',
  'advice.detachedHead=false',
  'init.defaultBranch=main',
  'color.ui=false',
  'core.quotePath=false',
];

/** Default variables passed through to network commands when set (proxies, CA bundles, ssh agent). */
export const DEFAULT_PASS_ENV: readonly string[] = [
  'SSH_AUTH_SOCK',
  'HTTPS_PROXY',
  'https_proxy',
  'NO_PROXY',
  'no_proxy',
  'GIT_SSL_CAINFO',
  'SSL_CERT_FILE',
  'SSL_CERT_DIR',
];

export interface GitRunnerConfig {
  gitBinary: string;
  /** Local commands, ms. */
  timeoutMs: number;
  /** Network commands, ms. */
  networkTimeoutMs: number;
  /** Absolute path of the askpass script (written on first need). */
  askpass: () => Promise<string>;
  token?: () => Promise<string | null>;
  passEnv: readonly string[];
  networkEnv: Readonly<Record<string, string>>;
  logger: WorkspaceLogger;
  onCommand?: (record: GitCommandRecord) => void;
}

export interface GitRunOptions {
  /** Working directory (a worktree, or the root for `--git-dir=` commands). */
  cwd: string;
  /** Fetch, ls-remote, push: receives askpass + token, and the network timeout. */
  network?: boolean;
  signal?: AbortSignal;
  /** Overrides the configured timeout, ms. */
  timeoutMs?: number;
  /** Extra non-secret variables (commit identity, GIT_CEILING_DIRECTORIES). */
  env?: Readonly<Record<string, string>>;
  /** Exit codes that are not failures. Default `[0]`. */
  okExitCodes?: readonly number[];
  /** Write stdout to this file instead of buffering it (large diffs). */
  stdoutFile?: string;
}

export interface GitResult {
  /** '' when `stdoutFile` was given. */
  stdout: string;
  stderr: string;
  exitCode: number;
}

const AUTH_FAILURE =
  /Authentication failed|could not read (Username|Password)|terminal prompts disabled|Permission denied \(publickey|returned error: 40[13]|HTTP (Basic: Access denied|401|403)|Invalid username or password/i;

/** The command's name for messages: the subcommand (and `worktree`'s sub-subcommand). */
export function commandName(args: readonly string[]): string {
  const words = args.filter((a) => !a.startsWith('-'));
  return words[0] === 'worktree' || words[0] === 'remote' ? words.slice(0, 2).join(' ') : (words[0] ?? 'git');
}

export class GitRunner {
  /** Tokens handed to git by this runner (the latest few), redacted from every text. */
  private readonly secrets: string[] = [];

  constructor(private readonly config: GitRunnerConfig) {}

  /** `text` with known tokens and URL credentials redacted. */
  redact(text: string): string {
    return redact(text, this.secrets);
  }

  /**
   * Runs `git <safety -c options> <args>`.
   * @returns stdout, stderr and the exit code (one of `okExitCodes`).
   * @throws WorkspaceError `ABORTED` (signal fired, group killed), `GIT_TIMEOUT`,
   *   `GIT_AUTH_FAILED` (network command refused authentication), `GIT_FAILED` (any other exit
   *   code, or git could not be started; message = command name + redacted stderr tail).
   */
  async run(args: readonly string[], opts: GitRunOptions): Promise<GitResult> {
    const name = commandName(args);
    if (opts.signal?.aborted) throw new WorkspaceError('ABORTED', `git ${name} not started: aborted`, { command: name });
    const env = await this.environment(opts);
    const argv = [...GIT_SAFETY_CONFIG.flatMap((c) => ['-c', c]), ...args];
    const timeoutMs = opts.timeoutMs ?? (opts.network ? this.config.networkTimeoutMs : this.config.timeoutMs);
    const started = Date.now();
    const child = execa(this.config.gitBinary, argv, {
      cwd: opts.cwd,
      env,
      extendEnv: false,
      stdin: 'ignore',
      stdout: opts.stdoutFile ? { file: opts.stdoutFile } : 'pipe',
      stderr: 'pipe',
      detached: true,
      reject: false,
      stripFinalNewline: false,
      maxBuffer: 512 * 1024 * 1024,
    });
    const killed: { why: 'timeout' | 'aborted' | null } = { why: null };
    const killGroup = (why: 'timeout' | 'aborted') => {
      killed.why ??= why;
      try {
        if (child.pid) process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    };
    const onAbort = () => killGroup('aborted');
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    const timer = timeoutMs > 0 ? setTimeout(() => killGroup('timeout'), timeoutMs) : undefined;
    const result = await child;
    clearTimeout(timer);
    opts.signal?.removeEventListener('abort', onAbort);

    const exitCode = typeof result.exitCode === 'number' ? result.exitCode : null;
    const ok = killed.why === null && exitCode !== null && (opts.okExitCodes ?? [0]).includes(exitCode);
    const outcome: GitCommandRecord['outcome'] = killed.why ?? (ok ? 'ok' : 'failed');
    const durationMs = Date.now() - started;
    const record: GitCommandRecord = { argv, cwd: opts.cwd, network: !!opts.network, envKeys: Object.keys(env).sort(), exitCode, durationMs, outcome };
    this.config.onCommand?.(record);
    this.config.logger.debug(`git ${name} ${outcome} (exit ${exitCode ?? result.signal ?? '?'}) in ${durationMs} ms`, { command: name, cwd: opts.cwd });

    const stderr = typeof result.stderr === 'string' ? result.stderr : '';
    if (ok) return { stdout: typeof result.stdout === 'string' ? result.stdout : '', stderr, exitCode: exitCode as number };
    const details = { command: name, exitCode };
    if (killed.why) {
      const removed = await removeLocksLeftByKilledGit(args, opts.cwd, started).catch(() => [] as string[]);
      if (removed.length) this.config.logger.warn(`removed ${removed.length} lock file(s) left by the killed git ${name}`, { files: removed });
    }
    if (outcome === 'aborted') throw new WorkspaceError('ABORTED', `git ${name} aborted`, details);
    if (outcome === 'timeout') throw new WorkspaceError('GIT_TIMEOUT', `git ${name} timed out after ${timeoutMs} ms`, details);
    const why = exitCode === null ? String(result.originalMessage ?? result.signal ?? 'could not start git') : tail(stderr) || `exit code ${exitCode}`;
    const text = this.redact(why);
    if (opts.network && AUTH_FAILURE.test(stderr)) {
      throw new WorkspaceError('GIT_AUTH_FAILED', `git ${name} was refused authentication: ${text}`, details);
    }
    throw new WorkspaceError('GIT_FAILED', `git ${name} failed (exit ${exitCode ?? 'none'}): ${text}`, details);
  }

  private async environment(opts: GitRunOptions): Promise<Record<string, string>> {
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
      HOME: process.env.HOME ?? '/nonexistent',
      LC_ALL: 'C',
      GIT_CONFIG_NOSYSTEM: '1',
      GIT_CONFIG_GLOBAL: '/dev/null',
      GIT_TERMINAL_PROMPT: '0',
      ...opts.env,
    };
    if (!opts.network) return env;
    for (const key of this.config.passEnv) {
      const value = process.env[key];
      if (value !== undefined) env[key] = value;
    }
    Object.assign(env, this.config.networkEnv);
    env.GIT_ASKPASS = await this.config.askpass();
    const token = this.config.token ? await this.config.token() : null;
    if (token) {
      if (!this.secrets.includes(token)) {
        this.secrets.push(token);
        if (this.secrets.length > 8) this.secrets.shift();
      }
      env[TOKEN_ENV] = token;
    }
    return env;
  }
}
