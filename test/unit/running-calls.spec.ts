import { RunningCalls } from '../../src/queues/cancellation';

describe('RunningCalls', () => {
  it('a cancel seen before a call registers aborts it when the call ran on an earlier version, not after a RETRY', () => {
    const calls = new RunningCalls();
    const running = new AbortController();
    calls.track('j1', running, 1);
    expect(calls.abort('j1', 'job cancelled', 2)).toBe(1);
    expect(running.signal.aborted).toBe(true);
    expect(calls.causeOf(running)).toBe('cancelled');

    // A stage that read version 1 just before the cancel committed version 2, and registers after it.
    const late = new AbortController();
    calls.track('j1', late, 1);
    expect(late.signal.aborted).toBe(true);
    expect(calls.causeOf(late)).toBe('cancelled');

    // The job was retried (version 3): its next stage runs.
    const retried = new AbortController();
    calls.track('j1', retried, 3);
    expect(retried.signal.aborted).toBe(false);

    // Other jobs, and calls registered without a version, are untouched.
    const other = new AbortController();
    calls.track('j2', other, 0);
    expect(other.signal.aborted).toBe(false);
  });
});
