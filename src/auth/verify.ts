import { type CryptoKey, type JWTVerifyOptions, jwtVerify } from 'jose';
import type { AuthConfig } from '../manifest/types.js';
import { authInvalid } from './auth-error.js';
import { contextFromClaims } from './claims.js';
import type { TenantContext } from './context.js';
import { fromJoseError } from './jose-errors.js';
import { secretBytes } from './secret.js';
import { VerifyCache } from './verify-cache.js';

export interface TokenVerifierOptions {
  /** Current time in epoch milliseconds; injectable for tests. */
  now?: () => number;
  /** Successful verifications kept; 0 disables the cache. */
  cacheSize?: number;
  /** Leeway for exp and nbf, for clocks that drift apart. */
  clockToleranceSeconds?: number;
}

export const DEFAULT_CACHE_SIZE = 10_000;
export const DEFAULT_CLOCK_TOLERANCE_SECONDS = 5;

/**
 * Verifies bearer tokens for one AuthConfig. Build a new one when the config
 * changes: the cache belongs to the secret it was filled with.
 */
export class TokenVerifier {
  private readonly secret: Uint8Array;
  private readonly options: JWTVerifyOptions;
  private readonly now: () => number;
  private readonly tolerance: number;
  private readonly cache: VerifyCache;
  private key: Promise<CryptoKey> | undefined;

  constructor(
    private readonly auth: AuthConfig,
    options: TokenVerifierOptions = {},
  ) {
    this.secret = secretBytes(auth);
    this.now = options.now ?? Date.now;
    this.tolerance = options.clockToleranceSeconds ?? DEFAULT_CLOCK_TOLERANCE_SECONDS;
    this.cache = new VerifyCache(options.cacheSize ?? DEFAULT_CACHE_SIZE);
    this.options = {
      // Pinned: never let the token's header choose the algorithm.
      algorithms: ['HS256'],
      requiredClaims: ['exp'],
      clockTolerance: this.tolerance,
      ...(auth.issuer !== undefined && { issuer: auth.issuer }),
      ...(auth.audience !== undefined && { audience: auth.audience }),
    };
  }

  /** The caller's context, or an AUTH_INVALID McpTenantsError saying why not. */
  async verify(token: string): Promise<TenantContext> {
    const cached = this.cache.get(token);
    if (cached !== undefined) {
      if (!this.isExpired(cached.expiresAt)) return cached;
      this.cache.delete(token);
      throw authInvalid('expired', 'token expired');
    }
    const context = await this.verifyUncached(token);
    // Shared between requests from now on, so nobody may change it.
    Object.freeze(context.permissions);
    Object.freeze(context);
    this.cache.set(token, context);
    return context;
  }

  /** Forgets every cached verification. */
  clear(): void {
    this.cache.clear();
  }

  private async verifyUncached(token: string): Promise<TenantContext> {
    let payload: Awaited<ReturnType<typeof jwtVerify>>['payload'];
    try {
      const result = await jwtVerify(token, await this.hmacKey(), {
        ...this.options,
        currentDate: new Date(this.now()),
      });
      payload = result.payload;
    } catch (error) {
      throw fromJoseError(error, this.auth);
    }
    return contextFromClaims(payload);
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
