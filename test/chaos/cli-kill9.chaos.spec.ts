/**
 * Real hands, chaos: a worker process is `kill -9`ed while its agent CLI runs (a long run that
 * ignores SIGTERM, with a grandchild in its group and a descendant that left it with setsid). The
 * CLI's process tree survives its worker (its leader may then die of EPIPE writing to the dead
 * worker's pipe, as a real CLI would; its descendants do not). The attempt's heartbeat stops; the sweeper declares it
 * dead after HEARTBEAT_TIMEOUT_MS — while the dead worker's BullMQ lock still holds (60 s) — and
 * sends the stage again as a new attempt; before that attempt calls the CLI, the orphaned tree is
 * found by its recorded pgid and marker and killed. The job then completes once.
 */
import { Queue } from 'bullmq';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { redisOptionsFromUrl } from '../../src/queues/redis-connection';
import { STAGE_QUEUE, stageMessageId } from '../../src/queues/stage-queues';
import { findProcessesByMarker, isProcessAlive } from '../../src/tools/process-table';
import { createUuidFixture, FAKE_AGENT, type FixtureRepo } from '../../scripts/lib/fixture-repo';
import { buildMain, Cluster, killEverything, poll, ROOT } from './harness';

interface Attempt {
  id: string;
  stage: string;
  attempt: number;
  version: number;
  status: string;
  startedAt: string;
  processes: { pid: number; pgid: number; marker: string; startedAt: string }[];
  reaped?: { at: string; found: number; killed: number; remaining: number };
}

