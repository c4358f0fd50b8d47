/**
 * `add-tenant` / `remove-tenant`. The yaml Document API finds the tenants;
 * only their lines of text change (see tenants-text.ts). The result is
 * validated with the loader's own validator before the file is replaced
 * atomically; on any refusal the file is left untouched.
 */

import { type Document, isMap, isScalar, type Pair, parseDocument, type YAMLMap } from 'yaml';
import { type Limits, type Quotas, TENANT_ID_PATTERN } from '../core/config.js';
import { ErrorCode, McpTenantsError } from '../core/errors.js';
import { atomicReplace } from './atomic-replace.js';
import { readManifestText } from './load.js';
import { formatPath } from './problems.js';
import { assertRunAsResolves } from './run-as-edit.js';
import { tenantSchema } from './schema.js';
import { insertEntry, removeEntry } from './tenants-text.js';
import { checkManifestText } from './validate.js';
import { zodProblems } from './zod-problems.js';

export interface NewTenant {
  id: string;
  name?: string | undefined;
  /** Absent: the built-in tenant server. */
  command?: string | undefined;
  args?: string[] | undefined;
  env?: Record<string, string> | undefined;
  quotas?: Partial<Quotas> | undefined;
  limits?: Partial<Limits> | undefined;
  request_timeout_ms?: number | undefined;
  /** The tenant's own tool modules, relative to the manifest (built-in server only). */
  tools_modules?: string[] | undefined;
  /** The user and group its child runs as: a name or a numeric id (root supervisors only). */
  user?: string | number | undefined;
  group?: string | number | undefined;
}

export function addTenant(
  path: string,
  tenant: NewTenant,
  env: NodeJS.ProcessEnv = process.env,
): void {
  assertTenantId(tenant.id);
  const settings = tenantSettings(tenant);
  const text = readManifestText(path);
  const doc = parseForEdit(text, path, env);
  assertRunAsResolves(tenant, doc, env);
  const { pair, map } = tenantsOf(doc);
  if (map !== undefined && findTenant(map, tenant.id) !== -1) {
    throw new McpTenantsError(
      ErrorCode.TENANT_EXISTS,
      `tenant ${tenant.id} already exists in ${path}`,
    );
  }
  const updated = insertEntry(text, doc, pair, tenant.id, settings);
  writeChecked(path, text, updated, env);
}

export function removeTenant(path: string, id: string, env: NodeJS.ProcessEnv = process.env): void {
  const text = readManifestText(path);
  const doc = parseForEdit(text, path, env);
  const { pair, map } = tenantsOf(doc);
  const index = map === undefined ? -1 : findTenant(map, id);
  if (pair === undefined || map === undefined || index === -1) {
    throw new McpTenantsError(ErrorCode.TENANT_UNKNOWN, `tenant ${id} does not exist in ${path}`);
  }
  writeChecked(path, text, removeEntry(text, doc, pair, map, index), env);
}

function assertTenantId(id: string): void {
  if (!TENANT_ID_PATTERN.test(id)) {
    throw new McpTenantsError(
      ErrorCode.USAGE,
      `invalid tenant id "${id}": ids must match ${TENANT_ID_PATTERN.source} (lowercase letters, digits, - and _, at most 63 characters)`,
    );
  }
}

/** The tenant's YAML value, checked on its own so that a bad flag is a usage error. */
function tenantSettings(tenant: NewTenant): Record<string, unknown> {
  const { id, ...rest } = tenant;
  const settings = Object.fromEntries(Object.entries(rest).filter(([, v]) => v !== undefined));
  const parsed = tenantSchema.safeParse(settings, { reportInput: true });
  if (!parsed.success) {
    const noLines = { lineOf: () => 0, sourceOf: () => undefined };
    const details = zodProblems(parsed.error.issues, tenantSchema, noLines)
      .map((p) => `${formatPath(p.path ?? [])}: ${p.message}`)
      .join('; ');
    throw new McpTenantsError(ErrorCode.USAGE, `invalid settings for tenant ${id}: ${details}`);
  }
  return settings;
}

function parseForEdit(text: string, path: string, env: NodeJS.ProcessEnv): Document {
  const doc = parseDocument(text, { uniqueKeys: true });
  // Syntax errors: let the validator report them, with lines.
  if (doc.errors.length > 0) checkManifestText(text, path, env, { tolerateUnsetVariables: true });
  return doc;
}

function tenantsOf(doc: Document): { pair?: Pair | undefined; map?: YAMLMap | undefined } {
  if (!isMap(doc.contents)) return {};
  const pair = doc.contents.items.find((item) => keyText(item.key) === 'tenants');
  return { pair, map: isMap(pair?.value) ? pair.value : undefined };
}

function keyText(key: unknown): string {
  if (!isScalar(key)) return String(key);
  return typeof key.value === 'string' ? key.value : (key.source ?? String(key.value));
}

function findTenant(map: YAMLMap, id: string): number {
  return map.items.findIndex((item) => keyText(item.key) === id);
}

/** Validates the edited text exactly as `serve` would read it, then writes it. */
function writeChecked(
  path: string,
  original: string,
  updated: string,
  env: NodeJS.ProcessEnv,
): void {
  try {
    checkManifestText(updated, path, env, { tolerateUnsetVariables: true });
  } catch (error) {
    // If the file was already broken, report its own problems with its own line numbers.
    checkManifestText(original, path, env, { tolerateUnsetVariables: true });
    throw error;
  }
  atomicReplace(path, updated);
}
