import { createHashRouter, Navigate } from 'react-router';
import { JobPage } from './job/JobPage';
import { JobsPage } from './jobs/JobsPage';
import { Layout } from './layout/Layout';
import { NotFound } from './layout/NotFound';
import { runsRoute } from './runs/route';
import { WorkersPage } from './workers/WorkersPage';

/**
 * Hash routes (`/ui/#/jobs/…`): the server only has to serve index.html at /ui, and a reload
 * or a shared link never asks it for a client route.
 */
export const router = createHashRouter([
  {
    path: '/',
    element: <Layout />,
    children: [
      { index: true, element: <Navigate to="/jobs" replace /> },
      { path: 'jobs', element: <JobsPage /> },
      { path: 'jobs/:id', element: <JobPage /> },
      { path: 'workers', element: <WorkersPage /> },
      runsRoute,
      { path: '*', element: <NotFound /> },
    ],
  },
]);
