import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { WorkspaceJanitor } from '../../src/agents/cli/workspace-janitor';
import { ArtifactStore } from '../../src/artifacts/artifact.store';
import { findProcessesByMarker, isProcessAlive } from '../../src/tools/process-table';
import { createUuidFixture, FAKE_AGENT, git, uuidFixScript, VERSION_LINES, type FixtureRepo } from '../../scripts/lib/fixture-repo';
import { eventually, startTestApp, waitForState, type TestApp } from '../support/test-app';

/**
 * AGENT=cli end to end on real parts: a real open-source project (google/uuid v1.6.0, its own
 * tests) broken in one function, in a git repository with a local bare remote; the scripted fake
 * CLI (speaking Claude Code's stream-json) as the agent; review runs `go test ./...`; real worker
 * processes' supervision, MongoDB-wire, Redis.
 */
describe('CLI agent on a real repository (fake Claude Code CLI, go test as the checks)', () => {
  let t: TestApp;
  let fixture: FixtureRepo;
  let scratch: string;
  const tenant = { 'x-tenant-id': 'acme' };

  beforeAll(async () => {
    fixture = createUuidFixture();
    scratch = mkdtempSync(path.join(tmpdir(), 'aicd-cli-e2e-'));
    t = await startTestApp('cli', {
      AGENT: 'cli',
      AGENT_CLI: 'claude',
      AGENT_CLI_BIN: FAKE_AGENT,
      GIT_URL_TEMPLATE: fixture.urlTemplate,
      WORKSPACE_ROOT: path.join(scratch, 'workspaces'),
      REVIEW_COMMAND: 'go test ./...',
      PR_GATEWAY: 'git',
      KILL_GRACE_MS: '1000',
      HEARTBEAT_MS: '300',
      STAGE_ATTEMPTS: '2',
    });
  });
  afterAll(async () => {
    await t?.close();
    fixture?.cleanup();
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  const submit = async (n: number, title: string, body: string) =>
    (await t.http.post('/jobs').set(tenant).send({ repositoryId: fixture.repositoryId, issue: { id: String(n), title, body, url: `https://github.com/google/uuid/issues/${n}` } }).expect(201)).body as { id: string; branch?: string };

  it('the broken uuid: a wrong fix is rejected by the project\'s own tests, the feedback fixes it, the branch is pushed; every step is recorded', async () => {
    const { id } = await submit(7, 'UUID.Version() returns the wrong version', `Version() of a v4 UUID is not 4.\n\n${uuidFixScript()}`);
    const done = await waitForState(t, id, ['COMPLETED', 'FAILED'], 150_000);
    const job = (await t.http.get(`/jobs/${id}`).set(tenant).expect(200)).body;
    expect({ state: done.state, error: done.error }).toEqual({ state: 'COMPLETED', error: null });
    expect(job.history.map((h: { to: string }) => h.to)).toEqual(['PLANNING', 'CODING', 'REVIEWING', 'CODING', 'REVIEWING', 'PR_OPEN', 'COMPLETED']);
    expect(job.history.map((h: { event: string }) => h.event)).toEqual(['START_PLANNING', 'PLAN_SUCCEEDED', 'CODE_SUCCEEDED', 'REVIEW_REJECTED', 'CODE_SUCCEEDED', 'REVIEW_APPROVED', 'PR_OPENED']);

    // The workspace: the job's branch from the remote's head, recorded on the job.
    const branch = `aicd/7-${id.slice(0, 8)}`;
    expect(job.context.workspace).toEqual({ branch, baseBranch: 'main', baseCommit: fixture.head });
    // The plan came from the CLI's final message.
    expect(job.context.planSummary).toMatch(/high nibble/);
    expect(job.context.plan).toEqual(['Make Version() shift byte 6 right by 4', 'Run the tests']);
    // Review: the last checks passed; the pushed branch holds the right fix, on top of the wrong one.
    expect(job.context.checks).toEqual(expect.objectContaining({ command: 'go test ./...', passed: true, exitCode: 0 }));
    const head = git(fixture.root, `--git-dir=${fixture.bare}`, 'rev-parse', `refs/heads/${branch}`);
    expect(head).toBe(job.context.commitSha);
    expect(git(fixture.root, `--git-dir=${fixture.bare}`, 'show', `${head}:uuid.go`)).toContain(VERSION_LINES.rightFix);
    expect(git(fixture.root, `--git-dir=${fixture.bare}`, 'show', `${head}~1:uuid.go`)).toContain(VERSION_LINES.wrongFix);
    expect(git(fixture.root, `--git-dir=${fixture.bare}`, 'rev-parse', `${head}~2`)).toBe(fixture.head);
    expect(job.context.prUrl).toBe(`file://${fixture.bare}#main...${branch}`);
    expect(job.context.changedFiles).toEqual(['uuid.go']);

    // The rejection: the review's comments carry the failing tests' output, and the second round's prompt had them.
    const stored = (await t.jobs.findById(id))!;
    const rejected = stored.history.find((h) => h.event === 'REVIEW_REJECTED')!;
    expect(rejected).toEqual(expect.objectContaining({ from: 'REVIEWING', to: 'CODING', guard: 'canReviseAgain' }));
    // Usage: three CLI calls (plan, two code rounds) reporting 1,500 tokens and $0.01 each.
    expect(job.context.usage).toEqual({ inputTokens: 3600, outputTokens: 900, costUsd: 0.03 });

    // Logs: the checks' output, per stage and attempt.
    const review = (await t.http.get(`/jobs/${id}/logs?stage=reviewing&limit=5000`).set(tenant).expect(200)).body.lines as { text: string; attempt: number }[];
    expect(review.some((l) => /^--- FAIL: Test/.test(l.text))).toBe(true);
    expect(review.some((l) => /^ok\s+github\.com\/google\/uuid/.test(l.text))).toBe(true);
    const coding = (await t.http.get(`/jobs/${id}/logs?stage=coding`).set(tenant).expect(200)).body.lines as { text: string; stream: string }[];
    expect(coding.some((l) => l.stream === 'stdout' && l.text.includes('"type":"result"'))).toBe(true);

    // Attempts: the CLI processes are recorded with pid and host; all ended.
    const attempts = (await t.http.get(`/jobs/${id}/attempts`).set(tenant).expect(200)).body as { stage: string; status: string; processes: { tool: string; pid: number; host: string; exitCode: number }[] }[];
    expect(attempts.map((a) => `${a.stage}:${a.status}`)).toEqual(['planning:succeeded', 'coding:succeeded', 'reviewing:succeeded', 'coding:succeeded', 'reviewing:succeeded', 'pr-open:succeeded']);
    const cli = attempts.filter((a) => a.stage !== 'pr-open').flatMap((a) => a.processes);
    expect(cli.every((p) => p.pid > 0 && p.host.length > 0)).toBe(true);
    expect(cli.map((p) => `${p.tool}:${p.exitCode}`)).toEqual(['claude:0', 'claude:0', 'shell:1', 'claude:0', 'shell:0']); // the first go test failed

    // Artifacts: the plan, two diffs, two check logs — each readable with its SHA-256.
    const artifacts = (await t.http.get(`/jobs/${id}/artifacts`).set(tenant).expect(200)).body as { id: string; name: string; sha256: string }[];
    expect(artifacts.map((a) => a.name).sort()).toEqual(['checks.log', 'checks.log', 'diff.patch', 'diff.patch', 'plan.md']);
    const diff = artifacts.filter((a) => a.name === 'diff.patch').at(-1)!;
    const content = await t.http.get(`/jobs/${id}/artifacts/${encodeURIComponent(diff.id)}`).set(tenant).expect(200);
    expect(content.headers['x-content-sha256']).toBe(diff.sha256);
    expect(content.text).toContain(`-\t${VERSION_LINES.wrongFix}`);
    expect(content.text).toContain(`+\t${VERSION_LINES.rightFix}`);
    await t.http.get(`/jobs/${id}/artifacts/${encodeURIComponent(diff.id)}`).set({ 'x-tenant-id': 'other' }).expect(404);

    // The janitor removes the finished job's worktree.
    const wt = path.join(scratch, 'workspaces', 'worktrees', id);
    expect(existsSync(wt)).toBe(true);
    const swept = await t.app.get(WorkspaceJanitor).sweep();
    expect(swept.removed).toBeGreaterThanOrEqual(1);
    expect(existsSync(wt)).toBe(false);
  }, 180_000);

  it('an artifact whose stored content no longer matches its SHA-256 is refused on read', async () => {
    const store = t.app.get(ArtifactStore);
    const a = await store.put({ jobId: '00000000-0000-4000-8000-0000000000aa', tenantId: 'acme', stage: 'coding', attempt: 1, name: 'x.txt', contentType: 'text/plain', content: 'original' });
    expect((await store.get(a.id)).content.toString()).toBe('original');
    const { MongoClient } = await import('mongodb');
    const mongo = await MongoClient.connect(process.env.MONGODB_URI!);
    try {
      const chunks = mongo.db(t.dbName).collection('artifact_content.chunks');
      const { Binary } = await import('mongodb');
      await chunks.updateOne({ files_id: a.id as never }, { $set: { data: new Binary(Buffer.from('tampered')) } });
    } finally {
      await mongo.close();
    }
    await expect(store.get(a.id)).rejects.toThrow(/ARTIFACT_CORRUPT|does not match/);
  });

  it('cancelling a long CLI run kills its whole process tree (it ignores SIGTERM; a grandchild; a setsid escapee) and records the attempt as aborted', async () => {
    const pidFile = path.join(scratch, 'long.pids');
    const script = { heartbeat: { everyMs: 200, forMs: 120_000 }, ignoreSigterm: true, grandchild: { ignoreSigterm: true }, escapee: { ignoreSigterm: true }, pidFile };
    const { id } = await submit(8, 'A plan that takes forever', `\`\`\`fake-agent\n${JSON.stringify(script)}\n\`\`\``);
    const pids = await eventually(async () => (existsSync(pidFile) ? (JSON.parse(readFileSync(pidFile, 'utf8')) as { pid: number; grandchild: number; escapee: number }) : undefined), 30_000, () => 'no pid file');
    const running = await eventually(
      async () => {
        const a = ((await t.http.get(`/jobs/${id}/attempts`).set(tenant)).body as { status: string; processes: { pid: number; marker: string }[] }[]).find((x) => x.processes.length);
        return a ? a : undefined;
      },
      10_000,
      () => 'no attempt with a process',
    );
    const marker = (running.processes[0] as { marker: string }).marker;
    expect(running.processes[0].pid).toBe(pids.pid);
    expect((await findProcessesByMarker(marker)).sort()).toEqual([pids.pid, pids.grandchild, pids.escapee].sort());

    const cancelledAt = Date.now();
    await t.http.post(`/jobs/${id}/cancel`).set(tenant).expect(200);
    const attempt = await eventually(
      async () => {
        const a = ((await t.http.get(`/jobs/${id}/attempts`).set(tenant)).body as { status: string; processes: { endedAt: string | null; signal: string | null }[] }[])[0];
        return a?.status === 'aborted' ? a : undefined;
      },
      15_000,
      () => 'attempt not aborted',
    );
    const gone = Date.now() - cancelledAt;
    expect(attempt.processes[0].signal).toBe('SIGKILL'); // it ignored SIGTERM: KILL_GRACE_MS (1 s) later, SIGKILL
    const alive = [pids.pid, pids.grandchild, pids.escapee].filter(isProcessAlive);
    console.log(`cancel: process tree of ${3} (leader ignores SIGTERM, grandchild, setsid escapee) gone ${gone} ms after the cancel; alive afterwards: ${alive.length}; with the marker: ${(await findProcessesByMarker(marker)).length}`);
    expect(alive).toEqual([]);
    expect(await findProcessesByMarker(marker)).toEqual([]);
    expect((await t.jobs.findById(id))!.state).toBe('CANCELLED');
    const logs = (await t.http.get(`/jobs/${id}/logs`).set(tenant).expect(200)).body.lines as { text: string }[];
    expect(logs.some((l) => l.text.includes('SIGTERM ignored'))).toBe(true);
  }, 60_000);

  it('a CLI that exits 0 with is_error fails the stage with its error, not a success', async () => {
    const { id } = await submit(9, 'An API error', `fake-agent: {"outcome":"is_error","message":"Invalid API key"}`);
    const failed = await waitForState(t, id, ['FAILED'], 30_000);
    expect(failed.error).toEqual(expect.objectContaining({ stage: 'planning' }));
    expect(failed.error!.message).toMatch(/Invalid API key|error/i);
  }, 40_000);
});
