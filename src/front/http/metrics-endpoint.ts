import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TenantContext } from '../../auth/context.js';
import { ErrorCode, McpTenantsError } from '../../core/errors.js';
import { PROMETHEUS_CONTENT_TYPE } from '../../telemetry/prometheus-text.js';

/** Renders `/metrics` with the series of the tenants `maySee` allows. */
export type MetricsRenderer = (maySee: (tenantId: string) => boolean) => string;

/**
 * `GET /metrics` on the main port: an operator token sees every tenant's
 * series, a tenant `admin` token only its own tenant's (never another's).
 */
export function createMetricsEndpoint(
  render: MetricsRenderer,
  authenticate: (request: IncomingMessage) => Promise<TenantContext>,
) {
  return async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const context = await authenticate(request);
    if (!context.isOperator && !context.isAdmin) {
      throw new McpTenantsError(
        ErrorCode.FORBIDDEN,
        '/metrics needs an operator token (`mcp-tenants token --operator`) or a tenant token with the admin permission',
      );
    }
    sendMetrics(
      response,
      render((tenantId) => context.isOperator || tenantId === context.tenantId),
    );
  };
}

export function sendMetrics(response: ServerResponse, text: string): void {
  response.writeHead(200, {
    'content-type': PROMETHEUS_CONTENT_TYPE,
    'content-length': Buffer.byteLength(text),
  });
  response.end(text);
}
