/**
 * Real git for the gateway tests: a bare remote (`git init --bare -b main`) holding a small
 * repository, a WorkspaceManager rooted in the same temp directory, and a job whose code stage
 * committed one change through `commitChanges` — what the gateways find when PR_OPEN starts.
 */
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { AgentCallOptions, AgentJobContext, PullRequestInput } from '../../../src/agents/agent.port';
import type { PrepareWorkspace } from '../../../src/pull-requests';
import { WorkspaceManager, type GitCommandRecord, type Workspace } from '../../../src/workspaces';
import { git } from '../../workspaces/support/git-fixture';

export { git };

/** The bare remote's `refs/heads/<branch>`, or null when absent. */
export function remoteRef(bare: string, branch: string): string | null {
  try {
    return git(bare, '--git-dir', bare, 'rev-parse', '--verify', '--quiet', `refs/heads/${branch}`);
  } catch {
    return null;
  }
}

/** Job id whose first 8 characters make the branch `aicd/7-1234abcd`. */
export const JOB_ID = '1234abcd-5678-4def-9abc-0123456789ab';
export const ISSUE_NUMBER = 7;
export const BRANCH = `aicd/${ISSUE_NUMBER}-1234abcd`;

/** The branch of job `jobId` on issue {@link ISSUE_NUMBER}. */
export const branchOf = (jobId: string) => `aicd/${ISSUE_NUMBER}-${jobId.slice(0, 8)}`;

export const IDENTITY = { authorName: 'aicd bot', authorEmail: 'bot@aicd.invalid', date: '2026-01-02T03:04:05Z' };

/** Options of an agent call; `lines` collects what the gateway reports to the observer. */
export function callOptions(signal: AbortSignal = new AbortController().signal, lines: string[] = []): AgentCallOptions {
  return {
    signal,
    idempotencyKey: `${JOB_ID}:pr-open:1`,
    attempt: 1,
    observer: { usage: () => undefined, workspace: () => undefined, processStarted: () => undefined, processEnded: () => undefined, line: (l) => void lines.push(l.text) },
  };
}

/** One job whose code stage committed a change on its branch (nothing pushed yet). */
export interface Job {
  branch: string;
  ctx: AgentJobContext;
  input: PullRequestInput;
  /** Ensures the job's worktree (what the agent wiring's `prepare` does). */
  prepare: PrepareWorkspace;
  /** Commits another change on the job branch (a further code round); returns the new head. */
  commitMore(file: string, content: string): Promise<string>;
}

export interface JobRepo {
  tmp: string;
  /** The bare remote's directory. */
  bare: string;
  /** The remote URL the jobs use (`file://…`). */
  remoteUrl: string;
  manager: WorkspaceManager;
  /** Every git command the manager ran. */
  gitCommands: GitCommandRecord[];
  /** How often the manager asked for the token. */
  tokenCalls: () => number;
  /** A new job on issue 7 (default id {@link JOB_ID}); one worktree per job id. */
  newJob(jobId?: string): Promise<Job>;
  cleanup(): Promise<void>;
}

/** The remote (main with two files) and a manager whose token comes from `token`. */
export async function makeJobRepo(token: (() => Promise<string | null>) | null = null): Promise<JobRepo> {
  const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'aicd-pr-'));
  const source = path.join(tmp, 'source');
  const bare = path.join(tmp, 'remote.git');
  git(tmp, 'init', '-q', '--bare', '-b', 'main', bare);
  git(tmp, 'init', '-q', '-b', 'main', source);
  await fs.writeFile(path.join(source, 'README.md'), '# widgets\n');
  await fs.mkdir(path.join(source, 'src'));
  await fs.writeFile(path.join(source, 'src', 'sum.ts'), 'export const sum = (a: number, b: number) => a - b;\n');
  git(source, 'add', '-A');
  git(source, 'commit', '-q', '-m', 'initial');
  git(source, 'push', '-q', bare, 'main');

  const gitCommands: GitCommandRecord[] = [];
  let tokenCalls = 0;
  const manager = new WorkspaceManager({
    root: path.join(tmp, 'root'),
    token: token
      ? () => {
          tokenCalls++;
          return token();
        }
      : undefined,
    onGitCommand: (r) => gitCommands.push(r),
    lockTimeoutMs: 20_000,
  });
  const remoteUrl = `file://${bare}`;

  const newJob = async (jobId = JOB_ID): Promise<Job> => {
    const ensure = (baseCommit?: string, baseBranch?: string, signal?: AbortSignal): Promise<Workspace> =>
      manager.ensure({ jobId, issueNumber: ISSUE_NUMBER }, { remoteUrl, baseCommit, baseBranch, signal });
    const first = await ensure();
    await fs.writeFile(path.join(first.path, 'src', 'sum.ts'), 'export const sum = (a: number, b: number) => a + b;\n');
    const commit = await manager.commitChanges(first, { ...IDENTITY, startCommit: first.head, message: 'Fix #7: sum subtracts', maxDiffBytes: 1_000_000 });
    const ctx: AgentJobContext = {
      jobId,
      tenantId: 'tenant-1',
      repositoryId: 'acme/widgets',
      issue: { id: String(ISSUE_NUMBER), title: 'sum() subtracts instead of adding', body: 'sum(1, 2) returns -1', url: 'https://github.com/acme/widgets/issues/7' },
      reviewRound: 1,
      workspace: { branch: first.branch, baseBranch: first.baseBranch, baseCommit: first.baseCommit },
      lastCode: null,
    };
    const input: PullRequestInput = {
      plan: { summary: 'Make `sum` add its arguments.', steps: ['Change the operator in src/sum.ts', 'Run the tests'] },
      code: {
        changes: commit.files.map((f) => ({ path: f.path, commitMessage: 'Fix #7: sum subtracts', status: f.status, additions: f.additions, deletions: f.deletions })),
        commitSha: commit.sha,
        diffStat: commit.stat,
      },
      review: { approved: true, comments: [], checks: { command: 'npm test', exitCode: 0, passed: true, durationMs: 1534, outputTail: 'PASS test/sum.spec.ts\nTests: 3 passed, 3 total' } },
    };
    return {
      branch: first.branch,
      ctx,
      input,
      prepare: (c, _input, signal) => ensure(c.workspace?.baseCommit, c.workspace?.baseBranch, signal),
      async commitMore(file, content) {
        const cur = await ensure(first.baseCommit, first.baseBranch);
        await fs.writeFile(path.join(cur.path, file), content);
        const c = await manager.commitChanges(cur, { ...IDENTITY, startCommit: cur.head, message: `more: ${file}`, maxDiffBytes: 1_000_000 });
        input.code = { ...input.code, commitSha: c.sha, diffStat: c.stat };
        return c.sha;
      },
    };
  };

  return {
    tmp,
    bare,
    remoteUrl,
    manager,
    gitCommands,
    tokenCalls: () => tokenCalls,
    newJob,
    cleanup: () => fs.rm(tmp, { recursive: true, force: true }),
  };
}
