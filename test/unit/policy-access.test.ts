import { describe, expect, it } from 'vitest';
import { DEFAULT_POLICY, type TenantPolicy } from '../../src/core/config.js';
import type { Caller } from '../../src/core/pipeline.js';
import { type PermissionKind, refusalFor, templateRefusal } from '../../src/policy/access.js';
import { permissionDenied } from '../../src/policy/permission-error.js';

const caller = (...permissions: string[]): Caller => ({
  userId: 'alice',
  permissions,
  isAdmin: permissions.includes('admin'),
});

const policy = (overrides: Partial<TenantPolicy> = {}): TenantPolicy => ({
  ...structuredClone(DEFAULT_POLICY),
  ...overrides,
});

const KINDS: [PermissionKind, string][] = [
  ['tools', 'data_set'],
  ['resources', 'tenant://acme/data/x'],
  ['prompts', 'summarize_data'],
];

describe('effective permission = token ∩ tenant policy', () => {
  describe.each(KINDS)('%s', (kind, name) => {
    it('is allowed by the exact name and by a matching glob', () => {
      expect(refusalFor(caller(`${kind}:${name}`), policy(), kind, name)).toBeUndefined();
      expect(refusalFor(caller(`${kind}:*`), policy(), kind, name)).toBeUndefined();
    });

    it('is refused by the token when it grants only other names or other kinds', () => {
      expect(refusalFor(caller(`${kind}:other`), policy(), kind, name)).toBe('token');
      const others = KINDS.filter(([k]) => k !== kind).map(([k]) => `${k}:*`);
      expect(refusalFor(caller(...others), policy(), kind, name)).toBe('token');
      expect(refusalFor(caller(), policy(), kind, name)).toBe('token');
    });

    it('is refused by the tenant when its allow list misses the name, or its deny list matches', () => {
      const allowOther = policy({ [kind]: { allow: ['other'], deny: [] } });
      expect(refusalFor(caller(`${kind}:*`), allowOther, kind, name)).toBe('tenant_allow');
      const denied = policy({ [kind]: { allow: ['*'], deny: [name] } });
      expect(refusalFor(caller(`${kind}:*`), denied, kind, name)).toBe('tenant_deny');
    });

    it('lets deny win over allow, and over admin', () => {
      const both = policy({ [kind]: { allow: [name], deny: ['*'] } });
      expect(refusalFor(caller(`${kind}:${name}`), both, kind, name)).toBe('tenant_deny');
      expect(refusalFor(caller('admin'), both, kind, name)).toBe('tenant_deny');
    });

    it('gives admin everything the tenant policy allows', () => {
      expect(refusalFor(caller('admin'), policy(), kind, name)).toBeUndefined();
      const allowOther = policy({ [kind]: { allow: ['other'], deny: [] } });
      expect(refusalFor(caller('admin'), allowOther, kind, name)).toBe('tenant_allow');
    });
  });

  it('never mistakes a permission of one kind for another', () => {
    expect(
      refusalFor(caller('tools:tenant://acme/*'), policy(), 'resources', 'tenant://acme/x'),
    ).toBe('token');
    expect(refusalFor(caller('toolsX:*', 'tools'), policy(), 'tools', 'x')).toBe('token');
  });
});

describe('resource templates', () => {
  const template = 'tenant://{tenant}/data/{key}';

  it('are listed when the caller may read at least one URI they describe', () => {
    expect(
      templateRefusal(caller('resources:tenant://acme/*'), policy(), template),
    ).toBeUndefined();
    expect(templateRefusal(caller('resources:file:///*'), policy(), template)).toBe('token');
  });

  it('are hidden when a deny pattern covers them, not when it covers a part', () => {
    const partly = policy({ resources: { allow: ['*'], deny: ['tenant://acme/data/secret'] } });
    expect(templateRefusal(caller('resources:*'), partly, template)).toBeUndefined();
    const wholly = policy({ resources: { allow: ['*'], deny: ['tenant://*'] } });
    expect(templateRefusal(caller('resources:*'), wholly, template)).toBe('tenant_deny');
  });
});

describe('the refusal a client sees', () => {
  it('names the missing permission and what the token has', () => {
    const error = permissionDenied(
      'acme',
      caller('tools:data_get', 'resources:*'),
      'tools',
      'data_set',
      'token',
    );
    expect(error.code).toBe('FORBIDDEN');
    expect(error.jsonRpcCode).toBe(-30403);
    expect(error.message).toBe(
      'permission denied: tool "data_set" needs the permission "tools:data_set", which this token does not grant (its tools permissions: tools:data_get); ask for a token that includes it',
    );
    expect(error.data).toEqual({ required_permission: 'tools:data_set', denied_by: 'token' });
  });

  it('says when the manifest, not the token, withholds it', () => {
    const error = permissionDenied('acme', caller('admin'), 'tools', 'data_delete', 'tenant_deny');
    expect(error.message).toBe(
      'permission denied: tool "data_delete" is denied to every caller of tenant acme (tools.deny in the manifest)',
    );
    expect(error.data).toEqual({
      required_permission: 'tools:data_delete',
      denied_by: 'tenant_policy',
    });
  });
});