describe('kill -9 of a worker during a long CLI run', () => {
  let c: Cluster;
  let fixture: FixtureRepo;
  let scratch: string;
  let tree: number[] = [];

  beforeAll(() => {
    fixture = createUuidFixture();
    scratch = mkdtempSync(path.join(tmpdir(), 'aicd-chaos-cli-'));
    c = new Cluster('cli-kill9', buildMain(), {
      env: {
        AGENT: 'cli',
        AGENT_CLI: 'claude',
        AGENT_CLI_BIN: FAKE_AGENT,
        PROMPTS_DIR: path.join(ROOT, 'prompts'),
        GIT_URL_TEMPLATE: fixture.urlTemplate,
        WORKSPACE_ROOT: path.join(scratch, 'workspaces'),
        REVIEW_COMMAND: 'true',
        PR_GATEWAY: 'git',
        KILL_GRACE_MS: '500',
        HEARTBEAT_MS: '300',
        HEARTBEAT_TIMEOUT_MS: '2000',
        // The dead worker's message stays locked long after the heartbeat says it is dead.
        WORKER_LOCK_DURATION_MS: '60000',
        WORKER_STALLED_INTERVAL_MS: '30000',
        SWEEP_INTERVAL_MS: '500',
      },
    });
  });

  afterAll(async () => {
    for (const pid of tree) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    await c?.cleanup();
    killEverything();
    fixture?.cleanup();
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  it('the orphaned process tree is found by its recorded pgid and marker and killed before the stage runs again as a new attempt', async () => {
    const pidFile = path.join(scratch, 'attempt1.pids');
    const script = {
      variants: [
        { when: 'this is the planning step', message: 'Fix it.\n\n- Change uuid.go' },
        { whenKey: ':coding:2', write: { path: 'FIXED.md', content: 'fixed by attempt 2\n' }, message: 'done' },
        { whenKey: ':coding:1', heartbeat: { everyMs: 200, forMs: 120_000 }, ignoreSigterm: true, grandchild: { ignoreSigterm: true }, escapee: { ignoreSigterm: true }, pidFile },
      ],
    };
    await c.startApi();
    const a = await c.startWorker();
    const res = await c.request('POST', '/jobs', {
      repositoryId: fixture.repositoryId,
      issue: { id: '11', title: 'A long coding run', body: `\`\`\`fake-agent\n${JSON.stringify(script)}\n\`\`\``, url: 'https://github.com/google/uuid/issues/11' },
    });
    expect(res.status).toBe(201);
    const id = res.body.id as string;
    const pids = await poll(async () => (existsSync(pidFile) ? (JSON.parse(readFileSync(pidFile, 'utf8')) as { pid: number; grandchild: number; escapee: number }) : undefined), 30_000, () => `no pid file:\n${a.log().slice(-2000)}`);
    tree = [pids.pid, pids.grandchild, pids.escapee];
    const attempts = async () => (await c.request('GET', `/jobs/${id}/attempts`)).body as Attempt[];
    const first = await poll(async () => (await attempts()).find((x) => x.stage === 'coding' && x.processes.length), 10_000, () => 'attempt 1 not recorded');
    expect(first.processes[0].pid).toBe(pids.pid);

    a.kill('SIGKILL');
    await a.waitExit();
    const killedAt = Date.now();
    // The worker is gone; its CLI's whole tree is not.
    expect(tree.map(isProcessAlive)).toEqual([true, true, true]);
    expect((await findProcessesByMarker(first.processes[0].marker)).sort()).toEqual([...tree].sort());

    const b = await c.startWorker();
    const second = await poll(async () => (await attempts()).find((x) => x.stage === 'coding' && x.attempt === 2), 30_000, async () => `no second coding attempt: ${JSON.stringify(await attempts())}\n${b.log().slice(-3000)}`);
    const rescuedAfterMs = Date.parse(second.startedAt) - killedAt;
    // The dead worker's BullMQ message is still active: its 60 s lock holds. (It is the coding
    // message, or — when coding was continued in process after planning — the planning one.)
    const connection = { ...redisOptionsFromUrl(c.redisUrl), maxRetriesPerRequest: 1 } as never;
    const queues = [new Queue(STAGE_QUEUE.planning, { connection, prefix: c.prefix }), new Queue(STAGE_QUEUE.coding, { connection, prefix: c.prefix })];
    try {
      const held = [await queues[0].getJob(stageMessageId(id, 'planning', 0)), await queues[1].getJob(stageMessageId(id, 'coding', first.version))].filter((m) => m !== undefined);
      expect(await Promise.all(held.map((m) => m!.getState()))).toContain('active');
    } finally {
      await Promise.all(queues.map((q) => q.close()));
    }

    const done = await c.waitForState(id, ['COMPLETED', 'FAILED'], 60_000);
    expect(done.state).toBe('COMPLETED');
    expect(done.history.filter((h) => h.event === 'CODE_SUCCEEDED')).toHaveLength(1);
    const all = await attempts();
    const dead = all.find((x) => x.id === first.id)!;
    expect(dead.status).toBe('dead');
    // The leader may die by itself meanwhile (its stdout pipe to the dead worker breaks: EPIPE on
    // its next heartbeat line); the grandchild and the escapee write nothing and only die when reaped.
    expect(dead.reaped).toEqual(expect.objectContaining({ remaining: 0 }));
    expect(dead.reaped!.found).toBeGreaterThanOrEqual(2);
    expect(dead.reaped!.killed).toBe(dead.reaped!.found);
    const rerun = all.find((x) => x.stage === 'coding' && x.attempt === 2)!;
    expect(rerun.status).toBe('succeeded');
    // Reaped before the stage ran again: the kill is recorded before the new attempt's CLI started.
    expect(Date.parse(dead.reaped!.at)).toBeLessThanOrEqual(Date.parse(rerun.processes[0].startedAt));
    expect(tree.filter(isProcessAlive)).toEqual([]);
    expect(await findProcessesByMarker(first.processes[0].marker)).toEqual([]);
    console.log(
      `chaos: kill -9 during a CLI run — the orphaned tree (leader ignoring SIGTERM, grandchild, setsid escapee) was alive after the worker died: 3/3; ` +
        `declared dead and run again ${rescuedAfterMs} ms after the kill while the BullMQ lock still held; reaped ${dead.reaped!.killed}/${dead.reaped!.found} before attempt 2, remaining ${dead.reaped!.remaining}; alive now: 0`,
    );
  }, 120_000);
});
