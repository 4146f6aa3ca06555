'use strict';
/**
 * Preloaded (`node -r bench/lib/preload.cjs ...`) into every bench worker process, baseline and
 * orchestrator alike, so both are measured the same way. It answers the bench over the IPC
 * channel:
 *   { type: 'stats' }  →  { type: 'stats', cpu: process.cpuUsage(), rss, maxRss, mongo: {cmd: n} }
 * With BENCH_MONGO_MONITOR=1 it counts every MongoDB command the process sends (driver command
 * monitoring; MONGODB_URI must carry `monitorCommands=true`). Nothing here changes behaviour.
 */
const counts = Object.create(null);

if (process.env.BENCH_MONGO_MONITOR === '1') {
  const { MongoClient } = require('mongodb');
  const connect = MongoClient.prototype.connect;
  MongoClient.prototype.connect = function patchedConnect(...args) {
    if (!this.__benchMonitored) {
      this.__benchMonitored = true;
      this.on('commandStarted', (e) => {
        counts[e.commandName] = (counts[e.commandName] || 0) + 1;
      });
    }
    return connect.apply(this, args);
  };
}

if (typeof process.send === 'function') {
  process.on('message', (m) => {
    if (!m || m.type !== 'stats') return;
    const mem = process.memoryUsage();
    process.send({
      type: 'stats',
      id: m.id,
      cpu: process.cpuUsage(),
      rss: mem.rss,
      heapUsed: mem.heapUsed,
      heapTotal: mem.heapTotal,
      external: mem.external,
      arrayBuffers: mem.arrayBuffers,
      maxRss: process.resourceUsage().maxRSS * 1024,
      mongo: { ...counts },
    });
  });
  // The IPC channel must not keep a worker alive after SIGTERM.
  if (process.channel && typeof process.channel.unref === 'function') process.channel.unref();
}
