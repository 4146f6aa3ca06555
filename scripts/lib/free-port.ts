import * as net from 'node:net';

/**
 * A TCP port the OS considers free on 127.0.0.1: binds port 0, reads the port, closes. Another
 * process may take it before the caller binds it, so callers that start servers retry on a crash.
 * @throws Error when no port could be determined.
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => (port ? resolve(port) : reject(new Error('could not determine a free port'))));
    });
  });
}
