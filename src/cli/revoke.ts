import { Command } from 'commander';
import { decodeJwt } from 'jose';
import { closeStore, openStore } from '../app/store.js';
import { PgRevocationTable } from '../auth/pg-revocations.js';
import { type Revocation, RevocationList } from '../auth/revocations.js';
import { ErrorCode, McpTenantsError } from '../core/errors.js';
import { createLogger } from '../core/logger.js';
import { loadManifest } from '../manifest/load.js';
import type { StoreBackend } from '../store/backend.js';
import { manifestOption } from './options.js';

interface RevokeOptions {
  manifest: string;
  reason?: string;
  list?: boolean;
}

export function revokeCommand(): Command {
  return new Command('revoke')
    .description(
      "revoke a token by its jti (or the token itself): every supervisor using the manifest's store refuses it from the next request on",
    )
    .argument('[jti]', "the token's jti claim, or the whole token")
    .addOption(manifestOption())
    .option('--reason <text>', 'why, kept with the revocation')
    .option('--list', 'list the revoked jtis instead')
    .addHelpText(
      'after',
      `
The deny list lives in the supervisor's database (<data_dir>/mcp-tenants.db),
so running supervisors see it at once; no restart or reload is needed. With
server.store set to a postgres:// URL it lives in that database, and every
node of the cluster refuses the token within 2 s (usually within milliseconds).
Tokens made by \`mcp-tenants token\` always carry a jti; it is also in the
audit trail of every call.

Examples:
  $ mcp-tenants revoke 0b7c2d3e-... -m tenants.yaml --reason "laptop lost"
  $ mcp-tenants revoke "$TOKEN" -m tenants.yaml
  $ mcp-tenants revoke --list -m tenants.yaml`,
    )
    .action((jti: string | undefined, options: RevokeOptions) => revoke(jti, options));
}

async function revoke(argument: string | undefined, options: RevokeOptions): Promise<void> {
  const manifest = loadManifest(options.manifest);
  if (!options.list && (argument === undefined || argument.trim() === '')) {
    throw new McpTenantsError(ErrorCode.USAGE, 'name the jti to revoke, or pass --list');
  }
  const store = await openStore(manifest, {
    log: createLogger({ level: 'warn' }),
    purpose: 'revoke',
  });
  try {
    const list = revocationsIn(store);
    if (options.list) {
      for (const entry of await list.list()) {
        const at = new Date(entry.revoked_at).toISOString();
        process.stdout.write(`${entry.jti}\t${at}\t${entry.reason ?? ''}\n`);
      }
      return;
    }
    const { jti, expiresAt } = claimsOf((argument ?? '').trim());
    const added = await list.revoke(jti, options.reason, expiresAt);
    process.stdout.write(
      added ? `revoked ${jti}: refused from the next request on\n` : `${jti} was already revoked\n`,
    );
  } finally {
    await closeStore(store);
  }
}

/** The deny list of either store; PostgreSQL's revoke also notifies every node. */
function revocationsIn(store: StoreBackend): {
  list(): Revocation[] | Promise<Revocation[]>;
  revoke(jti: string, reason?: string, expiresAt?: number): boolean | Promise<boolean>;
} {
  if (store.kind === 'postgres') return new PgRevocationTable(store.pg);
  const list = new RevocationList(store.db);
  return {
    list: () => list.list(),
    revoke: (jti, reason, expiresAt) => list.revoke(jti, reason, expiresAt),
  };
}

/**
 * The jti to revoke, and when its token expires anyway (a whole token is
 * read, not verified: it only has to name its jti).
 */
function claimsOf(argument: string): { jti: string; expiresAt: number | undefined } {
  if (argument.split('.').length !== 3) return { jti: argument, expiresAt: undefined };
  let claims: { jti?: unknown; exp?: unknown };
  try {
    claims = decodeJwt(argument);
  } catch {
    throw new McpTenantsError(ErrorCode.USAGE, 'that looks like a token but cannot be decoded');
  }
  if (typeof claims.jti !== 'string' || claims.jti === '') {
    throw new McpTenantsError(
      ErrorCode.USAGE,
      'that token has no jti claim, so it cannot be revoked on its own; rotate the secret (or the issuer key) instead',
    );
  }
  const expiresAt = typeof claims.exp === 'number' ? claims.exp * 1000 : undefined;
  return { jti: claims.jti, expiresAt };
}
