import type { RouteObject } from 'react-router';
import { RunsPage } from './RunsPage';

/** `#/runs` (and later `#/runs/:id`, in the style of `#/jobs/:id`). */
export const runsRoute: RouteObject = { path: 'runs', element: <RunsPage /> };
