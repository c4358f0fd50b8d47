import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { EncryptJWT, jwtDecrypt } from 'jose';
import { ErrorCode, McpTenantsError } from '../core/errors.js';
import type { JsonObject, JsonRpcRequest } from '../core/jsonrpc.js';

/** The longest `requestState` the supervisor accepts back (base64url of JSON, so ~3/4 of it is content). */
const MAX_STATE_LENGTH = 65_536;

/** What a sealed `requestState` binds, besides its expiry. */
export interface StateBinding {
  tenant: string;
  user: string;
  method: string;
  /** A digest of the request's target and arguments (see `requestDigest`). */
  target: string;
  /** A digest of the token's permissions: a state outlives no permission change. */
  grants: string;
}

/** What the supervisor keeps in a `requestState` between two rounds. */
export interface StateContent {
  /** The parked call in this relay that the retry answers, if the child is a 2025 one. */
  parked?: string | undefined;
  /** The round the retry answers; a state of an earlier round is spent. */
  round?: number | undefined;
  /** The child's own `requestState` (a 2026 child), carried inside our seal. */
  child?: string | undefined;
}

/**
 * Seals `requestState` values the supervisor hands to clients: AEAD (a
 * JWE with direct A256GCM under a key of this relay's own), bound to the
 * tenant, the user, the method and a digest of the request's target and
 * arguments, and short-lived. A client cannot read, alter or move one: a
 * tampered, expired or foreign state (another tenant's, another user's,
 * another request's) is refused with INVALID_PARAMS, as MRTR asks. The key
 * lives as long as the relay; after a restart old states are refused and
 * the client starts the request again.
 */
export class RequestStateSeal {
  private readonly key: Uint8Array;
  /** States carrying a child's own state that were used, until they expire: each is good once. */
  private readonly spent = new Map<string, number>();

  constructor(key: Uint8Array = randomBytes(32)) {
    this.key = key;
  }

  async seal(binding: StateBinding, content: StateContent, ttlMs: number): Promise<string> {
    const sealed = await new EncryptJWT({ ...content, ...binding })
      .setJti(randomUUID())
      .setProtectedHeader({ alg: 'dir', enc: 'A256GCM' })
      .setExpirationTime(Math.ceil((Date.now() + ttlMs) / 1000))
      .encrypt(this.key);
    // A child's own state rides inside: refuse one that would not come back.
    if (sealed.length > MAX_STATE_LENGTH) {
      throw new McpTenantsError(
        ErrorCode.INTERNAL,
        `the tenant's server returned a requestState too large to relay (sealed, ${sealed.length} characters; at most ${MAX_STATE_LENGTH})`,
      );
    }
    return sealed;
  }

  private spend(id: string, expiresAt: number): void {
    if (this.spent.has(id)) {
      throw invalid('requestState was already answered; send the request again without it');
    }
    const now = Date.now();
    for (const [old, until] of this.spent) {
      if (until > now) break;
      this.spent.delete(old);
    }
    // Forgetting a state that has not expired would let it be used again.
    if (this.spent.size >= MAX_SPENT) {
      throw new McpTenantsError(
        ErrorCode.QUOTA_EXCEEDED,
        `${MAX_SPENT} answered input rounds of this tenant are still unexpired; retry in a moment`,
        { data: { quota: 'input_rounds', limit: MAX_SPENT, retry_after_seconds: 1 } },
      );
    }
    this.spent.set(id, expiresAt);
  }

  /** The content of a state sealed for exactly this binding; throws REQUEST_STATE_INVALID otherwise. */
  async open(state: unknown, binding: StateBinding): Promise<StateContent> {
    if (typeof state !== 'string' || state.length === 0 || state.length > MAX_STATE_LENGTH) {
      throw invalid('requestState must be the string this server returned');
    }
    let payload: JsonObject;
    try {
      ({ payload } = await jwtDecrypt(state, this.key));
    } catch (error) {
      const expired = (error as { code?: string }).code === 'ERR_JWT_EXPIRED';
      throw invalid(
        expired
          ? 'requestState has expired; send the request again without it'
          : 'requestState failed its integrity check; send the request again without it',
      );
    }
    for (const [field, value] of Object.entries(binding)) {
      if (payload[field] !== value) {
        throw invalid(
          `requestState was issued for another ${field}; send the request again without it`,
        );
      }
    }
    // A parked call's rounds are spent by the call itself; a child's state here.
    if (typeof payload.child === 'string' || payload.parked === undefined) {
      this.spend(String(payload.jti), Number(payload.exp) * 1000);
    }
    return {
      parked: typeof payload.parked === 'string' ? payload.parked : undefined,
      round: typeof payload.round === 'number' ? payload.round : undefined,
      child: typeof payload.child === 'string' ? payload.child : undefined,
    };
  }
}

/** Most spent, unexpired states a relay remembers; past it new ones are refused, not old ones forgotten. */
const MAX_SPENT = 10_000;

/**
 * What identifies a request across its rounds: the name or URI it targets
 * and its arguments, without the round's own fields.
 */
export function grantsDigest(permissions: readonly string[]): string {
  return createHash('sha256')
    .update(JSON.stringify([...permissions].sort()))
    .digest('base64url');
}

export function requestDigest(request: JsonRpcRequest): string {
  const params = request.params ?? {};
  const salient = JSON.stringify([
    request.method,
    params.name ?? null,
    params.uri ?? null,
    params.arguments ?? null,
  ]);
  return createHash('sha256').update(salient).digest('base64url');
}

function invalid(message: string): McpTenantsError {
  return new McpTenantsError(ErrorCode.REQUEST_STATE_INVALID, message);
}
