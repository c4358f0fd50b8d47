/**
 * `user:` / `group:` → the uid and gid a tenant's child runs as. Names are
 * looked up in the system's user database when the manifest loads, so an
 * unknown name is a manifest error with its line, not a failed start later.
 * Key by key like every other setting: the tenant's own `user` (or `group`)
 * replaces the one under `defaults:`.
 */

import type { RunAs } from '../core/config.js';
import { findGroup, findUser, type GroupEntry, type UserEntry } from './user-database.js';

type RawId = string | number | undefined;

/** The keys read here, as written under a tenant or under `defaults:`. */
export interface RawRunAs {
  user?: RawId;
  group?: RawId;
}

/** Which key is wrong, where it was written, and what to do. */
export interface RunAsProblem {
  key: 'user' | 'group';
  /** True when the key comes from `defaults:`, not from the tenant itself. */
  fromDefaults: boolean;
  message: string;
}

export interface UserDatabase {
  findUser(key: string): UserEntry | undefined;
  findGroup(key: string): GroupEntry | undefined;
}

/**
 * The system's users and groups, each name asked once per manifest load:
 * every tenant taking `user` from `defaults:` would otherwise run `getent`
 * again (a blocking process start, also on each reload inside `serve`).
 */
export function systemUserDatabase(): UserDatabase {
  const users = new Map<string, ReturnType<typeof findUser>>();
  const groups = new Map<string, ReturnType<typeof findGroup>>();
  return {
    findUser: (key) => (users.has(key) ? users.get(key) : users.set(key, findUser(key)).get(key)),
    findGroup: (key) =>
      groups.has(key) ? groups.get(key) : groups.set(key, findGroup(key)).get(key),
  };
}

export function resolveRunAs(
  tenant: RawRunAs,
  defaults: RawRunAs | undefined,
  database: UserDatabase = systemUserDatabase(),
): { runAs: RunAs | undefined } | { problem: RunAsProblem } {
  const user = tenant.user ?? defaults?.user;
  const group = tenant.group ?? defaults?.group;
  const where = (key: 'user' | 'group') => ({ key, fromDefaults: tenant[key] === undefined });
  if (user === undefined) {
    if (group === undefined) return { runAs: undefined };
    return {
      problem: {
        ...where('group'),
        message:
          "group is set but user is not: the child would still run as the supervisor's user; set user too (a name or a numeric uid)",
      },
    };
  }
  const owner = resolveUser(user, database);
  if ('message' in owner) return { problem: { ...where('user'), message: owner.message } };
  // Without group: the user's primary group, as `su` and `setpriv --init-groups` would pick.
  const chosen = group === undefined ? owner.primary : resolveGroup(group, database);
  const groupKey = group === undefined ? where('user') : where('group');
  if (chosen === undefined) {
    return {
      problem: {
        ...groupKey,
        message: `${owner.label} has no entry in the user database, so it has no primary group; set group too (a name or a numeric gid)`,
      },
    };
  }
  if ('message' in chosen) return { problem: { ...groupKey, message: chosen.message } };
  return { runAs: { uid: owner.uid, gid: chosen.gid, user: owner.label, group: chosen.label } };
}

interface Resolved {
  gid: number;
  label: string;
}

function resolveUser(
  raw: Exclude<RawId, undefined>,
  database: UserDatabase,
):
  | { uid: number; label: string; primary: Resolved | { message: string } | undefined }
  | { message: string } {
  const entry = database.findUser(String(raw));
  if (typeof raw === 'string' && entry === undefined) {
    return {
      message: `no user "${raw}" in this system's user database (getent passwd ${raw}); create it (e.g. \`useradd --system --no-create-home ${raw}\`) or give a numeric uid`,
    };
  }
  const uid = typeof raw === 'number' ? raw : (entry as UserEntry).uid;
  if (uid === 0) {
    return {
      message:
        'user is root (uid 0), so the child would keep every privilege; name an unprivileged user, or remove user to run the child as the supervisor itself',
    };
  }
  const label = entry === undefined ? `uid ${uid}` : `${entry.name} (uid ${uid})`;
  const primary =
    entry === undefined
      ? undefined
      : entry.gid === 0
        ? {
            message: `the primary group of ${label} is root's (gid 0); set group to an unprivileged group`,
          }
        : {
            gid: entry.gid,
            label: groupLabel(entry.gid, database.findGroup(String(entry.gid))?.name),
          };
  return { uid, label, primary };
}

function resolveGroup(
  raw: Exclude<RawId, undefined>,
  database: UserDatabase,
): Resolved | { message: string } {
  if (typeof raw === 'number') {
    if (raw === 0) return { message: rootGroup() };
    return { gid: raw, label: groupLabel(raw, database.findGroup(String(raw))?.name) };
  }
  const entry = database.findGroup(raw);
  if (entry === undefined) {
    return {
      message: `no group "${raw}" in this system's group database (getent group ${raw}); create it (e.g. \`groupadd --system ${raw}\`) or give a numeric gid`,
    };
  }
  if (entry.gid === 0) return { message: rootGroup() };
  return { gid: entry.gid, label: groupLabel(entry.gid, raw) };
}

function groupLabel(gid: number, name: string | undefined): string {
  return name === undefined ? `gid ${gid}` : `${name} (gid ${gid})`;
}

const rootGroup = () =>
  "group is root's (gid 0), which opens root's group-readable files to the child; name an unprivileged group";
