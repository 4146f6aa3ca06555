import { NavLink, Outlet } from 'react-router';
import { useAuth, useTenant } from '../auth/AuthContext';
import { LiveDot } from '../live/LiveDot';

export function Layout() {
  const { signOut } = useAuth();
  const { tenantId } = useTenant();
  return (
    <div className="app">
      <header className="topbar">
        <span className="brand">aicd</span>
        <nav aria-label="Main">
          <NavLink to="/jobs">Jobs</NavLink>
          <NavLink to="/workers">Workers &amp; queues</NavLink>
          <NavLink to="/runs">Runs</NavLink>
        </nav>
        <div className="topbar-right">
          <LiveDot />
          <span className="tenant" title="Tenant of this API key">
            tenant <strong data-testid="tenant">{tenantId}</strong>
          </span>
          <button type="button" className="btn btn-quiet" onClick={signOut} data-testid="sign-out">
            Sign out
          </button>
        </div>
      </header>
      <main className="content">
        <Outlet />
      </main>
    </div>
  );
}
