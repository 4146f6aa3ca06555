import * as fs from 'node:fs';
import * as path from 'node:path';
import { ClientSession, MongoClient, type CommandStartedEvent } from 'mongodb';
import { issueBody, startTestApp, waitForState, type TestApp } from '../support/test-app';
import { postTemplate, sh, startRun, TENANT, waitForRun } from '../pipelines/support';

/**
 * No code path opens a session or a transaction: FerretDB v2 + DocumentDB does not support
 * multi-document transactions and fails them unsafely (writes made inside a failed transaction
 * stay applied), and FerretDB v1 has none. Every MongoClient the app creates is watched (command
 * monitoring switched on through the URI), and the driver's explicit-session and transaction
 * entry points are wrapped, while a job runs its whole lifecycle, a job is cancelled mid-stage and
 * a pipeline run produces and consumes artifacts (GridFS).
 */
describe('no sessions, no transactions', () => {
  const explicitSessions: string[] = [];
  const transactions: string[] = [];
  const txnCommands: string[] = [];
  const commandNames = new Map<string, number>();
  const originals = {
    startSession: MongoClient.prototype.startSession,
    connect: MongoClient.prototype.connect,
    startTransaction: ClientSession.prototype.startTransaction,
    withTransaction: ClientSession.prototype.withTransaction,
  };
  let t: TestApp;

  const onCommand = (e: CommandStartedEvent): void => {
    commandNames.set(e.commandName, (commandNames.get(e.commandName) ?? 0) + 1);
    const c = e.command as Record<string, unknown>;
    if ('txnNumber' in c || 'startTransaction' in c || 'autocommit' in c || /Transaction$/.test(e.commandName)) txnCommands.push(`${e.commandName} ${JSON.stringify(c).slice(0, 200)}`);
  };

  beforeAll(async () => {
    const watched = new WeakSet<MongoClient>();
    MongoClient.prototype.connect = function (this: MongoClient) {
      if (!watched.has(this)) {
        watched.add(this);
        this.on('commandStarted', onCommand);
      }
      return originals.connect.call(this);
    };
    MongoClient.prototype.startSession = function (this: MongoClient, options?: Parameters<MongoClient['startSession']>[0]) {
      // The driver's own implicit session per operation passes explicit: false; anything else is the app's.
      if ((options as { explicit?: boolean } | undefined)?.explicit !== false) explicitSessions.push(new Error('startSession').stack ?? '');
      return originals.startSession.call(this, options);
    };
    ClientSession.prototype.startTransaction = function (this: ClientSession, ...args: Parameters<ClientSession['startTransaction']>) {
      transactions.push(new Error('startTransaction').stack ?? '');
      return originals.startTransaction.apply(this, args);
    };
    ClientSession.prototype.withTransaction = function (this: ClientSession, ...args: Parameters<ClientSession['withTransaction']>) {
      transactions.push(new Error('withTransaction').stack ?? '');
      return originals.withTransaction.apply(this, args);
    } as ClientSession['withTransaction'];
    const uri = process.env.MONGODB_URI!;
    t = await startTestApp('notxn', { MONGODB_URI: `${uri}${uri.includes('?') ? '&' : '?'}monitorCommands=true` });
  });
  afterAll(async () => {
    await t?.close();
    Object.assign(MongoClient.prototype, { startSession: originals.startSession, connect: originals.connect });
    Object.assign(ClientSession.prototype, { startTransaction: originals.startTransaction, withTransaction: originals.withTransaction });
  });

  it('a job lifecycle, a cancel and a pipeline run with artifacts send no transaction and open no session', async () => {
    const done = (await t.http.post('/jobs').set(TENANT).send(issueBody(1)).expect(201)).body.id as string;
    const cancelled = (await t.http.post('/jobs').set(TENANT).send(issueBody(2, 'mock: delay=coding:30000')).expect(201)).body.id as string;
    await waitForState(t, done, ['COMPLETED']);
    await waitForState(t, cancelled, ['CODING']);
    await t.http.post(`/jobs/${cancelled}/cancel`).set(TENANT).expect(200);
    await postTemplate(t, {
      name: 'notxn',
      steps: [
        sh('make', 'mkdir -p out && printf hello > out/a.txt && printf world > out/b.txt', { outputs: { parts: { files: 'out/*.txt' } } }),
        sh('use', 'cat "$AICD_INPUT_PATH_PARTS/out/a.txt" "$AICD_INPUT_PATH_PARTS/out/b.txt"', { needs: ['make'], inputs: ['parts'] }),
      ],
    });
    const run = await waitForRun(t, await startRun(t, 'notxn'), ['succeeded', 'failed']);
    expect({ status: run.status, steps: run.steps }).toEqual(expect.objectContaining({ status: 'succeeded' }));
    await waitForState(t, cancelled, ['CANCELLED']);

    // The watch saw the app's traffic (commits, GridFS, listing), so the empty lists mean something.
    expect(commandNames.get('update') ?? 0).toBeGreaterThan(0);
    expect(commandNames.get('insert') ?? 0).toBeGreaterThan(0);
    expect(commandNames.get('find') ?? 0).toBeGreaterThan(0);
    expect(explicitSessions).toEqual([]);
    expect(transactions).toEqual([]);
    expect(txnCommands).toEqual([]);
  });

  it('src/ never calls startSession, withSession, withTransaction or startTransaction', () => {
    const offenders: string[] = [];
    const walk = (dir: string): void => {
      for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
        const p = path.join(dir, e.name);
        if (e.isDirectory()) walk(p);
        else if (e.name.endsWith('.ts')) {
          fs.readFileSync(p, 'utf8')
            .split('\n')
            .forEach((line, i) => {
              if (/\b(startSession|withSession|withTransaction|startTransaction|commitTransaction)\s*\(/.test(line)) offenders.push(`${path.relative(process.cwd(), p)}:${i + 1}: ${line.trim()}`);
            });
        }
      }
    };
    walk(path.resolve(__dirname, '..', '..', 'src'));
    expect(offenders).toEqual([]);
  });
});
