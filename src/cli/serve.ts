import { Command, InvalidArgumentError, Option } from 'commander';
import { Supervisor } from '../app/supervisor.js';
import type { Manifest } from '../core/config.js';
import { ErrorCode, McpTenantsError } from '../core/errors.js';
import { createLogger, type Logger, type LogLevel } from '../core/logger.js';
import { loadManifest } from '../manifest/load.js';
import { watchManifest } from '../manifest/watch.js';
import { manifestOption, parsePort } from './options.js';
import { isWorker, reportReady, runPrimary, stopWithPrimary } from './workers.js';

interface ServeOptions {
  manifest: string;
  port?: number;
  host?: string;
  stdio?: boolean;
  workers?: number;
  watch: boolean;
  logLevel: LogLevel;
}

export function serveCommand(): Command {
  return new Command('serve')
    .description(
      'serve every tenant of the manifest: Streamable HTTP at /mcp, or one stdio connection with --stdio',
    )
    .addOption(manifestOption())
    .option('-p, --port <port>', 'HTTP port (0 picks a free one; default: server.port)', parsePort)
    .option('--host <address>', 'address to bind (default: server.host, 127.0.0.1)')
    .option(
      '--stdio',
      'serve one MCP connection on stdin/stdout; the token comes from MCP_TENANT_TOKEN',
    )
    .option(
      '--workers <count>',
      'processes sharing the port, one cluster (default: server.workers, 1); e.g. one per core',
      parseWorkers,
    )
    .option('--no-watch', 'do not reload when the manifest file changes (SIGHUP still reloads)')
    .addOption(
      new Option('--log-level <level>', 'stderr log level')
        .choices(['debug', 'info', 'warn', 'error', 'silent'])
        .default('info'),
    )
    .addHelpText(
      'after',
      `
The manifest is reloaded on SIGHUP and when the file changes: tenants are
added, removed and changed without dropping other tenants' sessions; an
invalid file is refused and the running configuration kept.

Examples:
  $ mcp-tenants serve -m tenants.yaml --port 0
  $ MCP_TENANT_TOKEN=$(mcp-tenants token acme --user alice) mcp-tenants serve --stdio`,
    )
    .action((options: ServeOptions) => serve(options));
}

async function serve(options: ServeOptions): Promise<void> {
  const log = createLogger({ level: options.logLevel });
  surviveFaults(log);
  const manifest = loadManifest(options.manifest);
  const workers = options.workers ?? manifest.server.workers;
  const worker = isWorker();
  if (workers > 1 && !options.stdio && !worker) {
    await runPrimary(workers, log, (ready) =>
      printBanner(
        options,
        manifest,
        ready[0]?.url ?? '',
        undefined,
        ready.map((one) => one.nodeId),
      ),
    );
    return;
  }
  const supervisor = await Supervisor.open({ manifest, log, worker });
  const reload = (): void => {
    supervisor.reload(() => loadManifest(options.manifest));
  };
  process.on('SIGHUP', reload);
  const stopWatching = options.watch ? watchManifest(options.manifest, reload) : () => {};
  const stop = shutdownOnSignals(supervisor, stopWatching, worker);
  // A worker stops with its primary, even one killed while this worker starts.
  if (worker) stopWithPrimary(stop);

  if (options.stdio) {
    const token = process.env.MCP_TENANT_TOKEN;
    if (!token) {
      await supervisor.close();
      throw new McpTenantsError(
        ErrorCode.AUTH_MISSING,
        'MCP_TENANT_TOKEN is not set; put a tenant token there (`mcp-tenants token <tenant> --user <you>`)',
      );
    }
    try {
      const front = await supervisor.startStdio(token, process.stdin, process.stdout);
      log.info('serving one stdio connection');
      await front.ended;
    } finally {
      await stop();
    }
    return;
  }

  const front = await supervisor.startHttp({ port: options.port, host: options.host });
  if (worker) {
    reportReady({ type: 'ready', url: front.url, nodeId: supervisor.nodeId });
    return;
  }
  printBanner(
    options,
    manifest,
    front.url,
    supervisor.metricsUrl,
    supervisor.isClusterNode ? [supervisor.nodeId] : [],
  );
}

function printBanner(
  options: ServeOptions,
  manifest: Manifest,
  url: string,
  metricsUrl: string | undefined,
  nodes: string[],
): void {
  const count = manifest.tenants.size;
  process.stdout.write(
    `mcp-tenants: serving ${count} tenant${count === 1 ? '' : 's'} at ${url}\n` +
      (manifest.server.public_url ? `  clients use: ${manifest.server.public_url}/mcp\n` : '') +
      `  get a token: mcp-tenants token <tenant> -m ${options.manifest} --user <you>\n` +
      `  tenants: ${[...manifest.tenants.keys()].join(', ') || '(none yet: mcp-tenants add-tenant)'}\n` +
      (metricsUrl ? `  metrics: ${metricsUrl}\n` : '') +
      (nodes.length === 1 ? `  node: ${nodes[0]}\n` : '') +
      (nodes.length > 1 ? `  workers: ${nodes.length} (nodes ${nodes.join(', ')})\n` : ''),
  );
}

function parseWorkers(value: string): number {
  const count = Number(value);
  if (!Number.isInteger(count) || count < 1 || count > 256) {
    throw new InvalidArgumentError('expected a number of worker processes from 1 to 256');
  }
  return count;
}

/**
 * A fault ends a message or a session, never the service: every tenant's
 * work is guarded where it is handled, and what still escapes (a bug) is
 * logged, with its stack, instead of taking every tenant down with it.
 */
function surviveFaults(log: Logger): void {
  const report =
    (kind: string) =>
    (error: unknown): void => {
      log.error(`${kind}; the supervisor goes on (please report this as a bug)`, {
        error: error instanceof Error ? error.message : String(error),
        stack: error instanceof Error ? error.stack : undefined,
      });
    };
  process.on('uncaughtException', report('uncaught exception'));
  process.on('unhandledRejection', report('unhandled rejection'));
}

/**
 * SIGINT/SIGTERM stop gracefully (fronts, then children) and exit 0; a second
 * signal exits at once — the children still exit, on their stdin's EOF.
 */
function shutdownOnSignals(
  supervisor: Supervisor,
  stopWatching: () => void,
  worker: boolean,
): () => Promise<void> {
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopWatching();
    stopping ??= supervisor.close();
    return stopping;
  };
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) {
      // A worker may get a signal twice (from a process-group kill and from its
      // primary): its primary decides when to give up waiting.
      if (worker) return;
      process.exit(130);
    }
    process.stderr.write(`mcp-tenants: ${signal} received, stopping\n`);
    void stop().then(() => process.exit(0));
  };
  // A worker's Ctrl-C comes from its primary, as SIGTERM, once for all.
  process.on('SIGINT', worker ? () => {} : onSignal);
  process.on('SIGTERM', onSignal);
  return stop;
}
