/**
 * SSE clients for the fan-out bench, in their own process (forked by bench/lib/dashboard.ts) so
 * their parsing does not share the submitting process's event loop. argv: <url> <tenant> <n>.
 * Opens n `GET <url>` streams with `X-Tenant-Id`, and counts in each the job events whose state is
 * COMPLETED (a substring count across chunk boundaries: no parsing, as cheap as a client can be).
 * IPC: sends { type: 'connected' } once every stream answered; answers { type: 'report' } with
 * { type: 'report', completed: number[] }; exits on { type: 'close' } or when its parent goes.
 */
'use strict';
const http = require('node:http');

const [url, tenant, n] = [process.argv[2], process.argv[3], Number(process.argv[4])];
const NEEDLE = '"state":"COMPLETED"';
const counts = new Array(n).fill(0);
const requests = [];
let connected = 0;

for (let i = 0; i < n; i++) {
  const req = http.get(url, { headers: { 'x-tenant-id': tenant }, agent: false }, (res) => {
    if (res.statusCode !== 200) {
      process.send({ type: 'error', message: `client ${i}: HTTP ${res.statusCode}` });
      return;
    }
    if (++connected === n) process.send({ type: 'connected' });
    res.setEncoding('utf8');
    let tail = '';
    res.on('data', (chunk) => {
      const text = tail + chunk;
      let at = text.indexOf(NEEDLE);
      while (at >= 0) {
        counts[i]++;
        at = text.indexOf(NEEDLE, at + NEEDLE.length);
      }
      tail = text.slice(-(NEEDLE.length - 1));
    });
  });
  req.on('error', (e) => process.send({ type: 'error', message: `client ${i}: ${e.message}` }));
  requests.push(req);
}

process.on('message', (m) => {
  if (m.type === 'report') process.send({ type: 'report', completed: counts });
  if (m.type === 'close') {
    for (const r of requests) r.destroy();
    process.exit(0);
  }
});
process.on('disconnect', () => process.exit(0));
