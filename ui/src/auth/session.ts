/**
 * The API key of this tab: `sessionStorage` only (gone when the tab closes), never in a URL or
 * `localStorage`.
 */
const STORAGE_KEY = 'aicd.apiKey';

export const keyStore = {
  get(): string | null {
    try {
      return sessionStorage.getItem(STORAGE_KEY);
    } catch {
      return null;
    }
  },
  set(key: string): void {
    sessionStorage.setItem(STORAGE_KEY, key);
  },
  clear(): void {
    try {
      sessionStorage.removeItem(STORAGE_KEY);
    } catch {
      // storage unavailable: nothing kept
    }
  },
};

/** The words shown when the server answers 401 to a key. */
export function invalidKeyMessage(serverMessage: string): string {
  const base = 'This API key is not valid for any tenant';
  return serverMessage ? `${base}. The server said: ${serverMessage}` : `${base}.`;
}
