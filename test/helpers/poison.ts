import { spawn, spawnSync } from 'node:child_process';
import type { Report } from '../../src/telemetry/report.js';
import { descendants, waitFor, waitGone } from './processes.js';
import { CLI, runCli } from './serve-process.js';

/** Objects nested `depth` levels deep, as text (JSON.stringify could not make it). */
export function deepJson(depth: number): string {
  return `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
}

/** A `tools/call` whose arguments nest `depth` levels; `idLast` puts the id after them. */
export function deepCall(id: string | number, depth = 10_000, idLast = false): string {
  const head = '{"jsonrpc":"2.0","method":"tools/call",';
  const params = `"params":{"name":"data_set","arguments":${deepJson(depth)}}`;
  const idMember = `"id":${JSON.stringify(id)}`;
  return idLast ? `${head}${params},${idMember}}` : `${head}${idMember},${params}}`;
}

export interface AuditLine {
  tenant: string;
  user: string;
  action: string;
  target: string | null;
  outcome: string;
  detail: { arguments?: Record<string, unknown> } | null;
}

/** The audit trail and report of a manifest from `since` on, read with the CLI as a user would. */
export function trailOf(manifestPath: string, since: number) {
  const window = [
    '-m',
    manifestPath,
    '--since',
    new Date(since).toISOString(),
    '--until',
    new Date(Date.now() + 3_600_000).toISOString(),
    '--format',
    'json',
  ];
  const run = (command: string, extra: string[] = []) => {
    // A long fuzz run's trail is many megabytes of JSON.
    const result = spawnSync(process.execPath, [CLI, command, ...window, ...extra], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH ?? '' },
      maxBuffer: 512 * 1024 * 1024,
    });
    if (result.status !== 0) throw new Error(`${command} failed: ${result.stderr}`);
    return JSON.parse(result.stdout) as unknown;
  };
  return {
    /** Rows oldest first; `extra` adds options such as `--user`, `--limit`. */
    audit: (...extra: string[]): AuditLine[] => (run('audit', extra) as { rows: AuditLine[] }).rows,
    report: (): Report => run('report') as Report,
    verified: (): boolean => {
      const result = runCli(['audit', 'verify', '-m', manifestPath, '--json']);
      const chains = (JSON.parse(result.stdout) as { chains: { ok: boolean }[] }).chains;
      return result.code === 0 && chains.every((chain) => chain.ok);
    },
  };
}

/** A GET event stream of a session, read in the background until `close()`. */
export async function openEventStream(url: string, token: string, session: string) {
  const abort = new AbortController();
  const response = await fetch(url, {
    headers: {
      authorization: `Bearer ${token}`,
      'mcp-session-id': session,
      accept: 'text/event-stream',
    },
    signal: abort.signal,
  });
  if (response.status !== 200 || !response.body) {
    throw new Error(`GET stream answered ${response.status}`);
  }
  let text = '';
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  const reading = (async () => {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      text += decoder.decode(value, { stream: true });
    }
  })().catch(() => {});
  return {
    text: () => text,
    async close() {
      abort.abort();
      await reading;
    },
  };
}

export interface RawStdio {
  pid: number;
  /** Writes one line: a message, or a text as it is. */
  send(message: unknown): void;
  /** Waits for the message with this id on stdout. */
  answerTo(id: string | number, timeoutMs?: number): Promise<Record<string, unknown>>;
  /** Ends stdin and waits for the exit; returns the exit code and any process left behind. */
  close(): Promise<{ code: number | null; survivors: number[] }>;
}

/** `serve --stdio` driven line by line, initialized, for input no SDK client would send. */
export async function startRawStdio(manifestPath: string, token: string): Promise<RawStdio> {
  const child = spawn(
    process.execPath,
    [CLI, 'serve', '--stdio', '-m', manifestPath, '--log-level', 'warn'],
    { env: { PATH: process.env.PATH ?? '', MCP_TENANT_TOKEN: token } },
  );
  const pid = child.pid as number;
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  child.stdin.on('error', () => {});
  // Answers by id; a long run must not keep every line it ever read.
  const answers = new Map<unknown, Record<string, unknown>>();
  let partial = '';
  child.stdout.on('data', (chunk: Buffer) => {
    const lines = (partial + chunk.toString()).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      if (line.trim() === '') continue;
      const message = JSON.parse(line) as Record<string, unknown>;
      if ('id' in message) answers.set(message.id, message);
    }
  });
  const stdio: RawStdio = {
    pid,
    send: (message) =>
      child.stdin.write(`${typeof message === 'string' ? message : JSON.stringify(message)}\n`),
    async answerTo(id, timeoutMs = 10_000) {
      const answer = await waitFor(() => answers.get(id), timeoutMs, `the answer to ${id}`);
      answers.delete(id);
      return answer;
    },
    async close() {
      const before = descendants(pid);
      child.stdin.end();
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      const code = await exited;
      clearTimeout(timer);
      return { code, survivors: await waitGone(before) };
    },
  };
  try {
    stdio.send({
      jsonrpc: '2.0',
      id: 0,
      method: 'initialize',
      params: {
        protocolVersion: '2025-11-25',
        capabilities: {},
        clientInfo: { name: 'raw', version: '1' },
      },
    });
    await stdio.answerTo(0);
    stdio.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
  return stdio;
}
