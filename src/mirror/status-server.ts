import http from 'node:http';
import type { MirrorMetrics } from './metrics.js';

/**
 * The HTTP endpoint: `/lag` (plain number: source index minus applied index), `/metrics`
 * (Prometheus text), `/health` (200 `ok` while replicating, 503 `not replicating: WHY` otherwise).
 */
export function startStatusServer(metrics: MirrorMetrics, host: string, port: number): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/lag') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end(`${metrics.lag}\n`);
    } else if (path === '/metrics') {
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(metrics.render());
    } else if (path === '/health') {
      res
        .writeHead(metrics.isReplicating ? 200 : 503, { 'content-type': 'text/plain' })
        .end(
          metrics.isReplicating
            ? 'ok\n'
            : `not replicating${metrics.stoppedBecause ? `: ${metrics.stoppedBecause}` : ''}\n`,
        );
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('try /lag, /metrics or /health\n');
    }
  });
  server.keepAliveTimeout = 5000;
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(server));
  });
}
