import type { RouteObject } from 'react-router';
import { RunPage } from './RunPage';
import { RunsPage } from './RunsPage';

/** `#/runs` (the list, filters in the query) and `#/runs/:id` (a run), in the style of the job pages. */
export const runsRoute: RouteObject = {
  path: 'runs',
  children: [
    { index: true, element: <RunsPage /> },
    { path: ':id', element: <RunPage /> },
  ],
};
