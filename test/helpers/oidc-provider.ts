import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair } from 'jose';

/**
 * A real OpenID provider (panva's certified `oidc-provider`) on 127.0.0.1,
 * inside the test process: client credentials grant, resource indicators
 * (RFC 8707) and JWT access tokens (RFC 9068) signed RS256 with a key made
 * here, whose `aud` is the requested resource and which carry the client's
 * organisation as `org_id`, like Auth0 Organizations or a Keycloak mapper.
 */
export interface TestIdentityProvider {
  /** `http://127.0.0.1:<port>`: the `iss` of every token. */
  issuer: string;
  /** Where its public keys are (from its discovery document). */
  jwksUrl: string;
  /** Its token endpoint (from its discovery document). */
  tokenEndpoint: string;
  /** A client credentials access token for `resource`, by a real POST to the token endpoint. */
  token(clientId: string, request: { resource: string; scope: string }): Promise<string>;
  /** Stops the server and cuts its connections. */
  close(): Promise<void>;
}

/** The scopes it knows: ours (src/auth/permissions.ts) plus OpenID's own. */
export const PROVIDER_SCOPES = ['openid', 'tools:*', 'resources:*', 'prompts:*'] as const;

const ACCESS_TOKEN_TTL_SECONDS = 600;

// oidc-provider ships no type declarations; the little of it used here, typed.
// A specifier in a variable keeps TypeScript from looking for them.
const OIDC_PROVIDER = 'oidc-provider';
interface Provider {
  callback(): (request: IncomingMessage, response: ServerResponse) => void;
  on(event: string, listener: (...args: unknown[]) => void): void;
}
type ProviderClass = new (issuer: string, configuration: Record<string, unknown>) => Provider;
interface IssuedToken {
  clientId?: string;
}

/**
 * Imports oidc-provider. On import it warns that any Node.js before 22 is
 * unsupported (this project supports 20, where what the tests use works):
 * that one line is held back, everything else it says gets through.
 */
async function loadProvider(): Promise<ProviderClass> {
  const warn = console.warn;
  console.warn = (...args: unknown[]) => {
    if (String(args[0]).includes('oidc-provider WARNING: Unsupported runtime')) return;
    warn(...args);
  };
  try {
    return ((await import(OIDC_PROVIDER)) as { default: ProviderClass }).default;
  } finally {
    console.warn = warn;
  }
}

/**
 * Starts the provider. `clients` maps each client id to the `org_id` its
 * tokens carry, e.g. `{ 'acme-app': 'acme' }`; secrets are made here.
 */
