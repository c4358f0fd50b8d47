import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

/** The official SDK client over Streamable HTTP with a bearer token. */
export async function connectHttp(url: string, token: string): Promise<Client> {
  const transport = new StreamableHTTPClientTransport(new URL(url), {
    requestInit: { headers: { Authorization: `Bearer ${token}` } },
  });
  const client = new Client({ name: 'mcp-tenants-test', version: '1.0.0' });
  await client.connect(transport);
  return client;
}

/** The text of a tool result's first content item. */
export function textOf(result: unknown): string {
  const content = (result as { content?: { type: string; text?: string }[] }).content ?? [];
  return content[0]?.text ?? '';
}

export interface RawResponse {
  status: number;
  headers: Headers;
  body: unknown;
}

/** A raw POST to /mcp, for the cases the SDK client would never send. */
export async function rawPost(
  url: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<RawResponse> {
  const response = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      ...headers,
    },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    // Not JSON (an SSE stream): keep the text.
  }
  return { status: response.status, headers: response.headers, body: parsed };
}

export interface StatelessCall {
  token: string;
  method: string;
  params?: Record<string, unknown>;
  id?: number | string;
  /** `io.modelcontextprotocol/clientCapabilities`; `{}` when not given. */
  capabilities?: Record<string, unknown>;
  /** Headers that replace (or, set to undefined, remove) the mirrored ones. */
  headers?: Record<string, string | undefined>;
}

/**
 * A well-formed stateless (2026-07-28) request as raw HTTP: `_meta` with the
 * protocol version and client capabilities, and the mirrored headers
 * (MCP-Protocol-Version, Mcp-Method, Mcp-Name for the name or uri).
 */
export function statelessPost(url: string, call: StatelessCall): Promise<RawResponse> {
  const params = call.params ?? {};
  const meta = (params._meta ?? {}) as Record<string, unknown>;
  const name = (params.name ?? params.uri) as string | undefined;
  const headers: Record<string, string | undefined> = {
    authorization: `Bearer ${call.token}`,
    'mcp-protocol-version': '2026-07-28',
    'mcp-method': call.method,
    ...(name === undefined ? {} : { 'mcp-name': name }),
    ...call.headers,
  };
  const sent = Object.fromEntries(
    Object.entries(headers).filter((entry): entry is [string, string] => entry[1] !== undefined),
  );
  return rawPost(
    url,
    {
      jsonrpc: '2.0',
      id: call.id ?? 1,
      method: call.method,
      params: {
        ...params,
        _meta: {
          'io.modelcontextprotocol/protocolVersion': '2026-07-28',
          'io.modelcontextprotocol/clientCapabilities': call.capabilities ?? {},
          ...meta,
        },
      },
    },
    sent,
  );
}

export const INITIALIZE = {
  jsonrpc: '2.0',
  id: 0,
  method: 'initialize',
  params: {
    protocolVersion: '2025-11-25',
    capabilities: {},
    clientInfo: { name: 'raw', version: '1' },
  },
};

/** Opens a session with raw HTTP and returns its id. */
export async function rawSession(url: string, token: string): Promise<string> {
  const response = await rawPost(url, INITIALIZE, { authorization: `Bearer ${token}` });
  const id = response.headers.get('mcp-session-id');
  if (response.status !== 200 || !id) {
    throw new Error(`initialize failed: ${response.status} ${JSON.stringify(response.body)}`);
  }
  return id;
}
