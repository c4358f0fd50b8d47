import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ErrorCode, McpTenantsError } from '../../core/errors.js';
import type { MetricsRenderer } from './metrics-endpoint.js';
import { sendMetrics } from './metrics-endpoint.js';

export interface MetricsServer {
  /** `http://<host>:<port>/metrics`. */
  readonly url: string;
  close(): Promise<void>;
}

/**
 * `telemetry.metrics_listen`: `/metrics` for a Prometheus scraper on a
 * loopback address of its own, without a token (the manifest refuses
 * anything but loopback). Every tenant's series; nothing else is served.
 */
export async function startMetricsServer(
  listen: string,
  render: MetricsRenderer,
): Promise<MetricsServer> {
  const at = listen.lastIndexOf(':');
  const host = listen.slice(0, at).replace(/^\[(.*)\]$/, '$1');
  const port = Number(listen.slice(at + 1));
  const server = createServer((request, response) => {
    const path = (request.url ?? '/').split('?', 1)[0];
    if (request.method === 'GET' && path === '/metrics') {
      sendMetrics(
        response,
        render(() => true),
      );
      return;
    }
    response.writeHead(404, { 'content-type': 'text/plain' }).end('only GET /metrics here\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(
        new McpTenantsError(
          ErrorCode.USAGE,
          `cannot serve /metrics on ${listen} (telemetry.metrics_listen): ${error.code === 'EADDRINUSE' ? 'the port is in use; pick another' : error.message}`,
          { cause: error },
        ),
      ),
    );
    server.listen(port, host, () => resolve());
  });
  const bound = (server.address() as AddressInfo).port;
  const hostForUrl = host.includes(':') ? `[${host}]` : host;
  let closing: Promise<void> | undefined;
  return {
    url: `http://${hostForUrl}:${bound}/metrics`,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}
