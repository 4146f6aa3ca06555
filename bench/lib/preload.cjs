'use strict';
/**
 * Preloaded (`node -r bench/lib/preload.cjs ...`) into every bench worker process, baseline and
 * orchestrator alike, so both are measured the same way. It answers the bench over the IPC
 * channel:
 *   { type: 'stats' }  →  { type: 'stats', cpu: process.cpuUsage(), rss, maxRss, mongo: {cmd: n} }
 * With BENCH_MONGO_MONITOR=1 it counts every MongoDB command the process sends (driver command
 * monitoring; MONGODB_URI must carry `monitorCommands=true`). A process without an IPC channel
 * (a service started by ServiceProcess) writes the same answer, with `at` (epoch ms), to
 * BENCH_STATS_FILE every 500 ms (not on a signal: Nest's shutdown hooks take SIGUSR2 as one).
 * Nothing here changes behaviour, except that a worker exits when the bench's IPC channel closes.
 */
const counts = Object.create(null);
/** By `<command> <collection>`: commands sent, and ms from sending to the reply (driver-measured). */
const byCollection = Object.create(null);
const msByCollection = Object.create(null);

function stats(id) {
  const mem = process.memoryUsage();
  return {
    type: 'stats',
    id,
    cpu: process.cpuUsage(),
    rss: mem.rss,
    heapUsed: mem.heapUsed,
    heapTotal: mem.heapTotal,
    external: mem.external,
    arrayBuffers: mem.arrayBuffers,
    maxRss: process.resourceUsage().maxRSS * 1024,
    mongo: { ...counts },
    mongoByCollection: { ...byCollection },
    mongoMsByCollection: { ...msByCollection },
  };
}

// A worker whose bench process is gone (its IPC channel closed) exits at once: a graceful
// shutdown could wait forever for a Redis that the bench stopped.
if (process.send) process.on('disconnect', () => process.exit(1));

if (process.env.BENCH_STATS_FILE) {
  const fs = require('node:fs');
  const file = process.env.BENCH_STATS_FILE;
  let seq = 0;
  setInterval(() => {
    fs.writeFileSync(`${file}.tmp`, JSON.stringify({ ...stats(++seq), at: Date.now() }));
    fs.renameSync(`${file}.tmp`, file);
  }, 500).unref();
}

if (process.env.BENCH_MONGO_MONITOR === '1') {
  const { MongoClient } = require('mongodb');
  const connect = MongoClient.prototype.connect;
  MongoClient.prototype.connect = function patchedConnect(...args) {
    if (!this.__benchMonitored) {
      this.__benchMonitored = true;
      const key = (e) => {
        const c = e.command && e.command[e.commandName];
        return `${e.commandName} ${typeof c === 'string' ? c : e.commandName === 'getMore' && e.command ? e.command.collection : ''}`.trim();
      };
      const keys = new Map(); // requestId → key, until the reply
      this.on('commandStarted', (e) => {
        counts[e.commandName] = (counts[e.commandName] || 0) + 1;
        const k = key(e);
        byCollection[k] = (byCollection[k] || 0) + 1;
        keys.set(e.requestId, k);
      });
      const done = (e) => {
        const k = keys.get(e.requestId);
        keys.delete(e.requestId);
        if (k) msByCollection[k] = (msByCollection[k] || 0) + e.duration;
      };
      this.on('commandSucceeded', done);
      this.on('commandFailed', done);
    }
    return connect.apply(this, args);
  };
}

if (typeof process.send === 'function') {
  process.on('message', (m) => {
    if (!m || m.type !== 'stats') return;
    process.send(stats(m.id));
  });
  // The IPC channel must not keep a worker alive after SIGTERM.
  if (process.channel && typeof process.channel.unref === 'function') process.channel.unref();
}
