// A raw newline-delimited JSON-RPC client over a child's stdin/stdout, many requests in flight.
import { spawn } from 'node:child_process';
import { PROTOCOL_VERSION } from './load-http.mjs';

const ECHO_TEXT = 'hello';

/** One stdio MCP connection: a spawned process speaking JSON-RPC lines. */
export class StdioConnection {
  constructor(command, args, { env = process.env, cwd } = {}) {
    this.child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'], env, cwd });
    this.pid = this.child.pid;
    this.pending = new Map();
    this.nextId = 1;
    this.stderrTail = '';
    this.buffer = '';
    this.exited = new Promise((resolve) => this.child.once('exit', (code) => resolve(code)));
    this.child.stdin.on('error', () => {});
    this.child.stderr.setEncoding('utf8');
    this.child.stderr.on('data', (text) => {
      this.stderrTail = (this.stderrTail + text).slice(-4000);
    });
    this.child.stdout.setEncoding('utf8');
    this.child.stdout.on('data', (text) => this.onData(text));
    void this.exited.then((code) => {
      const error = new Error(`stdio server exited (${code}): ${this.stderrTail.slice(-500)}`);
      for (const { reject } of this.pending.values()) reject(error);
      this.pending.clear();
    });
  }

  onData(text) {
    const lines = (this.buffer + text).split('\n');
    this.buffer = lines.pop();
    for (const line of lines) {
      if (line === '') continue;
      const message = JSON.parse(line);
      if (message.id === undefined || message.method !== undefined) continue; // notification
      const waiter = this.pending.get(message.id);
      if (!waiter) continue;
      this.pending.delete(message.id);
      if (message.error) waiter.reject(new Error(JSON.stringify(message.error)));
      else waiter.resolve(message.result);
    }
  }

  request(method, params) {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.child.stdin.write(`${JSON.stringify({ jsonrpc: '2.0', id, method, params })}\n`);
    });
  }

  notify(method, params) {
    this.child.stdin.write(`${JSON.stringify({ jsonrpc: '2.0', method, params })}\n`);
  }

  async initialize() {
    const result = await this.request('initialize', {
      protocolVersion: PROTOCOL_VERSION,
      capabilities: {},
      clientInfo: { name: 'mcp-tenants-bench', version: '1' },
    });
    this.notify('notifications/initialized');
    return result;
  }

  async echo() {
    const result = await this.request('tools/call', {
      name: 'echo',
      arguments: { text: ECHO_TEXT },
    });
    if (result?.content?.[0]?.text !== ECHO_TEXT) {
      throw new Error(`echo: unexpected result ${JSON.stringify(result).slice(0, 200)}`);
    }
  }

  /** Closes stdin (the polite stop), then SIGKILL after `graceMs`. */
  async close(graceMs = 2000) {
    this.child.stdin.end();
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }
}
