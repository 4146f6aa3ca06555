import { useState, type FormEvent } from 'react';
import { useAuth } from './AuthContext';

/** The API key form. The key goes to sessionStorage once `GET /whoami` accepts it. */
export function SignIn({ message }: { message: string | null }) {
  const { signIn } = useAuth();
  const [key, setKey] = useState('');
  const [error, setError] = useState<string | null>(message);
  const [busy, setBusy] = useState(false);

  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    const problem = await signIn(key);
    setBusy(false);
    if (problem) setError(problem);
  }

  return (
    <main className="signin">
      <form className="panel signin-form" onSubmit={submit} aria-labelledby="signin-title">
        <h1 id="signin-title">aicd operator</h1>
        <p className="muted">Sign in with a tenant's API key (from <code>npm run tenant:create</code>). It is kept in this tab only.</p>
        <label htmlFor="api-key">API key</label>
        <input
          id="api-key"
          name="api-key"
          type="password"
          autoComplete="off"
          spellCheck={false}
          placeholder="aicd_…"
          value={key}
          onChange={(e) => setKey(e.target.value)}
          data-testid="signin-key"
          aria-invalid={error ? true : undefined}
          aria-describedby={error ? 'signin-error' : undefined}
          autoFocus
        />
        {error ? (
          <p id="signin-error" className="field-error" role="alert" data-testid="signin-error">
            {error}
          </p>
        ) : null}
        <button type="submit" className="btn btn-primary" disabled={busy} data-testid="signin-submit">
          {busy ? 'Checking…' : 'Sign in'}
        </button>
      </form>
    </main>
  );
}
