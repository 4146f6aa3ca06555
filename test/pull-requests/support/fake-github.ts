/**
 * A fake GitHub REST API behind an injected `fetch` (Octokit's own tests inject `request: { fetch }`;
 * nock < 14 does not intercept fetch). It records every request and keeps pull requests in
 * memory, answering with the shapes GitHub documents:
 *
 * - `POST /repos/{owner}/{repo}/pulls` → 201, a pull request object (`number`, `html_url`,
 *   `state`, `draft`, `title`, `body`, `head: { ref, sha, label }`, `base: { ref }`, …; "Create a
 *   pull request", docs.github.com/en/rest/pulls/pulls), or, when an open pull request from that
 *   head into that base exists, 422 `{ message: "Validation Failed", errors: [{ resource:
 *   "PullRequest", code: "custom", message: "A pull request already exists for <owner>:<branch>." }],
 *   documentation_url, status: "422" }` (vsoch/pull-request-action#86);
 * - `GET /repos/{owner}/{repo}/pulls?head=<owner>:<branch>&state=…&base=…` → 200, the list;
 * - `POST /app/installations/{id}/access_tokens` → 201 `{ token, expires_at, permissions,
 *   repository_selection }` ("Create an installation access token for an app").
 *
 * `inject` queues one-shot faults: a canned answer, a network failure before the request is
 * applied, or one after it was applied (the answer is lost: a crash between create and reply).
 */
export interface RecordedRequest {
  method: string;
  url: string;
  path: string;
  query: URLSearchParams;
  /** Lower-cased header names. */
  headers: Record<string, string>;
  body: unknown;
  /** Status answered; 0 for a network failure. */
  status: number;
}

export interface FakePull {
  number: number;
  title: string;
  body: string | null;
  state: 'open' | 'closed';
  draft: boolean;
  owner: string;
  repo: string;
  head: string;
  base: string;
  headSha: string;
}

export type Fault =
  | { kind: 'respond'; status: number; body?: unknown; headers?: Record<string, string> }
  | { kind: 'network-before' }
  | { kind: 'network-after' }
  | { kind: 'hide-pulls' };

interface PendingFault {
  method: string;
  pathPattern: RegExp;
  fault: Fault;
}

const JSON_HEADERS = { 'content-type': 'application/json; charset=utf-8' };

export class FakeGithub {
  readonly requests: RecordedRequest[] = [];
  readonly pulls: FakePull[] = [];
  readonly installationTokens: string[] = [];
  private nextNumber = 1347;
  private readonly faults: PendingFault[] = [];
  /** Head sha the fake reports for a branch (the tests set it to what was pushed). */
  headShas = new Map<string, string>();
  /** `expires_at` of minted installation tokens, ms from the fake's clock. */
  tokenLifetimeMs = 3_600_000;
  now: () => number = Date.now;

  constructor(readonly baseUrl = 'https://api.github.test') {}

  /** Queues a one-shot fault for the next request matching `method` and `pathPattern`. */
  inject(method: string, pathPattern: RegExp, fault: Fault): void {
    this.faults.push({ method, pathPattern, fault });
  }

  /** Seeds a pull request, as if made by another run or a person. */
  seedPull(p: Omit<FakePull, 'number'>): FakePull {
    const pull = { ...p, number: this.nextNumber++ };
    this.pulls.push(pull);
    return pull;
  }

  /** Requests with this method whose path matches. */
  calls(method: string, pathPattern: RegExp): RecordedRequest[] {
    return this.requests.filter((r) => r.method === method && pathPattern.test(r.path));
  }

