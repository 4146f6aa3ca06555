/**
 * The functions a `function` step may call by name (`with: { name: "sleep", ms: 100 }`). Each
 * receives the step's `with` and a context (inputs' JSON values, the abort signal, a logger), and
 * resolves to the step's JSON result. Add one here to make it callable from templates.
 */

/** What a pipeline function gets. */
export interface PipelineFunctionContext {
  /** The step's `with` (its `name` included). */
  args: Record<string, unknown>;
  /** JSON inputs by artifact name. */
  inputs: Record<string, unknown>;
  /** The run's inputs (immutable). */
  runInputs: Record<string, unknown>;
  signal: AbortSignal;
  log(text: string): void;
}

export type PipelineFunction = (ctx: PipelineFunctionContext) => Promise<unknown>;

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(t);
      reject(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
    }, { once: true });
  });
}

/** The built-in functions. */
export const PIPELINE_FUNCTIONS: Readonly<Record<string, PipelineFunction>> = {
  /** Does nothing; resolves to `{ ok: true }` (the bench's no-op step). */
  noop: async () => ({ ok: true }),
  /** Resolves to `with.value` (default null). */
  echo: async ({ args }) => args.value ?? null,
  /** Waits `with.ms` (default 100) ms, honouring cancellation; resolves to `{ sleptMs }`. */
  sleep: async ({ args, signal }) => {
    const ms = typeof args.ms === 'number' ? args.ms : 100;
    await sleep(ms, signal);
    return { sleptMs: ms };
  },
  /** Throws `with.message`; `with.retryable: true` makes it a transient failure. */
  fail: async ({ args }) => {
    const e = new Error(typeof args.message === 'string' ? args.message : 'failed on purpose') as Error & { retryable?: boolean };
    if (args.retryable === true) e.retryable = true;
    throw e;
  },
  /** Merges the JSON inputs into one object by input name (a fan-in). */
  collect: async ({ inputs }) => inputs,
};

export const PIPELINE_FUNCTION_NAMES = Object.keys(PIPELINE_FUNCTIONS);
