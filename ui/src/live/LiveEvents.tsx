import { createContext, useCallback, useContext, useEffect, useMemo, useRef, useState, type ReactNode } from 'react';
import { authHeaders, reportUnauthorized } from '../api/client';
import { paths } from '../api/endpoints';
import type { LiveEvent } from '../api/types';
import { connectSse } from '../sse/connect';
import { parseLiveEvent } from './parse';

export type LiveStatus = 'connecting' | 'live' | 'reconnecting' | 'off';

type Listener = (event: LiveEvent) => void;

interface LiveApi {
  status: LiveStatus;
  /** Why the stream is off (the server refused it). */
  problem: string | null;
  subscribe: (listener: Listener) => () => void;
  /** Called when events may have been missed: views reload. */
  onResync: (listener: () => void) => () => void;
}

const LiveContext = createContext<LiveApi | null>(null);

/**
 * One connection per signed-in tab to `GET /events/stream` (the tenant's job, log and pipeline
 * run events), shared by every view through {@link useLiveEvents}. Unknown kinds are ignored;
 * `event: resync` (the events after our id were trimmed) and every reconnection make
 * the views reload, as does a reconnection that has no event id to resume after.
 */
export function LiveEventsProvider({ children }: { children: ReactNode }) {
  const [status, setStatus] = useState<LiveStatus>('connecting');
  const [problem, setProblem] = useState<string | null>(null);
  const listeners = useRef(new Set<Listener>());
  const resyncListeners = useRef(new Set<() => void>());

  useEffect(() => {
    let opened = false;
    const conn = connectSse({
      url: paths.events,
      headers: () => authHeaders(),
      onMessage: (m) => {
        if (m.type === 'resync') {
          // Events after our Last-Event-ID were trimmed: views reload what they show.
          for (const l of resyncListeners.current) l();
          return;
        }
        const event = parseLiveEvent(m.type, m.data);
        if (event) for (const l of listeners.current) l(event);
      },
      onStatus: (s) => {
        if (s === 'open') {
          setStatus('live');
          setProblem(null);
          // A reconnection resumes after the last event id; without one (nothing received yet),
          // what happened during the gap is unknown: reload.
          if (opened && !conn.lastEventId) for (const l of resyncListeners.current) l();
          opened = true;
        } else if (s === 'reconnecting') setStatus('reconnecting');
        else if (s === 'connecting') setStatus('connecting');
      },
      onGap: () => {
        for (const l of resyncListeners.current) l();
      },
      onRefused: (code, message) => {
        if (code === 401) reportUnauthorized(message);
        setStatus('off');
        setProblem(`The event stream was refused (${code}): ${message}`);
      },
    });
    return () => conn.close();
  }, []);

  const subscribe = useCallback((l: Listener) => {
    listeners.current.add(l);
    return () => {
      listeners.current.delete(l);
    };
  }, []);
  const onResync = useCallback((l: () => void) => {
    resyncListeners.current.add(l);
    return () => {
      resyncListeners.current.delete(l);
    };
  }, []);
  const value = useMemo<LiveApi>(() => ({ status, problem, subscribe, onResync }), [status, problem, subscribe, onResync]);
  return <LiveContext.Provider value={value}>{children}</LiveContext.Provider>;
}

function useLive(): LiveApi {
  const ctx = useContext(LiveContext);
  if (!ctx) throw new Error('useLive outside LiveEventsProvider');
  return ctx;
}

export function useLiveStatus(): { status: LiveStatus; problem: string | null } {
  const { status, problem } = useLive();
  return { status, problem };
}

/**
 * Calls `onEvent` for every live event, and `onResync` after a reconnection. The latest
 * callbacks are used; the subscription lives as long as the component.
 */
export function useLiveEvents(onEvent: Listener, onResync?: () => void): void {
  const { subscribe, onResync: subscribeResync } = useLive();
  const eventRef = useRef(onEvent);
  const resyncRef = useRef(onResync);
  eventRef.current = onEvent;
  resyncRef.current = onResync;
  useEffect(() => subscribe((e) => eventRef.current(e)), [subscribe]);
  useEffect(() => subscribeResync(() => resyncRef.current?.()), [subscribeResync]);
}
