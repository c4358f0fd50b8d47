/**
 * Users and groups as the system knows them, for `user:` and `group:`.
 * `getent` asks NSS, so users from LDAP or systemd count as they do for `id`
 * and `chown`; where there is no `getent`, /etc/passwd and /etc/group are
 * read directly. Nothing is kept between manifest loads (see
 * systemUserDatabase): a user created while `serve` runs is found by the
 * next reload.
 */

import { readFileSync } from 'node:fs';
import { execaSync } from 'execa';

export interface UserEntry {
  name: string;
  uid: number;
  /** The primary group. */
  gid: number;
}

export interface GroupEntry {
  name: string;
  gid: number;
}

type Database = 'passwd' | 'group';

const FILES: Record<Database, string> = { passwd: '/etc/passwd', group: '/etc/group' };

/** A user by name or by numeric uid (as text). */
export function findUser(key: string): UserEntry | undefined {
  const fields = lookup('passwd', key);
  if (!fields) return undefined;
  const uid = Number(fields[2]);
  const gid = Number(fields[3]);
  if (!Number.isInteger(uid) || !Number.isInteger(gid)) return undefined;
  return { name: fields[0] ?? key, uid, gid };
}

/** A group by name or by numeric gid (as text). */
export function findGroup(key: string): GroupEntry | undefined {
  const fields = lookup('group', key);
  if (!fields) return undefined;
  const gid = Number(fields[2]);
  if (!Number.isInteger(gid)) return undefined;
  return { name: fields[0] ?? key, gid };
}

function lookup(database: Database, key: string): string[] | undefined {
  const answer = viaGetent(database, key);
  return answer === 'unavailable' ? viaFile(database, key) : answer;
}

/** getent exits 2 for "no such entry"; anything else but 0 means it cannot tell. */
function viaGetent(database: Database, key: string): string[] | undefined | 'unavailable' {
  const result = execaSync('getent', [database, key], { reject: false, timeout: 5_000 });
  // No exit code when getent is missing, timed out or was killed: unavailable too.
  if (result.exitCode === 2) return undefined;
  if (result.exitCode !== 0) return 'unavailable';
  const line = result.stdout.split('\n')[0] ?? '';
  return line === '' ? undefined : line.split(':');
}

function viaFile(database: Database, key: string): string[] | undefined {
  let text: string;
  try {
    text = readFileSync(FILES[database], 'utf8');
  } catch {
    return undefined;
  }
  const numeric = /^\d+$/.test(key);
  for (const line of text.split('\n')) {
    const fields = line.split(':');
    if (fields[0] === key || (numeric && fields[2] === key)) return fields;
  }
  return undefined;
}
