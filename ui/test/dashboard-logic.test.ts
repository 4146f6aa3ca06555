import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ApiError } from '../src/api/client';
import type { JobEvent, StageAttempt, Transition } from '../src/api/types';
import { actionErrorText } from '../src/job/actionText';
import { attemptKeys, visitIndexOf, visitsOf } from '../src/job/timeline';
import { applyJobEvent, toApiFilters, type JobRow } from '../src/jobs/filters';

const row = (id: string, state: JobRow['state'], version: number): JobRow => ({ id, repositoryId: 'acme/widgets', title: id, state, version, updatedAt: '2026-01-01T00:00:00.000Z', createdAt: null });
const event = (jobId: string, state: JobEvent['state'], version: number, extra: Partial<JobEvent> = {}): JobEvent => ({
  kind: 'job',
  jobId,
  state,
  version,
  updatedAt: '2026-01-01T00:01:00.000Z',
  repositoryId: 'acme/widgets',
  issueTitle: `${jobId} title`,
  transitions: [],
  created: false,
  ...extra,
});

describe('job list live updates', () => {
  it('moves an updated job to the top of the first page, in place on others; ignores older versions', () => {
    const rows = [row('a', 'CODING', 2), row('b', 'PLANNING', 1)];
    assert.deepEqual(applyJobEvent(rows, event('b', 'CODING', 2), {}, true).map((r) => [r.id, r.state]), [['b', 'CODING'], ['a', 'CODING']]);
    assert.deepEqual(applyJobEvent(rows, event('b', 'CODING', 2), {}, false).map((r) => r.id), ['a', 'b']);
    assert.equal(applyJobEvent(rows, event('a', 'QUEUED', 1), {}, true), rows);
  });

  it('drops a job that leaves the state filter, adds a new matching one on the first page only', () => {
    const rows = [row('a', 'CODING', 2)];
    assert.deepEqual(applyJobEvent(rows, event('a', 'REVIEWING', 3), { state: 'CODING' }, true), []);
    assert.deepEqual(applyJobEvent(rows, event('n', 'QUEUED', 0, { created: true }), {}, true).map((r) => r.id), ['n', 'a']);
    assert.equal(applyJobEvent(rows, event('n', 'QUEUED', 0, { created: true }), {}, false), rows);
    assert.equal(applyJobEvent(rows, event('n', 'QUEUED', 0, { created: true, repositoryId: 'x/y' }), { repositoryId: 'acme/widgets' }, true), rows);
    // A job not listed whose creation time is unknown is not added under a creation filter.
    assert.equal(applyJobEvent(rows, event('o', 'CODING', 3), { createdFrom: '2020-01-01T00:00:00.000Z' }, true), rows);
  });

  it('turns datetime-local filters into ISO-8601', () => {
    const f = toApiFilters({ state: '', repositoryId: ' acme/widgets ', createdFrom: '2026-01-02T03:04', createdTo: '', updatedFrom: '', updatedTo: 'garbage' });
    assert.equal(f.repositoryId, 'acme/widgets');
    assert.equal(f.createdFrom, new Date('2026-01-02T03:04').toISOString());
    assert.equal(f.updatedTo, undefined);
    assert.equal('state' in f, false);
  });
});

describe('timeline', () => {
  const t = (from: Transition['from'], to: Transition['to'], event: string, at: string, attempt = 1): Transition => ({ from, to, event, at: `2026-01-01T00:00:${at}.000Z`, attempt });
  const job = {
    createdAt: '2026-01-01T00:00:00.000Z',
    state: 'COMPLETED' as const,
    history: [t('QUEUED', 'PLANNING', 'START_PLANNING', '01', 0), t('PLANNING', 'CODING', 'PLAN_SUCCEEDED', '03'), t('CODING', 'REVIEWING', 'CODE_SUCCEEDED', '05', 2), t('REVIEWING', 'CODING', 'REVIEW_REJECTED', '06'), t('CODING', 'REVIEWING', 'CODE_SUCCEEDED', '08'), t('REVIEWING', 'PR_OPEN', 'REVIEW_APPROVED', '09'), t('PR_OPEN', 'COMPLETED', 'PR_OPENED', '10')],
  };

  it('makes one visit per stay, closed by the next transition; a final state is a point', () => {
    const visits = visitsOf(job);
    assert.deepEqual(visits.map((v) => v.state), ['QUEUED', 'PLANNING', 'CODING', 'REVIEWING', 'CODING', 'REVIEWING', 'PR_OPEN', 'COMPLETED']);
    assert.equal(visits[0]!.to, '2026-01-01T00:00:01.000Z');
    assert.equal(visits[2]!.leftBy, 'CODE_SUCCEEDED');
    assert.equal(visits.at(-1)!.to, visits.at(-1)!.from);
  });

  it('places an attempt under the visit of its stage that began before it', () => {
    const visits = visitsOf(job);
    assert.equal(visitIndexOf(visits, { stage: 'coding', startedAt: '2026-01-01T00:00:06.500Z' }), 4);
    assert.equal(visitIndexOf(visits, { stage: 'coding', startedAt: '2026-01-01T00:00:03.100Z' }), 2);
  });

  it('lists stage attempts from the history and the records, once each', () => {
    const rec = { stage: 'coding', attempt: 1, startedAt: '2026-01-01T00:00:03.100Z' } as StageAttempt;
    const keys = attemptKeys(job, [rec]).map((k) => `${k.stage}:${k.attempt}`);
    assert.deepEqual(keys, ['planning:1', 'coding:1', 'coding:2', 'reviewing:1', 'pr-open:1']);
  });
});

describe('action errors in words', () => {
  it('says why a 409 ILLEGAL_EVENT was refused', () => {
    const none = new ApiError(409, { statusCode: 409, code: 'ILLEGAL_EVENT', state: 'COMPLETED', event: 'MARK_CANCELLED', acceptedEvents: [], message: 'x' });
    assert.equal(actionErrorText(none, 'MARK_CANCELLED'), 'Cannot send MARK_CANCELLED: the job is COMPLETED, which accepts no events.');
    const some = new ApiError(409, { statusCode: 409, code: 'ILLEGAL_EVENT', state: 'CODING', event: 'RETRY', acceptedEvents: ['MARK_CANCELLED', 'START_CODING'], message: 'x' });
    assert.equal(actionErrorText(some, 'RETRY'), 'Cannot send RETRY: the job is CODING, which accepts only MARK_CANCELLED or START_CODING.');
  });
});

describe('bulk action result in words', () => {
  it('counts the applied and groups the skipped by code and state; says when more match', async () => {
    const { bulkResultText } = await import('../src/jobs/bulkText');
    assert.equal(
      bulkResultText({
        type: 'MARK_CANCELLED',
        matched: 4,
        applied: [{ jobId: 'a', state: 'CANCELLED' }],
        skipped: [
          { jobId: 'b', state: 'CANCELLED', code: 'ILLEGAL_EVENT', message: '' },
          { jobId: 'c', state: 'CANCELLED', code: 'ILLEGAL_EVENT', message: '' },
          { jobId: 'd', state: 'CODING', code: 'CONCURRENT_UPDATE', message: '' },
        ],
        more: true,
      }),
      '1 of 4 cancelled; 3 skipped: 2 ILLEGAL_EVENT (CANCELLED), 1 CONCURRENT_UPDATE (CODING). More jobs match: run it again.',
    );
    assert.equal(bulkResultText({ type: 'RETRY', matched: 2, applied: [{ jobId: 'a', state: 'PLANNING' }, { jobId: 'b', state: 'CODING' }], skipped: [], more: false }), '2 of 2 retried.');
  });
});
