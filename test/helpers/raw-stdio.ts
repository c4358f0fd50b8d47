import { spawn } from 'node:child_process';
import { INITIALIZE } from './mcp-client.js';
import { descendants, waitFor, waitGone } from './processes.js';
import { CLI } from './serve-process.js';

export interface RawStdio {
  pid: number;
  /** Writes one line: a message, or a text as it is. */
  send(message: unknown): void;
  /** Waits for the message with this id on stdout. */
  answerTo(id: string | number, timeoutMs?: number): Promise<Record<string, unknown>>;
  /** What the supervisor logged so far. */
  stderr(): string;
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
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
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
    stderr: () => stderr,
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
    stdio.send(INITIALIZE);
    await stdio.answerTo(0);
    stdio.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
  return stdio;
}
