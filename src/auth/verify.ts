import type { KeyObject } from 'node:crypto';
import {
  type CryptoKey,
  decodeProtectedHeader,
  errors,
  type JWTPayload,
  type JWTVerifyGetKey,
  type JWTVerifyOptions,
  jwtVerify,
  type ProtectedHeaderParameters,
} from 'jose';
import { type AuthConfig, DEFAULT_CLAIMS } from '../core/config.js';
import { authInvalid } from './auth-error.js';
import { type ClaimSource, contextFromClaims } from './claims.js';
import type { TenantContext } from './context.js';
import { ASYMMETRIC_ALGORITHMS, IssuerKeys } from './issuer-keys.js';
import { fromJoseError, keysUnavailable } from './jose-errors.js';
import { secretBytes } from './secret.js';
import { VerifyCache } from './verify-cache.js';

export interface TokenVerifierOptions {
  /** Current time in epoch milliseconds; injectable for tests. */
  now?: () => number;
  /** Successful verifications kept; 0 disables the cache. */
  cacheSize?: number;
  /** Leeway for exp and nbf, for clocks that drift apart. */
  clockToleranceSeconds?: number;
  /** The `jti` deny list (`mcp-tenants revoke`), asked on every verification, cached or not. */
  isRevoked?: (jti: string) => boolean;
}

export const DEFAULT_CACHE_SIZE = 10_000;
export const DEFAULT_CLOCK_TOLERANCE_SECONDS = 5;

type VerifyKey = CryptoKey | KeyObject | JWTVerifyGetKey;

/**
 * Verifies bearer tokens for one AuthConfig: HS256 with the manifest secret,
 * and RS256/ES256 with the issuer keys when `public_key_file` or `jwks_url`
 * is set. Build a new one when the config changes: the cache belongs to the
 * keys it was filled with.
 */
export class TokenVerifier {
  private readonly secret: Uint8Array;
  private readonly options: JWTVerifyOptions;
  /** The same for an issuer's tokens: their audience defaults to our resource (RFC 8707). */
  private readonly externalOptions: JWTVerifyOptions;
  private readonly now: () => number;
  private readonly tolerance: number;
  private readonly cache: VerifyCache;
  private readonly issuerKeys: IssuerKeys;
  private readonly isRevoked: (jti: string) => boolean;
  private readonly algorithms: string[];
  private key: Promise<CryptoKey> | undefined;
  /** How the tokens of the external issuer are read. */
  private readonly external: ClaimSource;

  constructor(
    private readonly auth: AuthConfig,
    options: TokenVerifierOptions = {},
  ) {
    this.secret = secretBytes(auth);
    this.external = { mapping: auth.claims ?? DEFAULT_CLAIMS, external: true };
    this.now = options.now ?? Date.now;
    this.tolerance = options.clockToleranceSeconds ?? DEFAULT_CLOCK_TOLERANCE_SECONDS;
    this.cache = new VerifyCache(options.cacheSize ?? DEFAULT_CACHE_SIZE);
    this.issuerKeys = new IssuerKeys(auth);
    this.isRevoked = options.isRevoked ?? (() => false);
    this.algorithms = ['HS256', ...(this.issuerKeys.configured ? ASYMMETRIC_ALGORITHMS : [])];
    this.options = {
      // Pinned: never let the token's header choose the algorithm.
      algorithms: this.algorithms,
      requiredClaims: ['exp'],
      clockTolerance: this.tolerance,
      ...(auth.issuer !== undefined && { issuer: auth.issuer }),
      ...(auth.audience !== undefined && { audience: [...auth.audience] }),
    };
    const resource = auth.audience ?? (auth.resource === undefined ? undefined : [auth.resource]);
    this.externalOptions = {
      ...this.options,
      ...(resource !== undefined && { audience: [...resource] }),
    };
  }

