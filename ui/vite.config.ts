import { defineConfig } from 'vite';

/** This folder, whatever the working directory (`npm run build:ui` runs from the repository root). */
const root = decodeURIComponent(new URL('.', import.meta.url).pathname);

/** API paths the dev server forwards to the service (`npm start`, port 3000). */
const API_PATHS = ['/jobs', '/events', '/workers', '/queues', '/whoami', '/healthz', '/statecharts', '/runs', '/pipeline-templates', '/artifacts'];
const API_TARGET = process.env.AICD_API_URL ?? 'http://127.0.0.1:3000';

/**
 * The operator dashboard: a single-page app served by the service at /ui (hash routes, so any
 * static server works). Built into ui/dist; everything is bundled (no CDN, no web fonts).
 * JSX is compiled by Vite's own Oxc transform (automatic runtime), so no React plugin is needed;
 * the dev server reloads the page on change instead of React Fast Refresh.
 */
export default defineConfig({
  root,
  base: '/ui/',
  publicDir: false,
  // The dev server's dependency cache beside the repository's node_modules, not in ui/.
  cacheDir: '../node_modules/.vite/ui',
  oxc: { jsx: { runtime: 'automatic', importSource: 'react' } },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    sourcemap: false,
    // Mermaid is loaded on demand (dynamic import) and is large on its own.
    chunkSizeWarningLimit: 900,
    rolldownOptions: {
      onwarn(warning, warn) {
        // react-router marks its modules "use client" (for React Server Components): meaningless in a plain SPA.
        if (warning.code === 'MODULE_LEVEL_DIRECTIVE') return;
        warn(warning);
      },
    },
  },
  server: {
    port: 5173,
    strictPort: false,
    proxy: Object.fromEntries(API_PATHS.map((p) => [p, { target: API_TARGET, changeOrigin: false }])),
  },
  preview: { port: 4173 },
});
