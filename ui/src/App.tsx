import { RouterProvider } from 'react-router';
import { useAuth } from './auth/AuthContext';
import { SignIn } from './auth/SignIn';
import { LiveEventsProvider } from './live/LiveEvents';
import { router } from './router';

/** Signed out: the sign-in page (whatever the route; it is kept for after). Signed in: the app. */
export function App() {
  const { state } = useAuth();
  if (state.status === 'checking') return <p className="checking">Checking your API key…</p>;
  if (state.status === 'signed-out') return <SignIn message={state.message} />;
  return (
    <LiveEventsProvider key={state.key}>
      <RouterProvider router={router} />
    </LiveEventsProvider>
  );
}
