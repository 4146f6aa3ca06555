import { createContext, useCallback, useContext, useEffect, useMemo, useRef, useState, type ReactNode } from 'react';
import { ApiError, configureApi } from '../api/client';
import { api } from '../api/endpoints';
import { invalidKeyMessage, keyStore } from './session';

export type AuthState =
  | { status: 'checking' }
  | { status: 'signed-out'; message: string | null }
  | { status: 'signed-in'; key: string; tenantId: string };

interface AuthApi {
  state: AuthState;
  /** Checks `key` with `GET /whoami`; resolves to an error message, or null when signed in. */
  signIn: (key: string) => Promise<string | null>;
  signOut: () => void;
}

const AuthContext = createContext<AuthApi | null>(null);

function describe(e: unknown): string {
  if (e instanceof ApiError) {
    if (e.status === 401) return invalidKeyMessage(e.message);
    if (e.status === 0) return `${e.message}. Is the service running?`;
    return `The server answered ${e.status}: ${e.message}`;
  }
  return e instanceof Error ? e.message : String(e);
}

/** The signed-in key and tenant of this tab; every API call goes out with the key. */
export function AuthProvider({ children }: { children: ReactNode }) {
  const [state, setState] = useState<AuthState>(() => (keyStore.get() ? { status: 'checking' } : { status: 'signed-out', message: null }));
  const keyRef = useRef<string | null>(keyStore.get());

  const end = useCallback((message: string | null) => {
    keyStore.clear();
    keyRef.current = null;
    setState({ status: 'signed-out', message });
  }, []);

  // Wired during render (idempotent), so the children's first requests already carry the key.
  useMemo(
    () =>
      configureApi({
        key: () => keyRef.current,
        unauthorized: (serverMessage) => {
          if (keyRef.current) end(invalidKeyMessage(serverMessage));
        },
      }),
    [end],
  );

  const signIn = useCallback(
    async (key: string): Promise<string | null> => {
      const trimmed = key.trim();
      if (!trimmed) return 'Enter an API key.';
      try {
        const { tenantId } = await api.whoami(trimmed);
        keyStore.set(trimmed);
        keyRef.current = trimmed;
        setState({ status: 'signed-in', key: trimmed, tenantId });
        return null;
      } catch (e) {
        return describe(e);
      }
    },
    [],
  );

  // A key kept from earlier in this tab: check it once.
  useEffect(() => {
    const saved = keyStore.get();
    if (!saved) return;
    let cancelled = false;
    api
      .whoami(saved)
      .then(({ tenantId }) => !cancelled && setState({ status: 'signed-in', key: saved, tenantId }))
      .catch((e: unknown) => {
        if (cancelled) return;
        if (e instanceof ApiError && e.status === 401) end(invalidKeyMessage(e.message));
        else {
          keyRef.current = null;
          setState({ status: 'signed-out', message: describe(e) });
        }
      });
    return () => {
      cancelled = true;
    };
  }, [end]);

  const value = useMemo<AuthApi>(() => ({ state, signIn, signOut: () => end(null) }), [state, signIn, end]);
  return <AuthContext.Provider value={value}>{children}</AuthContext.Provider>;
}

export function useAuth(): AuthApi {
  const ctx = useContext(AuthContext);
  if (!ctx) throw new Error('useAuth outside AuthProvider');
  return ctx;
}

/** The signed-in tenant (only under the signed-in part of the app). */
export function useTenant(): { tenantId: string; key: string } {
  const { state } = useAuth();
  if (state.status !== 'signed-in') throw new Error('useTenant while signed out');
  return state;
}
