import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { RevocationList } from '../../src/auth/revocations.js';

const DAY = 24 * 3_600_000;

describe('the jti deny list', () => {
  let db: Database.Database | undefined;
  afterEach(() => db?.close());

  it('prunes a revoked token a day after it expires anyway, and keeps one of unknown expiry', () => {
    db = new Database(':memory:');
    const list = new RevocationList(db);
    const now = 10 * DAY;
    expect(list.revoke('expired-long-ago', 'leaked', now - 2 * DAY, now - 3 * DAY)).toBe(true);
    expect(list.revoke('expired-just-now', undefined, now - 1000, now - DAY)).toBe(true);
    expect(list.revoke('by-jti-alone', undefined, undefined, now - 9 * DAY)).toBe(true);
    expect(list.has('expired-long-ago')).toBe(true);
    // The next revocation prunes what can no longer be presented.
    expect(list.revoke('fresh', undefined, now + DAY, now)).toBe(true);
    expect(list.list().map((entry) => entry.jti)).toEqual([
      'by-jti-alone',
      'expired-just-now',
      'fresh',
    ]);
    expect(list.has('expired-long-ago')).toBe(false);
    expect(list.revoke('fresh', undefined, now + DAY, now)).toBe(false);
  });

  it('adds the expiry column to a database written before it existed, keeping its entries', () => {
    db = new Database(':memory:');
    db.exec(
      'CREATE TABLE auth_revoked_tokens (jti TEXT PRIMARY KEY, revoked_at INTEGER NOT NULL, reason TEXT) WITHOUT ROWID',
    );
    db.prepare('INSERT INTO auth_revoked_tokens VALUES (?, ?, ?)').run('old', 1, 'before');
    const list = new RevocationList(db);
    expect(list.has('old')).toBe(true);
    expect(list.list()).toEqual([
      { jti: 'old', revoked_at: 1, reason: 'before', expires_at: null },
    ]);
  });
});