export async function startIdentityProvider(
  clients: Record<string, string>,
): Promise<TestIdentityProvider> {
  const ProviderImpl = await loadProvider();
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const signingKey = {
    ...(await exportJWK(privateKey)),
    kid: randomUUID(),
    alg: 'RS256',
    use: 'sig',
  };
  const secrets = new Map(
    Object.keys(clients).map((id) => [id, randomBytes(24).toString('base64url')]),
  );

  // The server first: the issuer names its port.
  let handler: ((request: IncomingMessage, response: ServerResponse) => void) | undefined;
  const server = createServer((request, response) => {
    if (handler) handler(request, response);
    else response.writeHead(503).end();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const close = (): Promise<void> =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });

  let discovery: { jwks_uri: string; token_endpoint: string };
  try {
    const provider = new ProviderImpl(issuer, {
      clients: Object.keys(clients).map((id) => ({
        client_id: id,
        client_secret: secrets.get(id),
        grant_types: ['client_credentials'],
        response_types: [],
        redirect_uris: [],
        token_endpoint_auth_method: 'client_secret_basic',
        scope: PROVIDER_SCOPES.join(' '),
      })),
      jwks: { keys: [signingKey] },
      scopes: [...PROVIDER_SCOPES],
      features: {
        clientCredentials: { enabled: true },
        // No login pages: nothing here signs a user in.
        devInteractions: { enabled: false },
        introspection: { enabled: false },
        revocation: { enabled: false },
        resourceIndicators: {
          enabled: true,
          defaultResource: () => undefined,
          useGrantedResource: () => false,
          // Any absolute URI is a resource server taking JWT access tokens for itself.
          getResourceServerInfo: (_ctx: unknown, resource: string) => ({
            scope: PROVIDER_SCOPES.join(' '),
            audience: resource,
            accessTokenTTL: ACCESS_TOKEN_TTL_SECONDS,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: 'RS256' } },
          }),
        },
      },
      extraTokenClaims: (_ctx: unknown, token: IssuedToken) => {
        const id = token.clientId;
        return id !== undefined && Object.hasOwn(clients, id) ? { org_id: clients[id] } : undefined;
      },
      // Its defaults for these print a development-mode notice each.
      adapter: memoryAdapter(),
      ttl: { ClientCredentials: ACCESS_TOKEN_TTL_SECONDS, AccessToken: ACCESS_TOKEN_TTL_SECONDS },
      clientBasedCORS: () => false,
      cookies: { keys: [randomBytes(32).toString('base64url')] },
    });
    // A failure inside it would otherwise only be a 500; say what it was.
    provider.on('server_error', (_ctx, error) => {
      console.error('oidc-provider server_error', error);
    });
    handler = provider.callback();

    const answer = await fetch(`${issuer}/.well-known/openid-configuration`);
    discovery = (await answer.json()) as typeof discovery;
  } catch (error) {
    await close();
    throw error;
  }

  return {
    issuer,
    jwksUrl: discovery.jwks_uri,
    tokenEndpoint: discovery.token_endpoint,
    async token(clientId, { resource, scope }) {
      const secret = secrets.get(clientId);
      if (secret === undefined) throw new Error(`no such client: ${clientId}`);
      const basic = Buffer.from(
        `${encodeURIComponent(clientId)}:${encodeURIComponent(secret)}`,
      ).toString('base64');
      const response = await fetch(discovery.token_endpoint, {
        method: 'POST',
        headers: {
          authorization: `Basic ${basic}`,
          'content-type': 'application/x-www-form-urlencoded',
          accept: 'application/json',
        },
        body: new URLSearchParams({ grant_type: 'client_credentials', resource, scope }),
      });
      const body = (await response.json()) as {
        access_token?: string;
        error?: string;
        error_description?: string;
      };
      if (response.status !== 200 || body.access_token === undefined) {
        throw new Error(
          `token endpoint answered ${response.status}: ${body.error} ${body.error_description ?? ''}`,
        );
      }
      return body.access_token;
    },
    close,
  };
}

type Payload = Record<string, unknown>;

/**
 * oidc-provider's storage interface, in one Map per model and provider: the
 * library's own in-memory adapter works the same but announces itself as
 * development-only.
 */
function memoryAdapter() {
  const stores = new Map<string, Map<string, Payload>>();
  return class MemoryAdapter {
    private readonly store: Map<string, Payload>;

    constructor(model: string) {
      const store = stores.get(model) ?? new Map<string, Payload>();
      stores.set(model, store);
      this.store = store;
    }

    async upsert(id: string, payload: Payload): Promise<void> {
      this.store.set(id, payload);
    }

    async find(id: string): Promise<Payload | undefined> {
      return this.store.get(id);
    }

    async findByUserCode(code: string): Promise<Payload | undefined> {
      return [...this.store.values()].find((payload) => payload.userCode === code);
    }

    async findByUid(uid: string): Promise<Payload | undefined> {
      return [...this.store.values()].find((payload) => payload.uid === uid);
    }

    async consume(id: string): Promise<void> {
      const payload = this.store.get(id);
      if (payload) payload.consumed = Math.floor(Date.now() / 1000);
    }

    async destroy(id: string): Promise<void> {
      this.store.delete(id);
    }

    async revokeByGrantId(grantId: string): Promise<void> {
      for (const [id, payload] of this.store) {
        if (payload.grantId === grantId) this.store.delete(id);
      }
    }
  };
}
