import { issueBody, startTestApp, waitForState } from '../support/test-app';
import { Db } from 'mongodb';
it('debug', async () => {
  const t = await startTestApp('dbg', { STAGE_CONTINUE_MAX: process.env.DBG_CONT ?? '0', CONCURRENCY_PLANNING: '16', CONCURRENCY_CODING: '16', CONCURRENCY_REVIEWING: '16', CONCURRENCY_PR_OPEN: '16' });
  const db = t.app.get(Db);
  const t0 = Date.now();
  const ids = await Promise.all(Array.from({ length: 100 }, async (_, i) => (await t.http.post('/jobs').set({ 'x-tenant-id': 'acme' }).send(issueBody(i)).expect(201)).body.id as string));
  const timer = setInterval(async () => console.log('claims', await db.collection('job_commits').countDocuments(), Date.now() - t0), 1000);
  for (const id of ids) await waitForState(t, id, ['COMPLETED'], 120_000);
  clearInterval(timer);
  console.log('done in', Date.now() - t0, 'claims', await db.collection('job_commits').countDocuments());
  await new Promise((r) => setTimeout(r, 500));
  console.log('claims after', await db.collection('job_commits').countDocuments());
  await t.close();
}, 200_000);
