import { Redactor } from '../../src/common/secrets';
import { AttemptLogWriter } from '../../src/logs/attempt-log-writer';
import { linesOf, type JobLogLine } from '../../src/logs/job-log.repository';
import { MongoJobLogRepository } from '../../src/logs/mongo-job-log.repository';
import { useTestDatabase } from '../support/test-db';

/** The job log store on the real MongoDB-wire server: chunks, the byte cap with its marker, redaction, order. */
describe('job logs (AttemptLogWriter + MongoJobLogRepository)', () => {
  const t = useTestDatabase('logs', (db) => new MongoJobLogRepository(db));

  const writer = (jobId: string, attempt: number, maxBytes: number, published: JobLogLine[] = []) =>
    new AttemptLogWriter(
      t.repo,
      { publish: (_job, lines) => void published.push(...lines) },
      { jobId, tenantId: 'acme', attemptId: `${jobId}:coding:0:${attempt}:x`, stage: 'coding', attempt },
      { maxBytes, flushMs: 20, redactor: new Redactor(['s3cr3t-value-123']) },
    );

  it('keeps every line in order across chunks, redacted, and publishes each chunk', async () => {
    const published: JobLogLine[] = [];
    const w = writer('job-a', 1, 1_000_000, published);
    for (let i = 0; i < 450; i++) w.write({ at: Date.now(), stream: i % 2 ? 'stderr' : 'stdout', text: `line ${i}${i === 7 ? ' token s3cr3t-value-123 and ghp_abcdefghijklmnopqrstuvwxyz0123' : ''}` });
    await w.flush();
    const lines = linesOf(await t.repo.chunks('job-a', {}, 100));
    expect(lines).toHaveLength(450);
    expect(lines.map((l) => l.text.split(' ').slice(0, 2).join(' '))).toEqual(Array.from({ length: 450 }, (_, i) => `line ${i}`));
    expect(lines[7].text).toBe('line 7 token [redacted] and [redacted]');
    expect(lines.map((l) => l.id)).toEqual([...lines.map((l) => l.id)].sort());
    expect(published.map((l) => l.id)).toEqual(lines.map((l) => l.id));
  });

  it('past LOG_MAX_BYTES the oldest chunks go and one marker line says how many lines and bytes were dropped', async () => {
    const w = writer('job-b', 1, 4096);
    const line = (i: number) => `${String(i).padStart(4, '0')} ${'x'.repeat(95)}`; // 100 bytes
    for (let i = 0; i < 300; i++) {
      w.write({ stream: 'stdout', text: line(i) });
      if (i % 20 === 19) await w.flush(); // chunks of 20 lines (2,000 bytes)
    }
    await w.flush();
    const lines = linesOf(await t.repo.chunks('job-b', {}, 100));
    expect(lines[0].stream).toBe('system');
    const m = /^\[… (\d+) earlier line\(s\), (\d+) bytes, dropped: over LOG_MAX_BYTES \(4096\) …\]$/.exec(lines[0].text);
    expect(m).not.toBeNull();
    const kept = lines.slice(1);
    expect(Number(m![1]) + kept.length).toBe(300);
    expect(kept.at(-1)!.text).toBe(line(299));
    expect(kept.reduce((n, l) => n + Buffer.byteLength(l.text), 0)).toBeLessThanOrEqual(4096);
    // The kept lines are the newest, contiguous.
    expect(kept.map((l) => Number(l.text.slice(0, 4)))).toEqual(Array.from({ length: kept.length }, (_, i) => 300 - kept.length + i));
  });

  it('filters by stage and attempt; attempts follow each other in time', async () => {
    const w1 = writer('job-c', 1, 1_000_000);
    w1.write({ stream: 'stdout', text: 'first attempt' });
    await w1.flush();
    const w2 = writer('job-c', 2, 1_000_000);
    w2.write({ stream: 'stdout', text: 'second attempt' });
    await w2.flush();
    expect(linesOf(await t.repo.chunks('job-c', {}, 10)).map((l) => `${l.attempt}:${l.text}`)).toEqual(['1:first attempt', '2:second attempt']);
    expect(linesOf(await t.repo.chunks('job-c', { attempt: 2 }, 10)).map((l) => l.text)).toEqual(['second attempt']);
    expect(await t.repo.chunks('job-c', { stage: 'planning' }, 10)).toEqual([]);
  });
});
