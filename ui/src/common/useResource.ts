import { useCallback, useEffect, useRef, useState } from 'react';

export interface Resource<T> {
  data: T | undefined;
  error: unknown;
  loading: boolean;
  /** Loads again; calls made while a load runs collapse into one more load after it. */
  reload: () => void;
  /** Replaces the data locally (e.g. with an action's response). */
  setData: (update: T | ((prev: T | undefined) => T)) => void;
}

/**
 * Loads `load` when `key` changes and on `reload()`. Keeps the previous data while reloading
 * (no flicker on live updates) and drops the answers of superseded loads.
 */
export function useResource<T>(load: (signal: AbortSignal) => Promise<T>, key: string): Resource<T> {
  const [data, setDataState] = useState<T | undefined>(undefined);
  const [error, setError] = useState<unknown>(null);
  const [loading, setLoading] = useState(true);
  const loadRef = useRef(load);
  loadRef.current = load;
  const running = useRef<AbortController | null>(null);
  const again = useRef(false);
  const generation = useRef(0);

  const run = useCallback(() => {
    if (running.current) {
      again.current = true;
      return;
    }
    const controller = new AbortController();
    running.current = controller;
    const gen = generation.current;
    setLoading(true);
    loadRef
      .current(controller.signal)
      .then((value) => {
        if (gen !== generation.current) return;
        setDataState(value);
        setError(null);
      })
      .catch((e: unknown) => {
        if (gen !== generation.current || controller.signal.aborted) return;
        setError(e);
      })
      .finally(() => {
        if (running.current === controller) running.current = null;
        if (gen !== generation.current) return;
        setLoading(false);
        if (again.current) {
          again.current = false;
          run();
        }
      });
  }, []);

  useEffect(() => {
    generation.current++;
    running.current?.abort();
    running.current = null;
    again.current = false;
    setDataState(undefined);
    setError(null);
    run();
    return () => {
      generation.current++;
      running.current?.abort();
      running.current = null;
    };
  }, [key, run]);

  const setData = useCallback((update: T | ((prev: T | undefined) => T)) => {
    setDataState((prev) => (typeof update === 'function' ? (update as (p: T | undefined) => T)(prev) : update));
  }, []);

  return { data, error, loading, reload: run, setData };
}

/** A trailing debounce whose callback is always the latest one. */
export function useDebounced(fn: () => void, ms: number): () => void {
  const fnRef = useRef(fn);
  fnRef.current = fn;
  const timer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  useEffect(() => () => clearTimeout(timer.current), []);
  return useCallback(() => {
    clearTimeout(timer.current);
    timer.current = setTimeout(() => fnRef.current(), ms);
  }, [ms]);
}

/** Calls `fn` at most once per `ms` (the first call at once, the last one of a burst at the end). */
export function useThrottled(fn: () => void, ms: number): () => void {
  const fnRef = useRef(fn);
  fnRef.current = fn;
  const last = useRef(0);
  const timer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  useEffect(() => () => clearTimeout(timer.current), []);
  return useCallback(() => {
    if (timer.current !== undefined) return;
    const wait = Math.max(0, last.current + ms - Date.now());
    timer.current = setTimeout(() => {
      timer.current = undefined;
      last.current = Date.now();
      fnRef.current();
    }, wait);
  }, [ms]);
}

/** Re-renders every `ms` (for "running for …" durations); off when `enabled` is false. */
export function useNow(ms: number, enabled = true): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (!enabled) return;
    const t = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(t);
  }, [ms, enabled]);
  return now;
}
