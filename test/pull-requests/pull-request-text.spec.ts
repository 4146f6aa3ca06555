/**
 * Pure parts of the gateways: compare references, the title and body, error classification.
 */
import type { PullRequestInput } from '../../src/agents/agent.port';
import {
  classifyGithubError,
  compareReference,
  hasJobMarker,
  isPullRequestAlreadyExists,
  jobMarker,
  MAX_BODY_CHARS,
  parseIssueNumber,
  parseRepositoryId,
  pullRequestBody,
  pullRequestTitle,
  rateLimitWaitMs,
  scrubSecrets,
} from '../../src/pull-requests';

const BRANCH = 'aicd/7-1234abcd';
const JOB = '1234abcd-5678-4def-9abc-0123456789ab';

describe('compareReference', () => {
  it('gives the GitHub compare page for github.com remotes (https, .git or not, scp-like, ssh://)', () => {
    const page = `https://github.com/acme/widgets/compare/main...aicd/7-1234abcd`;
    expect(compareReference('https://github.com/acme/widgets.git', 'main', BRANCH)).toBe(page);
    expect(compareReference('https://github.com/acme/widgets', 'main', BRANCH)).toBe(page);
    expect(compareReference('git@github.com:acme/widgets.git', 'main', BRANCH)).toBe(page);
    expect(compareReference('ssh://git@github.com/acme/widgets.git', 'main', BRANCH)).toBe(page);
    expect(compareReference('https://github.com/acme/widgets.git', 'release/2.x', 'aicd/7-a#b')).toBe('https://github.com/acme/widgets/compare/release/2.x...aicd/7-a%23b');
  });

  it('gives <remote>#<base>...<branch> for other remotes, and knows configured GitHub hosts', () => {
    expect(compareReference('file:///srv/git/widgets.git', 'main', BRANCH)).toBe('file:///srv/git/widgets.git#main...aicd/7-1234abcd');
    expect(compareReference('/srv/git/widgets.git', 'main', BRANCH)).toBe('/srv/git/widgets.git#main...aicd/7-1234abcd');
    expect(compareReference('https://git.example.com/acme/widgets.git', 'main', BRANCH)).toBe('https://git.example.com/acme/widgets.git#main...aicd/7-1234abcd');
    expect(compareReference('https://ghe.example.com/acme/widgets.git', 'main', BRANCH, ['ghe.example.com'])).toBe('https://ghe.example.com/acme/widgets/compare/main...aicd/7-1234abcd');
    expect(compareReference('https://github.com/acme/widgets/extra.git', 'main', BRANCH)).toBe('https://github.com/acme/widgets/extra.git#main...aicd/7-1234abcd');
  });

  it('refuses a remote URL with credentials, without repeating them', () => {
    let err: unknown;
    try {
      compareReference('https://x-access-token:ghp_abcdefghijklmnop@github.com/acme/widgets.git', 'main', BRANCH);
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ code: 'REMOTE_URL_HAS_CREDENTIALS' });
    expect((err as Error).message).not.toContain('ghp_abcdefghijklmnop');
  });
});

const input = (over: Partial<PullRequestInput> = {}): PullRequestInput => ({
  plan: { summary: 'Fix the sum.', steps: ['edit', 'test'] },
  code: { changes: [{ path: 'src/sum.ts', commitMessage: 'm', status: 'modified', additions: 1, deletions: 1 }], commitSha: 'a'.repeat(40), diffStat: ' src/sum.ts | 2 +-\n 1 file changed' },
  review: { approved: true, comments: [], checks: { command: 'npm test', exitCode: 1, passed: false, durationMs: 61_250, outputTail: 'FAIL\n```\nnested fence\n```' } },
  ...over,
});

