/**
 * A periodic background pass (sweeper, janitor): `run` every `everyMs` on an unref'd timer, never
 * two at once (a pass still running when the next is due is skipped), a failure handed to
 * `onError` instead of escaping.
 */
export class IntervalTask {
  private timer?: NodeJS.Timeout;
  private running = false;

  constructor(
    private readonly run: () => Promise<void>,
    private readonly onError: (e: unknown) => void,
  ) {}

  /** Starts the timer (no-op for `everyMs` ≤ 0). */
  start(everyMs: number): void {
    if (everyMs <= 0 || this.timer) return;
    this.timer = setInterval(() => void this.tick(), everyMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private async tick(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      await this.run();
    } catch (e) {
      this.onError(e);
    } finally {
      this.running = false;
    }
  }
}
