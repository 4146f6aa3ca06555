import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import type { NestExpressApplication } from '@nestjs/platform-express';
import type { Express, Request, Response } from 'express';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { AppConfig } from '../config/config';
import { BullStageDispatcher } from '../queues/bull-stage.dispatcher';
import { adminAuth } from './admin-auth';

/** Where the dashboard's built files are: UI_DIR, else ui/dist of the repository. */
export function uiDirectory(config: Pick<AppConfig, 'UI_DIR'>): string {
  return config.UI_DIR ? resolve(config.UI_DIR) : resolve(__dirname, '..', '..', 'ui', 'dist');
}

/** Path of Bull Board. */
export const BULL_BOARD_PATH = '/admin/queues';
/** Path of the dashboard. */
export const UI_PATH = '/ui';

/**
 * Mounts the pages for people, beside the REST API (an API process only):
 * - `/ui`: the dashboard (React single-page app built into ui/dist by `npm run build:ui`), static
 *   files with long caching for hashed assets, index.html for every other path under /ui; 503 with
 *   the command to run when it was not built. `/` redirects to it.
 * - `/admin/queues`: Bull Board (@bull-board/express) over every queue of the service, behind
 *   ADMIN_TOKEN (see {@link adminAuth}).
 */
export function mountOperatorPages(app: NestExpressApplication, config: AppConfig): void {
  const board = new ExpressAdapter();
  board.setBasePath(BULL_BOARD_PATH);
  createBullBoard({
    queues: app
      .get(BullStageDispatcher)
      .allQueues()
      .map(({ queue }) => new BullMQAdapter(queue)),
    serverAdapter: board,
    options: { uiConfig: { boardTitle: 'aicd-orchestrator' } },
  });
  app.use(BULL_BOARD_PATH, adminAuth(config.ADMIN_TOKEN), board.getRouter());

  const dir = uiDirectory(config);
  const index = join(dir, 'index.html');
  app.use(UI_PATH, (req: Request, res: Response, next: () => void) => {
    if (!existsSync(index)) {
      res.status(503).type('text/plain').send(`the dashboard is not built (${index} is missing): run npm run build:ui`);
      return;
    }
    next();
  });
  const assets = join(dir, 'assets');
  app.useStaticAssets(dir, {
    prefix: UI_PATH,
    index: 'index.html',
    fallthrough: true,
    // Vite names assets by content hash: they never change; index.html must be asked for again.
    setHeaders: (res, path) => res.setHeader('Cache-Control', path.startsWith(assets) ? 'public, max-age=31536000, immutable' : 'no-cache'),
  });
  app.use(UI_PATH, (req: Request, res: Response) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.status(404).json({ statusCode: 404, error: 'Not Found', message: `${req.method} ${UI_PATH}${req.path} not found` });
      return;
    }
    res.setHeader('Cache-Control', 'no-cache');
    res.sendFile(index);
  });
  (app.getHttpAdapter().getInstance() as Express).get('/', (_req: Request, res: Response) => res.redirect(302, `${UI_PATH}/`));
}
