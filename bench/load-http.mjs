// A raw node:http MCP client for load: keep-alive sockets, no SDK, JSON and SSE answers.
import http from 'node:http';

export const PROTOCOL_VERSION = '2025-11-25';
const ECHO_TEXT = 'hello';

/** One Streamable HTTP endpoint with a keep-alive socket pool. */
export class HttpEndpoint {
  constructor(url, { token, maxSockets = 64 } = {}) {
    const parsed = new URL(url);
    this.host = parsed.hostname;
    this.port = Number(parsed.port);
    this.path = parsed.pathname;
    this.agent = new http.Agent({ keepAlive: true, maxSockets, maxFreeSockets: maxSockets });
    this.baseHeaders = {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    };
  }

  /** One HTTP request; resolves with status, headers and the raw body text. */
  request(method, body, headers = {}) {
    return new Promise((resolve, reject) => {
      const payload = body === undefined ? undefined : JSON.stringify(body);
      const request = http.request(
        {
          host: this.host,
          port: this.port,
          path: this.path,
          method,
          agent: this.agent,
          headers: {
            ...this.baseHeaders,
            ...headers,
            ...(payload === undefined ? {} : { 'content-length': Buffer.byteLength(payload) }),
          },
        },
        (response) => {
          const chunks = [];
          response.on('data', (chunk) => chunks.push(chunk));
          response.on('end', () =>
            resolve({
              status: response.statusCode,
              headers: response.headers,
              text: chunks.length === 1 ? chunks[0].toString() : Buffer.concat(chunks).toString(),
            }),
          );
          response.on('error', reject);
        },
      );
      request.on('error', reject);
      request.end(payload);
    });
  }

  /** POSTs a JSON-RPC request and returns the response message with the same id. */
  async rpc(message, headers) {
    const reply = await this.request('POST', message, headers);
    if (reply.status !== 200) {
      throw new Error(`${message.method}: HTTP ${reply.status} ${reply.text.slice(0, 200)}`);
    }
    const answer = findAnswer(reply, message.id);
    if (!answer) throw new Error(`${message.method}: no answer in ${reply.text.slice(0, 200)}`);
    if (answer.error) throw new Error(`${message.method}: ${JSON.stringify(answer.error)}`);
    return { answer, headers: reply.headers };
  }

  close() {
    this.agent.destroy();
  }
}

/** The JSON-RPC response with `id`, from a JSON body or an SSE stream. */
export function findAnswer(reply, id) {
  const type = reply.headers['content-type'] ?? '';
  if (type.includes('text/event-stream')) {
    for (const line of reply.text.split('\n')) {
      if (!line.startsWith('data:')) continue;
      const data = line.slice(5).trim();
      if (data === '') continue; // a priming event (resumability), no message
      const message = JSON.parse(data);
      if (message.id === id && ('result' in message || 'error' in message)) return message;
    }
    return undefined;
  }
  const message = JSON.parse(reply.text);
  return message.id === id ? message : undefined;
}

/** The `initialize` request every session starts with. */
export function initializeMessage() {
  return {
    jsonrpc: '2.0',
    id: 0,
    method: 'initialize',
    params: {
      protocolVersion: PROTOCOL_VERSION,
      capabilities: {},
      clientInfo: { name: 'mcp-tenants-bench', version: '1' },
    },
  };
}

/** An initialized MCP session over an endpoint (one virtual client). */
export class HttpSession {
  constructor(endpoint) {
    this.endpoint = endpoint;
    this.nextId = 1;
    this.headers = {};
  }

  /** initialize + notifications/initialized, as every client does first. */
  async open() {
    const { answer, headers } = await this.endpoint.rpc(initializeMessage());
    const sessionId = headers['mcp-session-id'];
    this.headers = {
      ...(sessionId ? { 'mcp-session-id': sessionId } : {}),
      'mcp-protocol-version': answer.result.protocolVersion ?? PROTOCOL_VERSION,
    };
    const note = await this.endpoint.request(
      'POST',
      { jsonrpc: '2.0', method: 'notifications/initialized' },
      this.headers,
    );
    if (note.status >= 300) throw new Error(`notifications/initialized: HTTP ${note.status}`);
    return this;
  }

  async listTools() {
    const { answer } = await this.endpoint.rpc(
      { jsonrpc: '2.0', id: this.nextId++, method: 'tools/list', params: {} },
      this.headers,
    );
    return answer.result.tools;
  }

  /** One `echo` tools/call; throws unless the text comes back. */
  async echo() {
    const { answer } = await this.endpoint.rpc(
      {
        jsonrpc: '2.0',
        id: this.nextId++,
        method: 'tools/call',
        params: { name: 'echo', arguments: { text: ECHO_TEXT } },
      },
      this.headers,
    );
    if (answer.result?.content?.[0]?.text !== ECHO_TEXT) {
      throw new Error(`echo: unexpected result ${JSON.stringify(answer.result).slice(0, 200)}`);
    }
  }

  /** DELETE, so servers with a child per session can stop it; errors ignored. */
  async close() {
    if (!this.headers['mcp-session-id']) return;
    await this.endpoint.request('DELETE', undefined, this.headers).catch(() => {});
  }
}