describe('pull request title and body', () => {
  it('titles "Fix #<n>: <issue title>", whitespace folded, cut at 256 characters without splitting a character', () => {
    expect(pullRequestTitle(7, '  sum()\n subtracts ')).toBe('Fix #7: sum() subtracts');
    const long = pullRequestTitle(7, '😀'.repeat(400));
    expect(Array.from(long)).toHaveLength(256);
    expect(long.endsWith('😀…')).toBe(true);
  });

  it('reports failed checks with exit code and duration, fencing output that contains fences', () => {
    const body = pullRequestBody(JOB, 7, input());
    expect(body).toContain('❌ failed: `npm test` (exit code 1, 61.3 s)');
    expect(body).toContain('````\nFAIL\n```\nnested fence\n```\n````');
    expect(body).toContain('Head commit: ' + 'a'.repeat(40));
    expect(hasJobMarker(body, JOB)).toBe(true);
    expect(hasJobMarker(body, 'another-job')).toBe(false);
    expect(body.endsWith(`${jobMarker(JOB)}\n\nCloses #7`)).toBe(true);
  });

  it('says when no checks ran and lists review comments', () => {
    const body = pullRequestBody(JOB, 7, input({ review: { approved: true, comments: ['looks\ngood'] } }));
    expect(body).toContain('## Checks\n\nNo checks ran for this change.');
    expect(body).toContain('## Review\n\n- looks good');
  });

  it('stays within 65 536 characters, keeping the marker and the closing line, and closes a cut fence', () => {
    const huge = 'x'.repeat(30_000);
    const body = pullRequestBody(
      JOB,
      7,
      input({
        plan: { summary: '```\n' + huge + huge, steps: Array.from({ length: 500 }, (_, i) => `step ${i} ${huge.slice(0, 400)}`) },
        code: { changes: Array.from({ length: 5000 }, (_, i) => ({ path: `f${i}.ts`, commitMessage: 'm' })), diffStat: huge, summary: huge },
        review: { approved: true, comments: Array.from({ length: 200 }, (_, i) => `comment ${i} ${huge.slice(0, 400)}`) },
      }),
    );
    expect(body.length).toBeGreaterThan(10_000); // the compact form still says a lot
    expect(Array.from(body).length).toBeLessThanOrEqual(MAX_BODY_CHARS);
    expect(body.startsWith('## Plan\n\n```\nxxx')).toBe(true);
    expect(body).toContain('_(shortened: the full description was longer than GitHub allows)_');
    expect(body).toContain('- … and 4990 more');
    expect(body.endsWith(`${jobMarker(JOB)}\n\nCloses #7`)).toBe(true);
    const planPart = body.slice(0, body.indexOf('## Changes'));
    expect(planPart.split('\n').filter((l) => l.startsWith('```')).length % 2).toBe(0);
  });

  it('parses issue numbers and repository ids, refusing others permanently', () => {
    expect(parseIssueNumber('7')).toBe(7);
    expect(parseIssueNumber('#12')).toBe(12);
    expect(() => parseIssueNumber('0')).toThrow(expect.objectContaining({ code: 'PR_INVALID_INPUT', retryable: false }));
    expect(parseRepositoryId('acme/widgets.git')).toEqual({ owner: 'acme', repo: 'widgets' });
    expect(() => parseRepositoryId('acme/../x')).toThrow(expect.objectContaining({ code: 'PR_INVALID_INPUT' }));
  });
});

describe('GitHub error classification', () => {
  const fail = (status: number, data: unknown, headers: Record<string, string> = {}) => ({ name: 'HttpError', status, message: 'x', response: { headers, data } });

  it('recognises only the "already exists" 422', () => {
    expect(isPullRequestAlreadyExists(fail(422, { message: 'Validation Failed', errors: [{ resource: 'PullRequest', code: 'custom', message: 'A pull request already exists for acme:aicd/7-1234abcd.' }] }))).toBe(true);
    expect(isPullRequestAlreadyExists(fail(422, { message: 'Validation Failed', errors: [{ resource: 'PullRequest', code: 'custom', message: 'No commits between main and x' }] }))).toBe(false);
    expect(isPullRequestAlreadyExists(fail(422, { message: 'Validation Failed', errors: [{ resource: 'PullRequest', field: 'head', code: 'invalid' }] }))).toBe(false);
  });

  it('computes the rate-limit wait from retry-after, x-ratelimit-reset, or one minute', () => {
    const now = 1_700_000_000_000;
    expect(rateLimitWaitMs(fail(429, {}, { 'retry-after': '7' }), now)).toBe(7000);
    expect(rateLimitWaitMs(fail(403, {}, { 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': String(now / 1000 + 90) }), now)).toBe(90_000);
    expect(rateLimitWaitMs(fail(403, {}, { 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': String(now / 1000 - 5) }), now)).toBe(1000);
    expect(rateLimitWaitMs(fail(403, { message: 'You have exceeded a secondary rate limit' }), now)).toBe(60_000);
    expect(rateLimitWaitMs(fail(403, { message: 'Resource not accessible by integration' }), now)).toBeNull();
    expect(rateLimitWaitMs(fail(500, {}), now)).toBeNull();
  });

  it('maps statuses to codes and permanence', () => {
    const c = (status: number) => classifyGithubError(fail(status, { message: 'm' }), 'testing');
    expect(c(404)).toMatchObject({ code: 'GITHUB_NOT_FOUND', retryable: false, stage: 'pr-open' });
    expect(c(400)).toMatchObject({ code: 'GITHUB_REQUEST_FAILED', retryable: false });
    expect(c(503)).toMatchObject({ code: 'GITHUB_UNAVAILABLE', retryable: true });
    expect(classifyGithubError({ name: 'HttpError', status: 500, message: 'socket hang up' }, 'testing')).toMatchObject({ code: 'GITHUB_UNAVAILABLE', retryable: true });
    expect(classifyGithubError(new Error('boom'), 'testing')).toMatchObject({ code: 'GITHUB_UNAVAILABLE', retryable: true });
  });

  it('scrubs token-shaped strings and URL userinfo from messages', () => {
    const text = scrubSecrets('bad ghp_abcdefghijklmnop0123 and ghs_1234567890abcdefXYZ and eyJhbGciOi.eyJpYXQiOjF9.c2ln at https://user:pw@github.com/x');
    expect(text).toBe('bad [redacted] and [redacted] and [redacted] at https://[redacted]@github.com/x');
  });
});
