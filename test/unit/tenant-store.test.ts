import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ErrorCode, McpTenantsError } from '../../src/core/errors.js';
import { decodeCursor, encodeCursor, prefixUpperBound } from '../../src/tenant-server/cursor.js';
import { TenantStore, type TenantStoreOptions } from '../../src/tenant-server/store.js';

const FIXED_NOW = new Date('2025-01-02T03:04:05.000Z');

let dir: string;
const stores: TenantStore[] = [];

function openStore(overrides: Partial<TenantStoreOptions> = {}): TenantStore {
  const store = TenantStore.open({
    dataDir: dir,
    tenantId: 'acme',
    maxStorageMb: 16,
    now: () => FIXED_NOW,
    ...overrides,
  });
  stores.push(store);
  return store;
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    if (error instanceof McpTenantsError) return error.code;
    throw error;
  }
  return undefined;
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'tenant-store-'));
});

afterEach(() => {
  for (const store of stores.splice(0)) store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('TenantStore basics', () => {
  it('sets, gets, overwrites and deletes a value', () => {
    const store = openStore();
    expect(store.set('greeting', 'héllo')).toBe(6);
    expect(store.get('greeting')).toBe('héllo');
    store.set('greeting', 'bye');
    expect(store.get('greeting')).toBe('bye');
    expect(store.delete('greeting')).toBe(true);
    expect(store.delete('greeting')).toBe(false);
    expect(store.get('greeting')).toBeUndefined();
  });

  it('keeps values across reopening the file', () => {
    openStore().set('k', 'v');
    stores.pop()?.close();
    expect(openStore().get('k')).toBe('v');
  });

  it('creates the database file with mode 0600 in a 0700 folder it creates', () => {
    const nested = join(dir, 'tenants', 'acme');
    openStore({ dataDir: nested });
    expect(statSync(join(nested, 'tenant.db')).mode & 0o777).toBe(0o600);
    expect(statSync(nested).mode & 0o777).toBe(0o700);
  });

  it('refuses bad keys and oversized values with USAGE', () => {
    const store = openStore();
    expect(codeOf(() => store.set('', 'v'))).toBe(ErrorCode.USAGE);
    expect(codeOf(() => store.set('x'.repeat(513), 'v'))).toBe(ErrorCode.USAGE);
    expect(codeOf(() => store.set('tab\there', 'v'))).toBe(ErrorCode.USAGE);
    expect(codeOf(() => store.set('..', 'v'))).toBe(ErrorCode.USAGE);
    expect(codeOf(() => store.set('big', 'x'.repeat(1024 * 1024 + 1)))).toBe(ErrorCode.USAGE);
    expect(codeOf(() => store.set('x'.repeat(512), 'x'.repeat(1024 * 1024)))).toBeUndefined();
  });
});

describe('TenantStore.list', () => {
  it('pages through keys in order with an opaque cursor', () => {
    const store = openStore();
    const keys = Array.from({ length: 25 }, (_, i) => `k${String(i).padStart(2, '0')}`);
    for (const key of [...keys].reverse()) store.set(key, key.repeat(2));

    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = store.list({ cursor, limit: 10 });
      seen.push(...page.items.map((item) => item.key));
      cursor = page.nextCursor;
      pages += 1;
    } while (cursor !== undefined);

    expect(seen).toEqual(keys);
    expect(pages).toBe(3);
    expect(store.list({ limit: 1 }).items[0]).toEqual({
      key: 'k00',
      bytes: 6,
      updated_at: FIXED_NOW.toISOString(),
    });
  });

  it('has no next cursor when the last page is exactly full', () => {
    const store = openStore();
    for (const key of ['a', 'b']) store.set(key, 'v');
    expect(store.list({ limit: 2 }).nextCursor).toBeUndefined();
  });

  it('treats % and _ in a prefix literally', () => {
    const store = openStore();
    for (const key of ['50%off', '50xoff', 'a_b', 'axb', 'a_c/1', 'b']) store.set(key, 'v');
    const keysWith = (prefix: string) =>
      store.list({ prefix, limit: 100 }).items.map((item) => item.key);
    expect(keysWith('50%')).toEqual(['50%off']);
    expect(keysWith('a_')).toEqual(['a_b', 'a_c/1']);
    expect(keysWith('%')).toEqual([]);
    expect(keysWith('')).toHaveLength(6);
  });

  it('combines a prefix with pagination', () => {
    const store = openStore();
    for (let i = 0; i < 5; i += 1) store.set(`p/${i}`, 'v');
    store.set('q', 'v');
    const first = store.list({ prefix: 'p/', limit: 3 });
    expect(first.items.map((item) => item.key)).toEqual(['p/0', 'p/1', 'p/2']);
    const second = store.list({ prefix: 'p/', cursor: first.nextCursor, limit: 3 });
    expect(second.items.map((item) => item.key)).toEqual(['p/3', 'p/4']);
    expect(second.nextCursor).toBeUndefined();
  });

  it('matches prefixes ending in non-ASCII characters', () => {
    const store = openStore();
    for (const key of ['é1', 'é2', 'ê', '😀a', '😁']) store.set(key, 'v');
    expect(store.list({ prefix: 'é', limit: 10 }).items.map((item) => item.key)).toEqual([
      'é1',
      'é2',
    ]);
    expect(store.list({ prefix: '😀', limit: 10 }).items.map((item) => item.key)).toEqual(['😀a']);
  });

  it('refuses a forged cursor', () => {
    const store = openStore();
    expect(codeOf(() => store.list({ cursor: 'not base64!', limit: 10 }))).toBe(ErrorCode.USAGE);
    expect(codeOf(() => store.list({ cursor: '', limit: 10 }))).toBe(ErrorCode.USAGE);
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
  it('keeps two tenants sharing one file apart', () => {
    const acme = openStore({ tenantId: 'acme' });
    const globex = openStore({ tenantId: 'globex' });
    acme.set('shared-name', 'acme data');
    globex.set('shared-name', 'globex data');
    globex.set('only-globex', 'x');

    expect(acme.get('shared-name')).toBe('acme data');
    expect(globex.get('shared-name')).toBe('globex data');
    expect(acme.get('only-globex')).toBeUndefined();
    expect(acme.list({ limit: 10 }).items.map((item) => item.key)).toEqual(['shared-name']);
    expect(acme.delete('only-globex')).toBe(false);
    expect(globex.get('only-globex')).toBe('x');
  });
});

describe('storage quota', () => {
  it('refuses a write that would exceed the quota and leaves data unchanged', () => {
    const store = openStore({ maxStorageMb: 1 });
    const chunk = 'x'.repeat(300 * 1024);
    store.set('a', chunk);
    store.set('b', chunk);

    let refusal: unknown;
    try {
      for (let i = 0; i < 10; i += 1) store.set(`c${i}`, chunk);
    } catch (error) {
      refusal = error;
    }
    expect(refusal).toBeInstanceOf(McpTenantsError);
    const error = refusal as McpTenantsError;
    expect(error.code).toBe(ErrorCode.STORAGE_QUOTA_EXCEEDED);
    expect(error.message).toMatch(/storage quota exceeded for tenant acme/);
    expect(error.message).toMatch(/of 1 MB/);
    expect(error.message).toMatch(/max_storage_mb/);

    const before = store.list({ limit: 100 });
    const sizeBefore = store.sizeBytes();
    expect(codeOf(() => store.set('late', chunk))).toBe(ErrorCode.STORAGE_QUOTA_EXCEEDED);
    expect(store.get('late')).toBeUndefined();
    expect(store.list({ limit: 100 })).toEqual(before);
    expect(store.sizeBytes()).toBe(sizeBefore);
    expect(store.sizeBytes()).toBeLessThanOrEqual(1024 * 1024);
  });

  it('makes room again once keys are deleted', () => {
    const store = openStore({ maxStorageMb: 1 });
    const chunk = 'x'.repeat(400 * 1024);
    store.set('a', chunk);
    store.set('b', chunk);
    expect(codeOf(() => store.set('c', chunk))).toBe(ErrorCode.STORAGE_QUOTA_EXCEEDED);
    store.delete('a');
    expect(codeOf(() => store.set('c', chunk))).toBeUndefined();
  });

  it('always allows shrinking a value', () => {
    const store = openStore({ maxStorageMb: 1 });
    const chunk = 'x'.repeat(400 * 1024);
    store.set('a', chunk);
    store.set('b', chunk);
    expect(codeOf(() => store.set('a', 'small'))).toBeUndefined();
    expect(store.get('a')).toBe('small');
  });
});
