import { StepAttemptRepository } from '../../src/runs/step-attempts';
import { useTestDatabase } from '../support/test-db';

/** The router's `auto` input against the real MongoDB-wire server: the newest successes of a tool, whatever their age. */
describe('StepAttemptRepository.medianByTool (real MongoDB-wire server)', () => {
  const t = useTestDatabase('stepatt', (db) => new StepAttemptRepository(db));

  it('takes the median of the newest 20 successes by end time, across minutes to months, ignoring failures and other tools', async () => {
    const now = Date.now();
    const minute = 60_000;
    // Tool `fast`: 5 successes in the last hour (10 ms), 10 from hours ago (20 ms), 10 from days ago
    // (30 ms, of which 5 are among the newest 20), 30 from months ago (1,000 ms), and failures.
    const rows: { tool: string; status: string; ago: number; durationMs: number }[] = [
      ...Array.from({ length: 5 }, (_, i) => ({ tool: 'fast', status: 'succeeded', ago: (i + 1) * minute, durationMs: 10 })),
      ...Array.from({ length: 10 }, (_, i) => ({ tool: 'fast', status: 'succeeded', ago: (i + 2) * 60 * minute, durationMs: 20 })),
      ...Array.from({ length: 10 }, (_, i) => ({ tool: 'fast', status: 'succeeded', ago: (i + 2) * 1440 * minute, durationMs: 30 })),
      ...Array.from({ length: 30 }, (_, i) => ({ tool: 'fast', status: 'succeeded', ago: (i + 60) * 1440 * minute, durationMs: 1000 })),
      ...Array.from({ length: 10 }, (_, i) => ({ tool: 'fast', status: 'failed', ago: i * minute, durationMs: 5 })),
      ...Array.from({ length: 20 }, (_, i) => ({ tool: 'slow', status: 'succeeded', ago: i * minute, durationMs: 500 })),
    ];
    await t.db.collection('step_attempts').insertMany(
      rows.map((r, i) => ({ _id: `r:${i}`, runId: 'r', step: `s${i}`, templateStep: 's', visit: 1, attempt: 1, tool: r.tool, status: r.status, startedAt: new Date(now - r.ago - r.durationMs), heartbeatAt: new Date(now - r.ago), endedAt: new Date(now - r.ago), durationMs: r.durationMs })) as never[],
    );
    // The newest 20 successes of `fast`: 5 × 10, 10 × 20, 5 × 30 → lower median 20.
    expect(await t.repo.medianByTool(['fast', 'slow', 'none'])).toEqual({ fast: 20, slow: 500 });
    // Again (the window that answered is remembered): the same.
    expect(await t.repo.medianByTool(['fast'])).toEqual({ fast: 20 });
    // Only months-old successes: still found (the last read has no bound).
    await t.db.collection('step_attempts').deleteMany({ tool: 'fast', durationMs: { $lt: 1000 } });
    expect(await t.repo.medianByTool(['fast'])).toEqual({ fast: 1000 });
  });
});
