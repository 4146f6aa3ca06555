import type { Termination, ToolRequest } from './tool.port';

/**
 * The limits of one run: `timeoutMs` (wall clock), `idleTimeoutMs` (no `touch()` for that long)
 * and `signal` (abort). The first one reached calls `onEnd` once with the {@link Termination};
 * `dispose()` clears the timers and the abort listener. Shared by the process supervisor and the
 * function adapter.
 */
export class RunLimits {
  private ended: Termination | undefined;
  private idleTimer: NodeJS.Timeout | null = null;
  private readonly wallTimer: NodeJS.Timeout | null;
  private readonly idleMs: number;
  private readonly onAbort = () => this.end('aborted');

  constructor(
    private readonly request: Pick<ToolRequest, 'timeoutMs' | 'idleTimeoutMs' | 'signal'>,
    private readonly onEnd: (why: Termination) => void,
  ) {
    this.idleMs = request.idleTimeoutMs ?? 0;
    this.wallTimer = (request.timeoutMs ?? 0) > 0 ? setTimeout(() => this.end('timeout'), request.timeoutMs) : null;
    if (request.signal?.aborted) this.end('aborted');
    else request.signal?.addEventListener('abort', this.onAbort, { once: true });
    this.touch();
  }

  /** Which limit ended the run, if one did. */
  get termination(): Termination | undefined {
    return this.ended;
  }

  /** Ends the run now for `why` (also used for a throwing hook: `aborted`). No-op once ended. */
  end(why: Termination): void {
    if (this.ended) return;
    this.ended = why;
    this.onEnd(why);
  }

  /** Activity: restarts the idle timer. */
  touch(): void {
    if (this.idleMs <= 0 || this.ended) return;
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => this.end('idle-timeout'), this.idleMs);
  }

  dispose(): void {
    if (this.wallTimer) clearTimeout(this.wallTimer);
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.request.signal?.removeEventListener('abort', this.onAbort);
  }
}
