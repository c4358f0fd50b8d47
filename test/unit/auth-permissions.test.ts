import { describe, expect, it } from 'vitest';
import { DEFAULT_PERMISSIONS, parsePermissionList } from '../../src/auth/permissions.js';
import { McpTenantsError } from '../../src/core/errors.js';

function usageMessage(text: string): string {
  try {
    parsePermissionList(text);
  } catch (error) {
    expect(error).toBeInstanceOf(McpTenantsError);
    expect((error as McpTenantsError).code).toBe('USAGE');
    return (error as McpTenantsError).message;
  }
  throw new Error('expected parsePermissionList to throw');
}

describe('permissions', () => {
  it('has the documented defaults', () => {
    expect(DEFAULT_PERMISSIONS).toEqual(['tools:*', 'resources:*', 'prompts:*']);
  });

  it('parses, trims and de-duplicates', () => {
    expect(parsePermissionList(' tools:search_* , resources:file:///docs/*,admin,admin ')).toEqual([
      'tools:search_*',
      'resources:file:///docs/*',
      'admin',
    ]);
    expect(parsePermissionList('prompts:*')).toEqual(['prompts:*']);
  });

  it.each([['tools:'], ['tool:*'], ['Admin'], ['tools:a b'], ['*'], ['resources']])(
    'names the bad entry %j',
    (entry) => {
      expect(usageMessage(`tools:*,${entry}`)).toContain(`"${entry}"`);
    },
  );

  it('points operator at --operator', () => {
    expect(usageMessage('operator')).toMatch(/--operator/);
  });

  it.each([[''], ['tools:*,'], [',tools:*'], ['tools:*,,admin']])(
    'refuses empty entries in %j',
    (text) => {
      expect(usageMessage(text)).toMatch(/empty entry/);
    },
  );
});
