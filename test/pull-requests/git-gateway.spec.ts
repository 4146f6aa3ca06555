/**
 * GitPullRequestGateway on real git: a local bare remote, a WorkspaceManager in a temp directory,
 * a job branch with one orchestrator commit. The remote's ref is checked with
 * `git --git-dir=<bare> rev-parse`.
 */
import { randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { AgentError } from '../../src/agents/agent.port';
import { GitPullRequestGateway } from '../../src/pull-requests';
import { TOKEN_ENV } from '../../src/workspaces';
import { BRANCH, JOB_ID, callOptions, makeJobRepo, remoteRef, type Job, type JobRepo } from './support/job-repo';

const TOKEN = 'ghp_gitGatewaySecretToken0123456789abcdef';

describe('GitPullRequestGateway', () => {
  let repo: JobRepo;
  let job: Job;
  let gateway: GitPullRequestGateway;

  // One remote and manager per file (a mirror clone is the slow part); one job (branch) per test.
  beforeAll(async () => {
    repo = await makeJobRepo(async () => TOKEN);
  });
  afterAll(() => repo.cleanup());
  beforeEach(async () => {
    job = await repo.newJob(randomUUID());
    gateway = new GitPullRequestGateway({ prepare: job.prepare, workspaces: repo.manager });
  });

  const pushes = (branch = job.branch) => repo.gitCommands.filter((c) => c.argv.includes('push') && c.argv.some((a) => a.includes(branch)));

  it('pushes the branch and returns a compare reference for the file:// remote', async () => {
    expect(remoteRef(repo.bare, job.branch)).toBeNull();
    const lines: string[] = [];
    job = await repo.newJob(JOB_ID);
    gateway = new GitPullRequestGateway({ prepare: job.prepare, workspaces: repo.manager });
    expect(job.branch).toBe(BRANCH);
    const result = await gateway.open(job.ctx, job.input, callOptions(undefined, lines));

    const head = job.input.code.commitSha!;
    expect(result).toEqual({ url: `${repo.remoteUrl}#main...${BRANCH}`, number: null, branch: BRANCH, headSha: head });
    expect(remoteRef(repo.bare, job.branch)).toBe(head);
    expect(remoteRef(repo.bare, 'main')).toBe(job.ctx.workspace!.baseCommit);
    expect(pushes()).toHaveLength(1);
    expect(lines.join('\n')).toContain(`compare: ${repo.remoteUrl}#main...${BRANCH}`);
  });

  it('is idempotent: a second open pushes nothing and returns the same reference', async () => {
    const first = await gateway.open(job.ctx, job.input, callOptions());
    const second = await gateway.open(job.ctx, job.input, callOptions());
    expect(second).toEqual(first);
    expect(pushes()).toHaveLength(1);
    expect(remoteRef(repo.bare, job.branch)).toBe(first.headSha);
  });

  it('pushes the new head after a further code round', async () => {
    await gateway.open(job.ctx, job.input, callOptions());
    const next = await job.commitMore('CHANGELOG.md', '- sum adds\n');
    const result = await gateway.open(job.ctx, job.input, callOptions());
    expect(result.headSha).toBe(next);
    expect(remoteRef(repo.bare, job.branch)).toBe(next);
  });

  it('gives the token to git only through the environment of network commands', async () => {
    await gateway.open(job.ctx, job.input, callOptions());
    expect(repo.tokenCalls()).toBeGreaterThan(0);
    const [push] = pushes();
    expect(push.network).toBe(true);
    expect(push.envKeys).toContain(TOKEN_ENV);
    for (const c of repo.gitCommands) expect(c.argv.join(' ')).not.toContain(TOKEN);
    expect(repo.gitCommands.filter((c) => !c.network).every((c) => !c.envKeys.includes(TOKEN_ENV))).toBe(true);
  });

  it('refuses to push a head other than the reviewed commit (permanent PR_HEAD_MISMATCH)', async () => {
    const input = { ...job.input, code: { ...job.input.code, commitSha: 'f'.repeat(40) } };
    const err = await gateway.open(job.ctx, input, callOptions()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AgentError);
    expect(err).toMatchObject({ code: 'PR_HEAD_MISMATCH', retryable: false, stage: 'pr-open' });
    expect(remoteRef(repo.bare, job.branch)).toBeNull();
  });

  it('refuses a job without a recorded workspace (permanent PR_WORKSPACE_MISMATCH)', async () => {
    const err = await gateway.open({ ...job.ctx, workspace: null }, job.input, callOptions()).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'PR_WORKSPACE_MISMATCH', retryable: false, stage: 'pr-open' });
  });

  it('turns a failed push into an AgentError with the workspace code (transient GIT_FAILED)', async () => {
    const prepare: typeof job.prepare = async (ctx, input, signal) => {
      const ws = await job.prepare(ctx, input, signal);
      await fs.rename(repo.bare, `${repo.bare}.away`); // the remote is gone once the worktree is ready
      return ws;
    };
    const err = await new GitPullRequestGateway({ prepare, workspaces: repo.manager })
      .open(job.ctx, job.input, callOptions())
      .catch((e: unknown) => e)
      .finally(() => fs.rename(`${repo.bare}.away`, repo.bare));
    expect(err).toBeInstanceOf(AgentError);
    expect(err).toMatchObject({ code: 'GIT_FAILED', retryable: true, stage: 'pr-open' });
    expect((err as Error).message).not.toContain(TOKEN);
  });

  it('rejects with the abort reason when the signal fired', async () => {
    const ac = new AbortController();
    const reason = new Error('job cancelled');
    ac.abort(reason);
    await expect(gateway.open(job.ctx, job.input, callOptions(ac.signal))).rejects.toBe(reason);
    expect(remoteRef(repo.bare, job.branch)).toBeNull();
  });
});
