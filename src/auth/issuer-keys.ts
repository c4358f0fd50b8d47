import { createPublicKey, type KeyObject } from 'node:crypto';
import {
  calculateJwkThumbprint,
  createRemoteJWKSet,
  exportJWK,
  type JWTVerifyGetKey,
  type ProtectedHeaderParameters,
} from 'jose';
import type { AuthConfig } from '../core/config.js';

/** The asymmetric algorithms an external issuer may use. */
export const ASYMMETRIC_ALGORITHMS = ['RS256', 'ES256'] as const;

interface PemKey {
  key: KeyObject;
  alg: (typeof ASYMMETRIC_ALGORITHMS)[number];
  /** RFC 7638 thumbprint: the `kid` a token signed with this key may name. */
  kid: Promise<string>;
}

/**
 * The keys of an external token issuer: PEM public keys from the manifest
 * and/or its JWKS endpoint. A token naming a `kid` gets the PEM key with that
 * RFC 7638 thumbprint, else the JWKS key with that id (jose refetches the set
 * when it meets an unknown `kid`, at most once per cooldown: key rotation).
 * A token without `kid` is tried against every PEM key of its algorithm.
 */
export class IssuerKeys {
  private readonly pem: PemKey[];
  private readonly jwks: JWTVerifyGetKey | undefined;

  constructor(auth: AuthConfig) {
    this.pem = (auth.public_keys ?? []).map(({ pem }) => {
      const key = createPublicKey(pem);
      const alg = key.asymmetricKeyType === 'rsa' ? 'RS256' : 'ES256';
      return { key, alg, kid: exportJWK(key).then((jwk) => calculateJwkThumbprint(jwk)) };
    });
    this.jwks =
      auth.jwks === undefined
        ? undefined
        : createRemoteJWKSet(new URL(auth.jwks.url), {
            timeoutDuration: auth.jwks.timeout_ms,
            cooldownDuration: auth.jwks.cooldown_ms,
          });
  }

  get configured(): boolean {
    return this.pem.length > 0 || this.jwks !== undefined;
  }

  /** PEM keys that may have signed a token with this header, best match first. */
  async pemCandidates(header: ProtectedHeaderParameters): Promise<KeyObject[]> {
    const sameAlg = this.pem.filter((entry) => entry.alg === header.alg);
    if (header.kid === undefined) return sameAlg.map((entry) => entry.key);
    const kids = await Promise.all(sameAlg.map((entry) => entry.kid));
    return sameAlg.filter((_, index) => kids[index] === header.kid).map((entry) => entry.key);
  }

  /** The remote key set, when `jwks_url` is set. */
  get remote(): JWTVerifyGetKey | undefined {
    return this.jwks;
  }
}
