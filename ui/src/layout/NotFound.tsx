import { Link } from 'react-router';

export function NotFound() {
  return (
    <section className="panel">
      <h1>Not found</h1>
      <p>
        There is no page here. Go to the <Link to="/jobs">jobs</Link>.
      </p>
    </section>
  );
}
