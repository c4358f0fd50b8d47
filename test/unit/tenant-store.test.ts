import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ErrorCode, McpTenantsError } from '../../src/core/errors.js';
import { decodeCursor, encodeCursor, prefixUpperBound } from '../../src/tenant-server/cursor.js';
import {
  SqliteTenantStore,
  type SqliteTenantStoreOptions,
} from '../../src/tenant-server/sqlite-store.js';

const FIXED_NOW = new Date('2025-01-02T03:04:05.000Z');

let dir: string;
const stores: SqliteTenantStore[] = [];

function openStore(overrides: Partial<SqliteTenantStoreOptions> = {}): SqliteTenantStore {
  const store = SqliteTenantStore.open({
    dataDir: dir,
    tenantId: 'acme',
    maxStorageMb: 16,
    now: () => FIXED_NOW,
    ...overrides,
  });
  stores.push(store);
  return store;
}

async function codeOf(fn: () => Promise<unknown>): Promise<string | undefined> {
  try {
    await fn();
  } catch (error) {
    if (error instanceof McpTenantsError) return error.code;
    throw error;
  }
  return undefined;
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'tenant-store-'));
});

afterEach(async () => {
  for (const store of stores.splice(0)) await store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('TenantStore basics', () => {
  it('sets, gets, overwrites and deletes a value', async () => {
    const store = openStore();
    expect(await store.set('greeting', 'héllo')).toBe(6);
    expect(await store.get('greeting')).toBe('héllo');
    await store.set('greeting', 'bye');
    expect(await store.get('greeting')).toBe('bye');
    expect(await store.delete('greeting')).toBe(true);
    expect(await store.delete('greeting')).toBe(false);
    expect(await store.get('greeting')).toBeUndefined();
  });

  it('keeps values across reopening the file', async () => {
    await openStore().set('k', 'v');
    await stores.pop()?.close();
    expect(await openStore().get('k')).toBe('v');
  });

  it('creates the database file with mode 0600 in a 0700 folder it creates', async () => {
    const nested = join(dir, 'tenants', 'acme');
    openStore({ dataDir: nested });
    expect(statSync(join(nested, 'tenant.db')).mode & 0o777).toBe(0o600);
    expect(statSync(nested).mode & 0o777).toBe(0o700);
  });

  it('refuses bad keys and oversized values with USAGE', async () => {
    const store = openStore();
    expect(await codeOf(() => store.set('', 'v'))).toBe(ErrorCode.USAGE);
    expect(await codeOf(() => store.set('x'.repeat(513), 'v'))).toBe(ErrorCode.USAGE);
    expect(await codeOf(() => store.set('tab\there', 'v'))).toBe(ErrorCode.USAGE);
    expect(await codeOf(() => store.set('..', 'v'))).toBe(ErrorCode.USAGE);
    expect(await codeOf(() => store.set('big', 'x'.repeat(1024 * 1024 + 1)))).toBe(ErrorCode.USAGE);
    expect(await codeOf(() => store.set('x'.repeat(512), 'x'.repeat(1024 * 1024)))).toBeUndefined();
  });
});

describe('TenantStore.list', () => {
  it('pages through keys in order with an opaque cursor', async () => {
    const store = openStore();
    const keys = Array.from({ length: 25 }, (_, i) => `k${String(i).padStart(2, '0')}`);
    for (const key of [...keys].reverse()) await store.set(key, key.repeat(2));

    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await store.list({ cursor, limit: 10 });
      seen.push(...page.items.map((item) => item.key));
      cursor = page.nextCursor;
      pages += 1;
    } while (cursor !== undefined);

    expect(seen).toEqual(keys);
    expect(pages).toBe(3);
    expect((await store.list({ limit: 1 })).items[0]).toEqual({
      key: 'k00',
      bytes: 6,
      updated_at: FIXED_NOW.toISOString(),
    });
  });

  it('has no next cursor when the last page is exactly full', async () => {
    const store = openStore();
    for (const key of ['a', 'b']) await store.set(key, 'v');
    expect((await store.list({ limit: 2 })).nextCursor).toBeUndefined();
  });

  it('treats % and _ in a prefix literally', async () => {
    const store = openStore();
    for (const key of ['50%off', '50xoff', 'a_b', 'axb', 'a_c/1', 'b']) await store.set(key, 'v');
    const keysWith = async (prefix: string) =>
      (await store.list({ prefix, limit: 100 })).items.map((item) => item.key);
    expect(await keysWith('50%')).toEqual(['50%off']);
    expect(await keysWith('a_')).toEqual(['a_b', 'a_c/1']);
    expect(await keysWith('%')).toEqual([]);
    expect(await keysWith('')).toHaveLength(6);
  });

  it('combines a prefix with pagination', async () => {
    const store = openStore();
    for (let i = 0; i < 5; i += 1) await store.set(`p/${i}`, 'v');
    await store.set('q', 'v');
    const first = await store.list({ prefix: 'p/', limit: 3 });
    expect(first.items.map((item) => item.key)).toEqual(['p/0', 'p/1', 'p/2']);
    const second = await store.list({ prefix: 'p/', cursor: first.nextCursor, limit: 3 });
    expect(second.items.map((item) => item.key)).toEqual(['p/3', 'p/4']);
    expect(second.nextCursor).toBeUndefined();
  });

  it('matches prefixes ending in non-ASCII characters', async () => {
    const store = openStore();
    for (const key of ['é1', 'é2', 'ê', '😀a', '😁']) await store.set(key, 'v');
    expect((await store.list({ prefix: 'é', limit: 10 })).items.map((item) => item.key)).toEqual([
      'é1',
      'é2',
    ]);
    expect((await store.list({ prefix: '😀', limit: 10 })).items.map((item) => item.key)).toEqual([
      '😀a',
    ]);
  });

  it('refuses a forged cursor', async () => {
    const store = openStore();
    expect(await codeOf(() => store.list({ cursor: 'not base64!', limit: 10 }))).toBe(
      ErrorCode.USAGE,
    );
    expect(await codeOf(() => store.list({ cursor: '', limit: 10 }))).toBe(ErrorCode.USAGE);
  });
});

describe('cursor helpers', () => {
  it('round-trips keys through a cursor', () => {
    for (const key of ['a', 'a/b c', '😀', '50%_'])
      expect(decodeCursor(encodeCursor(key))).toBe(key);
  });

  it('computes the bound just above a prefix', () => {
    expect(prefixUpperBound('ab')).toBe('ac');
    expect(prefixUpperBound('a\u{10ffff}')).toBe('b');
    expect(prefixUpperBound('\u{d7ff}')).toBe('\u{e000}');
    expect(prefixUpperBound('\u{10ffff}')).toBeUndefined();
  });
});

describe('tenant isolation', () => {
  it('keeps two tenants sharing one file apart', async () => {
    const acme = openStore({ tenantId: 'acme' });
    const globex = openStore({ tenantId: 'globex' });
    await acme.set('shared-name', 'acme data');
    await globex.set('shared-name', 'globex data');
    await globex.set('only-globex', 'x');

    expect(await acme.get('shared-name')).toBe('acme data');
    expect(await globex.get('shared-name')).toBe('globex data');
    expect(await acme.get('only-globex')).toBeUndefined();
    expect((await acme.list({ limit: 10 })).items.map((item) => item.key)).toEqual(['shared-name']);
    expect(await acme.delete('only-globex')).toBe(false);
    expect(await globex.get('only-globex')).toBe('x');
  });
});

describe('storage quota', () => {
  it('refuses a write that would exceed the quota and leaves data unchanged', async () => {
    const store = openStore({ maxStorageMb: 1 });
    const chunk = 'x'.repeat(300 * 1024);
    await store.set('a', chunk);
    await store.set('b', chunk);

    let refusal: unknown;
    try {
      for (let i = 0; i < 10; i += 1) await store.set(`c${i}`, chunk);
    } catch (error) {
      refusal = error;
    }
    expect(refusal).toBeInstanceOf(McpTenantsError);
    const error = refusal as McpTenantsError;
    expect(error.code).toBe(ErrorCode.STORAGE_QUOTA_EXCEEDED);
    expect(error.message).toMatch(/storage quota exceeded for tenant acme/);
    expect(error.message).toMatch(/of 1 MB/);
    expect(error.message).toMatch(/max_storage_mb/);

    const before = await store.list({ limit: 100 });
    const sizeBefore = await store.sizeBytes();
    expect(await codeOf(() => store.set('late', chunk))).toBe(ErrorCode.STORAGE_QUOTA_EXCEEDED);
    expect(await store.get('late')).toBeUndefined();
    expect(await store.list({ limit: 100 })).toEqual(before);
    expect(await store.sizeBytes()).toBe(sizeBefore);
    expect(await store.sizeBytes()).toBeLessThanOrEqual(1024 * 1024);
  });

  it('makes room again once keys are deleted', async () => {
    const store = openStore({ maxStorageMb: 1 });
    const chunk = 'x'.repeat(400 * 1024);
    await store.set('a', chunk);
    await store.set('b', chunk);
    expect(await codeOf(() => store.set('c', chunk))).toBe(ErrorCode.STORAGE_QUOTA_EXCEEDED);
    await store.delete('a');
    expect(await codeOf(() => store.set('c', chunk))).toBeUndefined();
  });

  it('always allows shrinking a value', async () => {
    const store = openStore({ maxStorageMb: 1 });
    const chunk = 'x'.repeat(400 * 1024);
    await store.set('a', chunk);
    await store.set('b', chunk);
    expect(await codeOf(() => store.set('a', 'small'))).toBeUndefined();
    expect(await store.get('a')).toBe('small');
  });
});
