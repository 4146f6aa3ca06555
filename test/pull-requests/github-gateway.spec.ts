/**
 * GithubPullRequestGateway: pushes on real git (a local bare remote) and talks to a fake GitHub
 * behind an injected fetch (support/fake-github.ts) answering with GitHub's documented shapes.
 */
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { AgentError } from '../../src/agents/agent.port';
import { GithubAppTokenProvider, GithubPullRequestGateway, StaticTokenProvider, jobMarker, type GatewayLogger, type GithubTokenProvider } from '../../src/pull-requests';
import { FakeGithub } from './support/fake-github';
import { BRANCH, JOB_ID, callOptions, makeJobRepo, remoteRef, type Job, type JobRepo } from './support/job-repo';

const TOKEN = 'ghp_R3alLookingT0kenValue0123456789abcdef';
const PULLS = /^\/repos\/acme\/widgets\/pulls$/;

describe('GithubPullRequestGateway', () => {
  let repo: JobRepo;
  /** What git's askpass would get: the manager asks this before every network command. */
  let gitToken: () => Promise<string | null> = async () => TOKEN;
  let fake: FakeGithub;
  let job: Job;
  let logs: string[];
  let errors: unknown[];
  const logger: GatewayLogger = {
    debug: (m, f) => void logs.push(`${m} ${JSON.stringify(f ?? {})}`),
    warn: (m, f) => void logs.push(`WARN ${m} ${JSON.stringify(f ?? {})}`),
  };

  beforeAll(async () => {
    repo = await makeJobRepo(() => gitToken());
  });
  afterAll(() => repo.cleanup());
  beforeEach(async () => {
    fake = new FakeGithub();
    logs = [];
    errors = [];
    gitToken = async () => TOKEN;
  });
  afterEach(() => {
    // The token appears in no URL, no git argv, no log line and no error message.
    const texts = [
      ...fake.requests.map((r) => r.url),
      ...fake.requests.map((r) => JSON.stringify(r.body ?? '')),
      ...repo.gitCommands.map((c) => c.argv.join(' ')),
      ...logs,
      ...errors.map((e) => `${(e as Error).message} ${JSON.stringify(e)}`),
    ];
    for (const t of texts) expect(t).not.toContain(TOKEN);
  });

  const gateway = (opts: { draft?: boolean; tokens?: GithubTokenProvider } = {}) =>
    new GithubPullRequestGateway({
      prepare: job.prepare,
      workspaces: repo.manager,
      tokens: opts.tokens ?? new StaticTokenProvider(TOKEN),
      baseUrl: fake.baseUrl,
      fetch: fake.fetch,
      userAgent: 'aicd-test',
      draft: opts.draft,
      logger,
    });
  const failure = async (p: Promise<unknown>): Promise<AgentError> => {
    const e = await p.then(
      () => new Error('expected a rejection'),
      (err: unknown) => err,
    );
    errors.push(e);
    expect(e).toBeInstanceOf(AgentError);
    return e as AgentError;
  };
  const pushes = () => repo.gitCommands.filter((c) => c.argv.includes('push') && c.argv.some((a) => a.includes(job.branch)));

  describe('opening', () => {
    beforeEach(async () => {
      job = await repo.newJob(randomUUID());
    });

    it('pushes the branch and creates the pull request with the documented request', async () => {
      const lines: string[] = [];
      const result = await gateway({ draft: true }).open(job.ctx, job.input, callOptions(undefined, lines));
      const head = job.input.code.commitSha!;

      expect(result).toEqual({ url: 'https://github.com/acme/widgets/pull/1347', number: 1347, branch: job.branch, headSha: head });
      expect(remoteRef(repo.bare, job.branch)).toBe(head);
      expect(fake.requests.map((r) => `${r.method} ${r.path} ${r.status}`)).toEqual(['GET /repos/acme/widgets/pulls 200', 'POST /repos/acme/widgets/pulls 201']);
      const [lookup, create] = fake.requests;
      expect(Object.fromEntries(lookup.query)).toEqual({ head: `acme:${job.branch}`, state: 'all', per_page: '100' });

      expect(create.body).toEqual({ title: 'Fix #7: sum() subtracts instead of adding', head: job.branch, base: 'main', body: expect.any(String), draft: true });
      const body = (create.body as { body: string }).body;
      expect(body).toContain('## Plan\n\nMake `sum` add its arguments.\n\n1. Change the operator in src/sum.ts\n2. Run the tests');
      expect(body).toContain('- `src/sum.ts` (modified, +1/−1)');
      expect(body).toContain('src/sum.ts | 2 +-');
      expect(body).toContain('✅ passed: `npm test` (exit code 0, 1.5 s)');
      expect(body).toContain('```\nPASS test/sum.spec.ts\nTests: 3 passed, 3 total\n```');
      expect(body).toContain(jobMarker(job.ctx.jobId));
      expect(body.split('\n').at(-1)).toBe('Closes #7');

      for (const r of fake.requests) {
        expect(r.headers.authorization).toBe(`Bearer ${TOKEN}`);
        expect(r.headers['user-agent']).toMatch(/^aicd-test /);
        expect(r.headers['x-github-api-version']).toBe('2022-11-28');
      }
      expect(lines.join('\n')).toContain('pull request #1347 created: https://github.com/acme/widgets/pull/1347');
    });

    it('a redelivered call returns the same pull request: no second push, no second create', async () => {
      const first = await gateway().open(job.ctx, job.input, callOptions());
      const second = await gateway().open(job.ctx, job.input, callOptions());
      expect(second).toEqual(first);
      expect(fake.calls('POST', PULLS)).toHaveLength(1);
      expect(fake.calls('POST', PULLS)[0].body).toMatchObject({ draft: false }); // PR_DRAFT off by default
      expect(fake.pulls).toHaveLength(1);
      expect(pushes()).toHaveLength(1);
    });

    it('422 "A pull request already exists" (a concurrent run won) returns the existing pull request', async () => {
      job = await repo.newJob(JOB_ID);
      expect(job.branch).toBe(BRANCH);
      const theirs = fake.seedPull({ title: 'Fix #7', body: 'opened by a concurrent run', state: 'open', draft: false, owner: 'acme', repo: 'widgets', head: BRANCH, base: 'main', headSha: 'c'.repeat(40) });
      fake.inject('GET', PULLS, { kind: 'hide-pulls' }); // it appears right after our lookup
      fake.inject('POST', PULLS, {
        kind: 'respond',
        status: 422,
        body: {
          message: 'Validation Failed',
          errors: [{ resource: 'PullRequest', code: 'custom', message: 'A pull request already exists for acme:aicd/7-1234abcd.' }],
          documentation_url: 'https://docs.github.com/rest/pulls/pulls#create-a-pull-request',
          status: '422',
        },
      });
      const result = await gateway().open(job.ctx, job.input, callOptions());

      expect(result).toEqual({ url: `https://github.com/acme/widgets/pull/${theirs.number}`, number: theirs.number, branch: BRANCH, headSha: job.input.code.commitSha });
      expect(fake.requests.map((r) => `${r.method} ${r.status}`)).toEqual(['GET 200', 'POST 422', 'GET 200']);
      expect(Object.fromEntries(fake.requests[2].query)).toEqual({ head: 'acme:aicd/7-1234abcd', base: 'main', state: 'open', per_page: '100' });
      expect(fake.pulls).toHaveLength(1);
    });

    it('a retry after a crash between push and create creates the pull request once', async () => {
      fake.inject('POST', PULLS, { kind: 'network-before' });
      const err = await failure(gateway().open(job.ctx, job.input, callOptions()));
      expect(err).toMatchObject({ code: 'GITHUB_UNAVAILABLE', retryable: true, stage: 'pr-open' });
      expect(remoteRef(repo.bare, job.branch)).toBe(job.input.code.commitSha);
      expect(fake.pulls).toHaveLength(0);

      const result = await gateway().open(job.ctx, job.input, callOptions());
      expect(fake.pulls).toHaveLength(1);
      expect(result.number).toBe(fake.pulls[0].number);
      expect(fake.calls('POST', PULLS).map((r) => r.status)).toEqual([0, 201]);
      expect(pushes()).toHaveLength(1);
    });

    it('a retry after the create reply was lost finds the pull request instead of creating another', async () => {
      fake.inject('POST', PULLS, { kind: 'network-after' });
      await failure(gateway().open(job.ctx, job.input, callOptions()));
      expect(fake.pulls).toHaveLength(1);

      const result = await gateway().open(job.ctx, job.input, callOptions());
      expect(result.number).toBe(fake.pulls[0].number);
      expect(fake.calls('POST', PULLS)).toHaveLength(1);
    });

    it("returns the job's closed pull request (found by its marker): nothing pushed, nothing created", async () => {
      const closed = fake.seedPull({ title: 'Fix #7', body: `x\n\n${jobMarker(job.ctx.jobId)}\n\nCloses #7`, state: 'closed', draft: false, owner: 'acme', repo: 'widgets', head: job.branch, base: 'main', headSha: 'c'.repeat(40) });
      const result = await gateway().open(job.ctx, job.input, callOptions());
      expect(result).toEqual({ url: `https://github.com/acme/widgets/pull/${closed.number}`, number: closed.number, branch: job.branch, headSha: 'c'.repeat(40) });
      expect(fake.calls('POST', PULLS)).toHaveLength(0);
      expect(pushes()).toHaveLength(0); // its branch may be deleted after a merge: not pushed again
      expect(remoteRef(repo.bare, job.branch)).toBeNull();
      expect(logs.some((l) => l.startsWith(`WARN the job's pull request #${closed.number} is closed`))).toBe(true);
    });

    it('refuses an issue id that is not a number before pushing anything (permanent PR_INVALID_INPUT)', async () => {
      const err = await failure(gateway().open({ ...job.ctx, issue: { ...job.ctx.issue, id: 'JIRA-7' } }, job.input, callOptions()));
      expect(err).toMatchObject({ code: 'PR_INVALID_INPUT', retryable: false });
      expect(remoteRef(repo.bare, job.branch)).toBeNull();
      expect(fake.requests).toHaveLength(0);
    });

    it('with a GitHub App, one installation token serves both git and Octokit', async () => {
      const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048, privateKeyEncoding: { type: 'pkcs8', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } });
      const app = new GithubAppTokenProvider({ appId: '12345', privateKey, installationId: '42', baseUrl: fake.baseUrl, fetch: fake.fetch });
      let gitAsked = 0;
      gitToken = () => {
        gitAsked++;
        return app.token();
      };
      await gateway({ tokens: app }).open(job.ctx, job.input, callOptions());

      expect(gitAsked).toBeGreaterThan(0); // ls-remote and push asked the provider
      expect(fake.installationTokens).toHaveLength(1); // …and it minted one token for everybody
      const [installation] = fake.installationTokens;
      expect(await gitToken()).toBe(installation);
      const [mint, ...rest] = fake.requests;
      expect(`${mint.method} ${mint.path}`).toBe('POST /app/installations/42/access_tokens');
      expect(mint.headers.authorization).toMatch(/^Bearer eyJ[\w-]+\.[\w-]+\.[\w-]+$/);
      for (const r of rest) expect(r.headers.authorization).toBe(`Bearer ${installation}`);
      expect(rest.map((r) => r.method)).toEqual(['GET', 'POST']);
    });
  });

  // Failures happen after the push; one job (pushed once) serves them all.
  describe('failures', () => {
    let shared: Job;
    beforeAll(async () => {
      shared = await repo.newJob(randomUUID());
    });
    beforeEach(() => {
      job = shared;
    });

    it('another 422 is permanent and keeps GitHub message', async () => {
      const message = `No commits between main and ${job.branch}`;
      fake.inject('POST', PULLS, { kind: 'respond', status: 422, body: { message: 'Validation Failed', errors: [{ resource: 'PullRequest', code: 'custom', message }], documentation_url: 'https://docs.github.com/rest/pulls/pulls#create-a-pull-request', status: '422' } });
      const err = await failure(gateway().open(job.ctx, job.input, callOptions()));
      expect(err).toMatchObject({ code: 'GITHUB_VALIDATION_FAILED', retryable: false, stage: 'pr-open' });
      expect(err.message).toContain(`Validation Failed: ${message}`);
      expect(fake.pulls).toHaveLength(0);
    });

    it('401 is a permanent GITHUB_AUTH_FAILED', async () => {
      fake.inject('GET', PULLS, { kind: 'respond', status: 401, body: { message: 'Bad credentials', documentation_url: 'https://docs.github.com/rest', status: '401' } });
      const err = await failure(gateway().open(job.ctx, job.input, callOptions()));
      expect(err).toMatchObject({ code: 'GITHUB_AUTH_FAILED', retryable: false, stage: 'pr-open' });
      expect(err.message).toContain('Bad credentials');
      expect(fake.calls('POST', PULLS)).toHaveLength(0);
    });

    it('403 without rate-limit headers is a permanent GITHUB_AUTH_FAILED', async () => {
      fake.inject('POST', PULLS, { kind: 'respond', status: 403, body: { message: 'Resource not accessible by integration', status: '403' }, headers: { 'x-ratelimit-remaining': '4999' } });
      const err = await failure(gateway().open(job.ctx, job.input, callOptions()));
      expect(err).toMatchObject({ code: 'GITHUB_AUTH_FAILED', retryable: false });
    });

    it('rate limits are transient with retryAfterMs from the headers', async () => {
      const resetS = Math.floor(Date.now() / 1000) + 120;
      fake.inject('GET', PULLS, { kind: 'respond', status: 403, body: { message: 'API rate limit exceeded for installation ID 42.' }, headers: { 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': String(resetS) } });
      const primary = await failure(gateway().open(job.ctx, job.input, callOptions()));
      expect(primary).toMatchObject({ code: 'GITHUB_RATE_LIMITED', retryable: true, stage: 'pr-open' });
      expect(primary.retryAfterMs).toBeGreaterThan(110_000);
      expect(primary.retryAfterMs).toBeLessThanOrEqual(120_000);

      fake.inject('POST', PULLS, { kind: 'respond', status: 429, body: { message: 'You have exceeded a secondary rate limit.' }, headers: { 'retry-after': '30' } });
      const secondary = await failure(gateway().open(job.ctx, job.input, callOptions()));
      expect(secondary).toMatchObject({ code: 'GITHUB_RATE_LIMITED', retryable: true, retryAfterMs: 30_000 });

      fake.inject('POST', PULLS, { kind: 'respond', status: 403, body: { message: 'You have exceeded a secondary rate limit. Please wait a few minutes before you try again.' } });
      const bare = await failure(gateway().open(job.ctx, job.input, callOptions()));
      expect(bare).toMatchObject({ code: 'GITHUB_RATE_LIMITED', retryable: true, retryAfterMs: 60_000 });
      expect(fake.pulls).toHaveLength(0);
    });

    it('5xx and network failures are a transient GITHUB_UNAVAILABLE', async () => {
      fake.inject('POST', PULLS, { kind: 'respond', status: 502, body: { message: 'Server Error' } });
      expect(await failure(gateway().open(job.ctx, job.input, callOptions()))).toMatchObject({ code: 'GITHUB_UNAVAILABLE', retryable: true, stage: 'pr-open' });
      fake.inject('GET', PULLS, { kind: 'network-before' });
      expect(await failure(gateway().open(job.ctx, job.input, callOptions()))).toMatchObject({ code: 'GITHUB_UNAVAILABLE', retryable: true });
      const result = await gateway().open(job.ctx, job.input, callOptions());
      expect(result.number).toBe(fake.pulls[0].number);
      expect(fake.pulls).toHaveLength(1);
    });
  });
});