  readonly fetch = async (input: string | URL | Request, init: RequestInit = {}): Promise<Response> => {
    const url = new URL(typeof input === 'string' ? input : input instanceof URL ? input.href : input.url);
    const method = (init.method ?? 'GET').toUpperCase();
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries((init.headers ?? {}) as Record<string, string>)) headers[k.toLowerCase()] = String(v);
    const body = typeof init.body === 'string' && init.body ? JSON.parse(init.body) : undefined;
    const rec: RecordedRequest = { method, url: url.href, path: url.pathname, query: url.searchParams, headers, body, status: 0 };
    this.requests.push(rec);
    const i = this.faults.findIndex((f) => f.method === method && f.pathPattern.test(url.pathname));
    const fault = i >= 0 ? this.faults.splice(i, 1)[0].fault : null;
    if (fault?.kind === 'network-before') throw new TypeError('fetch failed', { cause: new Error('connect ECONNRESET') });
    if (fault?.kind === 'respond') return this.answer(rec, fault.status, fault.body ?? { message: 'fault' }, fault.headers);
    const [status, data, extra] = this.route(method, url, body, fault?.kind === 'hide-pulls');
    if (fault?.kind === 'network-after') throw new TypeError('fetch failed', { cause: new Error('socket hang up') });
    return this.answer(rec, status, data, extra);
  };

  private answer(rec: RecordedRequest, status: number, data: unknown, extra: Record<string, string> = {}): Response {
    rec.status = status;
    return new Response(JSON.stringify(data), { status, headers: { ...JSON_HEADERS, ...extra } });
  }

  private route(method: string, url: URL, body: unknown, hidePulls: boolean): [number, unknown, Record<string, string>?] {
    const pulls = /^\/repos\/([^/]+)\/([^/]+)\/pulls$/.exec(url.pathname);
    if (pulls && method === 'POST') return this.createPull(pulls[1], pulls[2], body as Record<string, unknown>);
    if (pulls && method === 'GET') return [200, hidePulls ? [] : this.listPulls(pulls[1], pulls[2], url.searchParams)];
    const tokens = /^\/app\/installations\/(\d+)\/access_tokens$/.exec(url.pathname);
    if (tokens && method === 'POST') {
      const token = `ghs_fakeInstallation${String(this.installationTokens.length + 1).padStart(4, '0')}abcdefghijklmnop`;
      this.installationTokens.push(token);
      const expires = new Date(this.now() + this.tokenLifetimeMs).toISOString().replace(/\.\d{3}Z$/, 'Z');
      return [201, { token, expires_at: expires, permissions: { contents: 'write', pull_requests: 'write', metadata: 'read' }, repository_selection: 'selected' }];
    }
    return [404, { message: 'Not Found', documentation_url: 'https://docs.github.com/rest', status: '404' }];
  }

  private createPull(owner: string, repo: string, b: Record<string, unknown>): [number, unknown, Record<string, string>] {
    const head = String(b.head);
    const base = String(b.base);
    if (this.pulls.some((p) => p.owner === owner && p.repo === repo && p.head === head && p.base === base && p.state === 'open')) {
      const body = {
        message: 'Validation Failed',
        errors: [{ resource: 'PullRequest', code: 'custom', message: `A pull request already exists for ${owner}:${head}.` }],
        documentation_url: 'https://docs.github.com/rest/pulls/pulls#create-a-pull-request',
        status: '422',
      };
      return [422, body, {}];
    }
    const pull = this.seedPull({ title: String(b.title), body: (b.body as string) ?? null, state: 'open', draft: b.draft === true, owner, repo, head, base, headSha: this.headShas.get(head) ?? '0'.repeat(40) });
    return [201, this.toJson(pull), { location: `${this.baseUrl}/repos/${owner}/${repo}/pulls/${pull.number}` }];
  }

  private listPulls(owner: string, repo: string, q: URLSearchParams): unknown[] {
    const state = q.get('state') ?? 'open';
    const head = q.get('head');
    const base = q.get('base');
    return this.pulls
      .filter((p) => p.owner === owner && p.repo === repo)
      .filter((p) => state === 'all' || p.state === state)
      .filter((p) => !head || `${p.owner}:${p.head}` === head)
      .filter((p) => !base || p.base === base)
      .map((p) => this.toJson(p));
  }

  /** A pull request object with the fields of GitHub's example response that matter here. */
  toJson(p: FakePull): Record<string, unknown> {
    const api = `${this.baseUrl}/repos/${p.owner}/${p.repo}`;
    return {
      url: `${api}/pulls/${p.number}`,
      id: 1_000_000 + p.number,
      node_id: `PR_fake${p.number}`,
      html_url: `https://github.com/${p.owner}/${p.repo}/pull/${p.number}`,
      number: p.number,
      state: p.state,
      locked: false,
      title: p.title,
      user: { login: 'aicd-bot[bot]', id: 1, type: 'Bot' },
      body: p.body,
      draft: p.draft,
      merged_at: null,
      head: { label: `${p.owner}:${p.head}`, ref: p.head, sha: p.headSha, repo: { full_name: `${p.owner}/${p.repo}` } },
      base: { label: `${p.owner}:${p.base}`, ref: p.base, sha: 'b'.repeat(40), repo: { full_name: `${p.owner}/${p.repo}` } },
    };
  }
}
