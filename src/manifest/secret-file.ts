/**
 * `auth.secret_file`: the secret lives next to the manifest, out of git, and
 * is created on first use so the bundled example runs with no setup.
 */

import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { SECRET_MIN_BYTES } from './schema.js';

export type SecretFileResult = { ok: true; secret: string } | { ok: false; message: string };

/** 48 random bytes: well above the HS256 minimum of 32. */
export function generateSecret(): string {
  return randomBytes(48).toString('base64url');
}

export function readOrCreateSecretFile(path: string): SecretFileResult {
  try {
    createIfMissing(path);
    const secret = readFileSync(path, 'utf8').trim();
    const bytes = Buffer.byteLength(secret, 'utf8');
    if (bytes < SECRET_MIN_BYTES) {
      return {
        ok: false,
        message: `secret file ${path} holds ${bytes} bytes; it must hold at least ${SECRET_MIN_BYTES} (delete it to have a new one generated)`,
      };
    }
    return { ok: true, secret };
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    return { ok: false, message: `cannot read or create secret file ${path}: ${reason}` };
  }
}

function createIfMissing(path: string): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  try {
    // 'wx': never overwrite, even if another process created it just now.
    writeFileSync(path, `${generateSecret()}\n`, { mode: 0o600, flag: 'wx' });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
}
