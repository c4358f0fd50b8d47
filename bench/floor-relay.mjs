// The floor: a deliberately minimal Streamable HTTP relay over one shared stdio child.
// No auth, no quotas, no telemetry, JSON answers only. It shows what any Node relay
// reaches on this machine. Usage: node bench/floor-relay.mjs <command> [args...]
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import http from 'node:http';

const [command, ...args] = process.argv.slice(2);
const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'inherit'] });
const send = (message) => child.stdin.write(`${JSON.stringify(message)}\n`);
const pending = new Map(); // child-side id -> callback(message)
const sessions = new Set();
let nextId = 1;
let buffer = '';

child.stdout.setEncoding('utf8');
child.stdout.on('data', (text) => {
  const lines = (buffer + text).split('\n');
  buffer = lines.pop();
  for (const line of lines) {
    if (line === '') continue;
    const message = JSON.parse(line);
    const callback = message.method === undefined ? pending.get(message.id) : undefined;
    if (!callback) continue; // notifications and child requests are dropped
    pending.delete(message.id);
    callback(message);
  }
});

function reply(response, status, body, session) {
  const text = JSON.stringify(body);
  const headers = { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) };
  if (session) headers['mcp-session-id'] = session;
  response.writeHead(status, headers).end(text);
}

// One initialize for the child; every session's initialize is answered from it.
const initialized = new Promise((resolve) => pending.set(0, resolve));
send({
  jsonrpc: '2.0',
  id: 0,
  method: 'initialize',
  params: {
    protocolVersion: '2025-11-25',
    capabilities: {},
    clientInfo: { name: 'floor', version: '1' },
  },
});
const { result: childInfo } = await initialized;
send({ jsonrpc: '2.0', method: 'notifications/initialized' });

const server = http.createServer((request, response) => {
  const session = request.headers['mcp-session-id'];
  if (request.method === 'DELETE') {
    sessions.delete(session);
    return response.writeHead(200).end();
  }
  const chunks = [];
  request.on('data', (chunk) => chunks.push(chunk));
  request.on('end', () => {
    const message = JSON.parse(Buffer.concat(chunks).toString());
    if (message.method === 'initialize') {
      const id = randomUUID();
      sessions.add(id);
      return reply(response, 200, { jsonrpc: '2.0', id: message.id, result: childInfo }, id);
    }
    if (!sessions.has(session))
      return reply(response, 404, {
        jsonrpc: '2.0',
        id: null,
        error: { code: -32001, message: 'unknown session' },
      });
    if (message.id === undefined) {
      if (message.method !== 'notifications/initialized') send(message);
      return response.writeHead(202).end();
    }
    const clientId = message.id;
    const childId = nextId++;
    pending.set(childId, (answer) => {
      answer.id = clientId;
      reply(response, 200, answer, session);
    });
    message.id = childId;
    send(message);
  });
});
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`floor relay at http://127.0.0.1:${server.address().port}/mcp\n`);
});

const stop = () => {
  server.close();
  server.closeAllConnections();
  child.stdin.end();
  setTimeout(() => child.kill('SIGKILL'), 2000).unref();
};
child.once('exit', () => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
