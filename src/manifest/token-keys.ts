/**
 * `auth.public_key_file` and `auth.jwks_url`: the keys of an external token
 * issuer (RS256/ES256). PEM files are read and checked when the manifest
 * loads, so a wrong file is a manifest error with its line, not a refused
 * token later.
 */

import { createPublicKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve as resolvePath } from 'node:path';
import {
  DEFAULT_JWKS_COOLDOWN_MS,
  DEFAULT_JWKS_TIMEOUT_MS,
  type JwksConfig,
  type PublicKeyConfig,
} from '../core/config.js';
import { manifestInvalid } from './problems.js';
import type { RawManifest } from './schema.js';
import type { SourceIndex } from './yaml-tree.js';

interface KeyContext {
  manifestDir: string;
  fileLabel: string;
  index: SourceIndex;
}

export function resolveTokenKeys(
  auth: RawManifest['auth'],
  context: KeyContext,
): { public_keys?: PublicKeyConfig[]; jwks?: JwksConfig } {
  const result: { public_keys?: PublicKeyConfig[]; jwks?: JwksConfig } = {};
  if (auth.public_key_file !== undefined) {
    const files = Array.isArray(auth.public_key_file)
      ? auth.public_key_file
      : [auth.public_key_file];
    result.public_keys = files.map((file) => readPublicKey(file, context));
  }
  if (auth.jwks_url !== undefined) {
    result.jwks = {
      url: auth.jwks_url,
      timeout_ms: auth.jwks_timeout_ms ?? DEFAULT_JWKS_TIMEOUT_MS,
      cooldown_ms: auth.jwks_cooldown_ms ?? DEFAULT_JWKS_COOLDOWN_MS,
    };
  }
  return result;
}

function readPublicKey(file: string, context: KeyContext): PublicKeyConfig {
  const source = resolvePath(context.manifestDir, file);
  let pem: string;
  try {
    pem = readFileSync(source, 'utf8');
  } catch (error) {
    throw keyProblem(context, `cannot read ${source}: ${(error as Error).message}`);
  }
  let key: ReturnType<typeof createPublicKey>;
  try {
    key = createPublicKey(pem);
  } catch {
    throw keyProblem(
      context,
      `${source} is not a PEM public key or certificate (expected -----BEGIN PUBLIC KEY-----)`,
    );
  }
  const curve = key.asymmetricKeyDetails?.namedCurve;
  if (
    key.asymmetricKeyType !== 'rsa' &&
    !(key.asymmetricKeyType === 'ec' && curve === 'prime256v1')
  ) {
    throw keyProblem(
      context,
      `${source} holds a ${key.asymmetricKeyType ?? 'unknown'} key; tokens are verified with RSA (RS256) or EC P-256 (ES256) keys`,
    );
  }
  return { source, pem };
}

function keyProblem(context: KeyContext, message: string) {
  const path = ['auth', 'public_key_file'];
  return manifestInvalid(context.fileLabel, [{ line: context.index.lineOf(path), path, message }]);
}