  /** The caller's context, or an AUTH_INVALID McpTenantsError saying why not. */
  async verify(token: string): Promise<TenantContext> {
    const cached = this.cache.get(token);
    if (cached !== undefined) {
      if (this.isExpired(cached.expiresAt)) {
        this.cache.delete(token);
        throw authInvalid('expired', 'token expired');
      }
      this.refuseRevoked(cached);
      return cached;
    }
    const context = await this.verifyUncached(token);
    // Shared between requests from now on, so nobody may change it.
    Object.freeze(context.permissions);
    Object.freeze(context);
    this.refuseRevoked(context);
    this.cache.set(token, context);
    return context;
  }

  /**
   * Re-checks a context verified earlier (a stdio connection's, a status
   * page cookie's): expiry and revocation, no signature work. Throws
   * AUTH_INVALID saying which.
   */
  recheck(context: TenantContext): void {
    if (this.isExpired(context.expiresAt)) throw authInvalid('expired', 'token expired');
    this.refuseRevoked(context);
  }

  /** Forgets every cached verification. */
  clear(): void {
    this.cache.clear();
  }

  // Checked on cache hits too: a revocation takes effect on the very next request.
  private refuseRevoked(context: TenantContext): void {
    if (context.jti !== undefined && this.isRevoked(context.jti)) {
      throw authInvalid('revoked', 'token has been revoked; ask for a new one');
    }
  }

  private async verifyUncached(token: string): Promise<TenantContext> {
    let header: ProtectedHeaderParameters;
    try {
      header = decodeProtectedHeader(token);
    } catch (error) {
      throw fromJoseError(error, { ...this.auth, algorithms: this.algorithms });
    }
    const ours = header.alg === 'HS256';
    const chosen = ours ? this.options : this.externalOptions;
    const expected = {
      ...this.auth,
      audience: chosen.audience === undefined ? undefined : [chosen.audience].flat(),
      algorithms: this.algorithms,
    };
    const options = { ...chosen, currentDate: new Date(this.now()) };
    let lastError: unknown;
    for (const key of await this.keysFor(header)) {
      let payload: JWTPayload;
      try {
        payload = (await jwtVerify(token, key as CryptoKey, options)).payload;
      } catch (error) {
        lastError = error;
        // Another PEM key of the same algorithm may still fit.
        if (error instanceof errors.JWSSignatureVerificationFailed) continue;
        break;
      }
      // Our own HS256 tokens (`mcp-tenants token`, operators) keep our claim
      // names; the mapping, and the stricter grants, are for the issuer's.
      return contextFromClaims(payload, token, ours ? undefined : this.external);
    }
    // jose's errors say which check failed; anything else came from fetching the key set.
    throw lastError instanceof errors.JOSEError
      ? fromJoseError(lastError, expected)
      : keysUnavailable(lastError);
  }

  /** Which keys to try: the secret for HS256 (and anything unknown, which jose then refuses). */
  private async keysFor(header: ProtectedHeaderParameters): Promise<VerifyKey[]> {
    const asymmetric = (ASYMMETRIC_ALGORITHMS as readonly string[]).includes(header.alg ?? '');
    if (!asymmetric || !this.issuerKeys.configured) return [await this.hmacKey()];
    const pem = await this.issuerKeys.pemCandidates(header);
    if (pem.length > 0) return pem;
    const remote = this.issuerKeys.remote;
    if (remote) return [remote];
    throw authInvalid('unknown_key', 'token is signed with a key the manifest does not list');
  }

  /** Same rule as jose's exp check, so a cache hit never outlives a miss. */
  private isExpired(expiresAt: number): boolean {
    return expiresAt <= Math.floor(this.now() / 1000) - this.tolerance;
  }

  // jose would re-import raw bytes on every call; import the key once.
  private hmacKey(): Promise<CryptoKey> {
    this.key ??= crypto.subtle.importKey(
      'raw',
      this.secret,
      { name: 'HMAC', hash: 'SHA-256' },
      false,
      ['verify'],
    );
    return this.key;
  }
}
