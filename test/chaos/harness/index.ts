/**
 * Chaos harness: runs the real service as separate OS processes (`node main.js --role=api` and
 * `--role=worker`), on loopback only, so tests can kill -9, SIGTERM, SIGSTOP/SIGCONT them, and
 * restart the test's own redis-server and FerretDB.
 *
 * - {@link buildMain} compiles src/ once per content hash into .cache/chaos-dist/<hash> (tsc, the
 *   same compiler `nest build` uses) — a private directory, because `nest build` empties dist/,
 *   which other processes in this tree may be running from. `CHAOS_MAIN=<main.js>` runs another
 *   build instead (e.g. of an older commit, to see a test catch a regression).
 * - {@link Cluster} gives each test its own QUEUE_PREFIX / MONGODB_DB, short BullMQ lock and
 *   stalled intervals, a fast sweeper, and the MockAgent's cross-process call log
 *   (MOCK_AGENT_CALL_LOG_KEY, a Redis list under the prefix). `cleanup()` kills every child and
 *   drops the database and the prefix's Redis keys.
 * - {@link checkJob} proves a job's history is a legal path of the statechart (replayed through
 *   the pure machine) and exactly the path its `mock:` script implies, with one commit per step.
 *
 * Every child is registered in {@link children}; `killEverything()` (afterAll, and process exit)
 * sends SIGKILL to any still alive.
 *
 * Parts: process.ts (build, children), servers.ts (redis-server, FerretDB), cluster.ts (the
 * service's processes and the reads tests check them by), verdict.ts (a job's expected path).
 */
export * from './process';
export * from './servers';
export * from './cluster';
export * from './verdict';
