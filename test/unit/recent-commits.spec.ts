import type { AppConfig } from '../../src/config/config';
import type { JobRecord } from '../../src/jobs/job.record';
import { RecentCommits } from '../../src/queues/recent-commits';

const record = (id: string, version: number) => ({ id, version }) as JobRecord;
const cache = (size: number) => new RecentCommits({ STAGE_RECORD_CACHE_SIZE: size } as AppConfig);

describe('RecentCommits (the stage runner skips a read for a version it committed itself)', () => {
  it('hands out a record only at the exact version, and only once', () => {
    const c = cache(10);
    c.remember(record('a', 2));
    expect(c.take('a', 1)).toBeUndefined(); // a late duplicate at an older version reads the store
    c.remember(record('a', 2));
    expect(c.take('a', 2)).toEqual(record('a', 2));
    expect(c.take('a', 2)).toBeUndefined();
  });

  it('forgets a cancelled job', () => {
    const c = cache(10);
    c.remember(record('a', 1));
    c.forget('a');
    expect(c.take('a', 1)).toBeUndefined();
  });

  it('keeps at most STAGE_RECORD_CACHE_SIZE records, evicting the oldest; 0 keeps none', () => {
    const c = cache(2);
    c.remember(record('a', 1));
    c.remember(record('b', 1));
    c.remember(record('c', 1));
    expect(c.take('a', 1)).toBeUndefined();
    expect(c.take('b', 1)).toBeDefined();
    expect(c.take('c', 1)).toBeDefined();
    const off = cache(0);
    off.remember(record('a', 1));
    expect(off.take('a', 1)).toBeUndefined();
  });
});
