import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MongoClient } from 'mongodb';
import { eventually, startTestApp, type TestApp } from '../support/test-app';
import { getRun, postTemplate, runEvents, settledAttempts, sh, startRun, TENANT, waitForRun } from './support';

/** A process is alive (signal 0). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Pipelines end to end: cancellation, the regression loop, artifacts and lineage, retry from a
 * step, quarantine, the router — real step worker, Redis, MongoDB-wire, subprocesses.
 */
describe('pipeline features over HTTP (real step worker, Redis, MongoDB-wire, subprocesses)', () => {
  let t: TestApp;
  const pids: number[] = [];
  const workRoot = mkdtempSync(join(tmpdir(), 'aicd-pipefeat-'));

  beforeAll(async () => {
    t = await startTestApp('pipefeat', {
      PIPELINE_WORK_ROOT: workRoot,
      PIPELINE_STEP_CONCURRENCY: '8',
      KILL_GRACE_MS: '500',
      PIPELINE_ROUTER: JSON.stringify({
        fixed: { strategy: 'fixed', tools: ['shell', 'function'] },
        rr: { strategy: 'round_robin', tools: ['shell', 'function'] },
        fast: { strategy: 'auto', tools: ['shell', 'function'] },
      }),
    });
  });
  afterAll(async () => {
    for (const pid of pids) {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    await t?.close();
    rmSync(workRoot, { recursive: true, force: true });
  });

  it('cancel kills a running shell step\'s whole process tree and the run ends canceled', async () => {
    await postTemplate(t, { name: 'tree', steps: [sh('tree', '(sleep 60 & echo $! > child.pid; wait) & echo $! > sub.pid; sleep 60')] });
    const id = await startRun(t, 'tree');
    const work = await eventually(
      async () => {
        const a = (await t.http.get(`/runs/${id}/attempts`).set(TENANT).expect(200)).body as { pid: number | null }[];
        return a[0]?.pid ? a[0] : undefined;
      },
      10_000,
      () => 'no process recorded',
    );
    const leader = work.pid!;
    pids.push(leader);
    // Wait for the grandchildren to have written their pids.
    const tree = await eventually(
      async () => {
        const procs = readFileSync(`/proc/${leader}/task/${leader}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
        return procs.length >= 2 ? procs : undefined;
      },
      10_000,
      () => 'the tree did not start',
    );
    const res = await t.http.post(`/runs/${id}/cancel`).set(TENANT).expect(200);
    expect(res.body.status).toBe('canceled');
    await eventually(async () => (!alive(leader) && tree.every((p) => !alive(p)) ? true : undefined), 10_000, () => 'the process tree survived the cancel');
    const attempts = await eventually(
      async () => {
        const a = (await t.http.get(`/runs/${id}/attempts`).set(TENANT).expect(200)).body as { status: string; error: { code: string } | null }[];
        return a[0]?.status === 'aborted' ? a : undefined;
      },
      10_000,
      () => 'the attempt was not recorded as aborted',
    );
    expect(attempts[0].error?.code).toBe('ABORTED');
    const run = await getRun(t, id);
    expect(run.steps.tree.status).toBe('canceled');
    const again = await t.http.post(`/runs/${id}/cancel`).set(TENANT).expect(409);
    expect(again.body).toEqual(expect.objectContaining({ code: 'ILLEGAL_EVENT', state: 'canceled', acceptedEvents: [] }));
  });

  it('regression: a failing test spawns dev with the failing output, runs again with its artifacts, and converges', async () => {
    // dev writes fix.txt (a number); test passes once dev has run twice. dev sees the regression context.
    const id = await startRun(t, 'dev-test-regression', {
      dev: 'n=$(cat ../rounds 2>/dev/null || echo 0); n=$((n+1)); echo $n > ../rounds; echo "dev round $n: ${AICD_REGRESSION_REASON:-first}"',
      test: 'n=$(cat ../rounds); echo "rounds=$n"; [ "$n" -ge 3 ]',
    });
    const run = await waitForRun(t, id, ['succeeded', 'failed'], 60_000);
    expect(run.status).toBe('succeeded');
    expect(run.spawned.map((s) => [s.id, s.parentStepId, s.status, s.depth])).toEqual([
      ['dev~1', 'test', 'succeeded', 1],
      ['dev~2', 'test', 'succeeded', 2],
    ]);
    expect(run.spawned[0].regressionContext.reason).toMatch(/^test failed \(EXIT_1\)/);
    expect(run.spawned[0].regressionContext.failingOutput).toContain('rounds=1');
    expect(run.steps.test).toEqual(expect.objectContaining({ status: 'succeeded', visit: 3 }));
    expect(run.steps.report.status).toBe('succeeded');
    const attempts = (await t.http.get(`/runs/${id}/attempts`).set(TENANT).expect(200)).body as { step: string; stdoutTail: string }[];
    expect(attempts.find((a) => a.step === 'dev~1')!.stdoutTail).toContain('dev round 2: test failed (EXIT_1)');
    // The run's inputs are immutable: what it was given.
    expect((await getRun(t, id)) as unknown as { inputs: Record<string, string> }).toEqual(expect.objectContaining({ inputs: expect.objectContaining({ test: expect.stringContaining('rounds=$n') }) }));
    const events = await runEvents(t, id);
    expect(events.filter((e) => e.step === 'test' && e.to === 'awaitingSpawn')).toHaveLength(2);
  });

  it('agent steps: plan → code → review through the Agent port; a rejected review spawns code with its comments and passes the next round', async () => {
    await postTemplate(t, {
      name: 'plan-code-review',
      steps: [
        { id: 'plan', tool: 'agent', with: { call: 'plan' }, outputs: { plan: { json: true } } },
        { id: 'code', tool: 'agent', needs: ['plan'], inputs: ['plan'], with: { call: 'code' }, outputs: { code: { json: true } } },
        { id: 'review', tool: 'agent', needs: ['code'], inputs: ['plan', 'code'], with: { call: 'review', spawnOnFailure: 'code' }, outputs: { review: { json: true } } },
      ],
    });
    const issue = { id: '9', title: 'Fix the widget', body: 'mock: reject=1', url: 'https://github.com/acme/widgets/issues/9' };
    const id = await startRun(t, 'plan-code-review', { repositoryId: 'acme/widgets', issue });
    const run = await waitForRun(t, id, ['succeeded', 'failed'], 30_000);
    expect(run.status).toBe('succeeded');
    expect(run.spawned.map((s) => [s.id, s.parentStepId, s.status])).toEqual([['code~1', 'review', 'succeeded']]);
    expect(run.spawned[0].regressionContext.reason).toMatch(/^review failed \(REVIEW_REJECTED\): review rejected: Round 1:/);
    expect(run.steps.review.visit).toBe(2);
    // The agent saw the run as its job: plan, code, review (rejected), code with the feedback, review (approved).
    const calls = t.calls.filter((c) => c.jobId === id).map((c) => c.stage);
    expect(calls).toEqual(['planning', 'coding', 'reviewing', 'coding', 'reviewing']);
    const { artifacts } = (await t.http.get(`/runs/${id}/artifacts`).set(TENANT).expect(200)).body;
    const reviewArtifact = artifacts.find((a: { name: string; producer: { visit: number } }) => a.name === 'review' && a.producer.visit === 2);
    expect(reviewArtifact).toBeDefined();
  });

  it('regression: a test that never passes hits maxSpawnDepth and fails naming the limit', async () => {
    await postTemplate(t, { name: 'never-green', maxSpawnDepth: 2, steps: [sh('dev', 'true'), sh('test', 'exit 1', { needs: ['dev'], with: { run: 'exit 1', spawnOnFailure: 'dev' } })] });
    const run = await waitForRun(t, await startRun(t, 'never-green'), ['succeeded', 'failed'], 60_000);
    expect(run.status).toBe('failed');
    expect(run.spawned).toHaveLength(2);
    expect(run.steps.test.error).toEqual({ code: 'MAX_SPAWN_DEPTH', message: 'step test asked for spawn 3, over maxSpawnDepth (2)' });
  });

  it('artifacts: files and JSON stored with SHA-256 and size, consumed downstream with a record per read, lineage both ways', async () => {
    await postTemplate(t, {
      name: 'artifacts',
      steps: [
        sh('make', 'mkdir -p out && printf hello > out/a.txt && printf world > out/b.txt && echo \'{"ok":true}\' > "$AICD_RESULT_FILE"', { outputs: { parts: { files: 'out/*.txt' }, verdict: { json: true } } }),
        sh('use', 'cat "$AICD_INPUT_PATH_PARTS/out/a.txt" "$AICD_INPUT_PATH_PARTS/out/b.txt"; echo " $AICD_INPUT_JSON_VERDICT"', { needs: ['make'], inputs: ['parts', 'verdict'] }),
      ],
    });
    const id = await startRun(t, 'artifacts');
    expect((await waitForRun(t, id, ['succeeded', 'failed'])).status).toBe('succeeded');
    const { artifacts, consumption } = (await t.http.get(`/runs/${id}/artifacts`).set(TENANT).expect(200)).body;
    const parts = artifacts.find((a: { name: string }) => a.name === 'parts');
    const verdict = artifacts.find((a: { name: string }) => a.name === 'verdict');
    expect(parts).toEqual(expect.objectContaining({ kind: 'files', bytes: 10, sha256: expect.stringMatching(/^[0-9a-f]{64}$/) }));
    expect(parts.files.map((f: { path: string; bytes: number; sha256: string }) => [f.path, f.bytes, f.sha256])).toEqual([
      ['out/a.txt', 5, '2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824'],
      ['out/b.txt', 5, '486ea46224d1bb4fb680f34f7c9ad96a8f24ec88be73ea8e5a6c65260e9cb8a7'],
    ]);
    expect(verdict).toEqual(expect.objectContaining({ kind: 'json', bytes: 11 }));
    expect(consumption.map((c: { artifactId: string; step: string; sha256: string }) => [c.artifactId, c.step, c.sha256])).toEqual(
      expect.arrayContaining([
        [parts.id, 'use', parts.sha256],
        [verdict.id, 'use', verdict.sha256],
      ]),
    );
    const attempts = await settledAttempts<{ step: string; stdoutTail: string; produced: string[] }>(t, id);
    expect(attempts.find((a) => a.step === 'use')!.stdoutTail).toContain('helloworld {"ok":true}');
    expect(attempts.find((a) => a.step === 'make')!.produced.sort()).toEqual([parts.id, verdict.id].sort());
    const lineage = (await t.http.get(`/artifacts/${encodeURIComponent(parts.id)}/lineage`).set(TENANT).expect(200)).body;
    expect(lineage.producer).toEqual(expect.objectContaining({ runId: id, step: 'make', visit: 1, attempt: 1 }));
    expect(lineage.consumers.map((c: { step: string }) => c.step)).toEqual(['use']);
    await t.http.get(`/artifacts/${encodeURIComponent(parts.id)}/lineage`).set({ 'x-tenant-id': 'other' }).expect(404);
  });

  it('retry from a step reuses the upstream artifacts: only the retried step and its dependants run again', async () => {
    await postTemplate(t, {
      name: 'retry-from',
      steps: [
        sh('produce', 'date +%s%N > value.txt', { outputs: { value: { files: 'value.txt' } } }),
        sh('consume', 'cat "$AICD_INPUT_PATH_VALUE"; test -f ../allow', { needs: ['produce'], inputs: ['value'] }),
        sh('after', 'true', { needs: ['consume'] }),
      ],
    });
    const id = await startRun(t, 'retry-from');
    const failed = await waitForRun(t, id, ['failed', 'succeeded']);
    expect(failed.status).toBe('failed');
    expect(failed.steps.after.status).toBe('skipped');
    const produced = failed.steps.produce.artifacts!.value;
    // Fix the cause, then retry from the failed step.
    writeFileSync(join(workRoot, id, 'allow'), '');
    await t.http.post(`/runs/${id}/steps/nope/retry`).set(TENANT).expect(404);
    const res = await t.http.post(`/runs/${id}/steps/consume/retry`).set(TENANT).expect(200);
    expect(res.body.status).toBe('running');
    const done = await waitForRun(t, id, ['succeeded', 'failed']);
    expect(done.status).toBe('succeeded');
    expect(done.steps.produce).toEqual(expect.objectContaining({ visit: 1, artifacts: { value: produced } }));
    expect(done.steps.consume.visit).toBe(2);
    const attempts = (await t.http.get(`/runs/${id}/attempts`).set(TENANT).expect(200)).body as { step: string }[];
    expect(attempts.filter((a) => a.step === 'produce')).toHaveLength(1);
    const { consumption } = (await t.http.get(`/runs/${id}/artifacts`).set(TENANT).expect(200)).body;
    expect(consumption.filter((c: { artifactId: string }) => c.artifactId === produced)).toHaveLength(2);
    await t.http.post(`/runs/${id}/steps/consume/retry`).set(TENANT).expect(409);
  });

  it('a hash mismatch on read fails the step with ARTIFACT_HASH_MISMATCH naming the artifact', async () => {
    await postTemplate(t, {
      name: 'corrupt',
      steps: [
        sh('make', 'printf original > f.txt', { outputs: { f: { files: 'f.txt' } } }),
        // Holds `read` back until the test has tampered with the stored content.
        sh('gate', 'for i in $(seq 1 200); do [ -f ../go ] && exit 0; sleep 0.1; done; exit 1', { needs: ['make'] }),
        sh('read', 'cat "$AICD_INPUT_PATH_F"', { needs: ['gate'], inputs: ['f'] }),
      ],
    });
    const id = await startRun(t, 'corrupt');
    const made = await eventually(async () => {
      const r = await getRun(t, id);
      return r.steps.make.status === 'succeeded' ? r : undefined;
    }, 20_000, () => 'make did not succeed');
    const artifactId = made.steps.make.artifacts!.f;
    const mongo = await MongoClient.connect(process.env.MONGODB_URI!);
    try {
      const db = mongo.db(t.dbName);
      const art = (await db.collection('artifacts').findOne({ _id: artifactId as never })) as unknown as { files: { contentId: string }[] };
      const r = await db.collection('artifact_content.chunks').updateOne({ files_id: art.files[0].contentId as never }, { $set: { data: Buffer.from('tampered') } });
      expect(r.modifiedCount).toBe(1);
    } finally {
      await mongo.close();
    }
    writeFileSync(join(workRoot, id, 'go'), '');
    const run = await waitForRun(t, id, ['succeeded', 'failed']);
    expect(run.status).toBe('failed');
    expect(run.steps.read.error?.code).toBe('ARTIFACT_HASH_MISMATCH');
    expect(run.steps.read.error?.message).toContain(`artifact ${artifactId} file f.txt: content hash`);
  });
});
