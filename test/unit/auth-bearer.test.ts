import { describe, expect, it } from 'vitest';
import { parseBearer } from '../../src/auth/bearer.js';
import { McpTenantsError } from '../../src/core/errors.js';

function failure(header: string | undefined): McpTenantsError {
  try {
    parseBearer(header);
  } catch (error) {
    expect(error).toBeInstanceOf(McpTenantsError);
    return error as McpTenantsError;
  }
  throw new Error('expected parseBearer to throw');
}

describe('parseBearer', () => {
  it('extracts the token, any case of the scheme', () => {
    expect(parseBearer('Bearer abc.def.ghi')).toBe('abc.def.ghi');
    expect(parseBearer('bearer abc.def.ghi')).toBe('abc.def.ghi');
    expect(parseBearer('BEARER  abc-_.def ')).toBe('abc-_.def');
    expect(parseBearer('Bearer abc+/==')).toBe('abc+/==');
  });

  it.each([[undefined], [''], ['   ']])('reports %j as missing', (header) => {
    const error = failure(header);
    expect(error.code).toBe('AUTH_MISSING');
    expect(error.message).toBe(
      'missing bearer token: send Authorization: Bearer <token> (get one with `mcp-tenants token`)',
    );
  });

  it('refuses another scheme without echoing the credentials', () => {
    const error = failure('Basic dXNlcjpzZWNyZXQ=');
    expect(error.code).toBe('AUTH_INVALID');
    expect(error.data).toEqual({ reason: 'bad_scheme' });
    expect(error.message).not.toContain('dXNlcjpzZWNyZXQ');
  });

  it('refuses a bare token without scheme', () => {
    expect(failure('abc.def.ghi').data).toEqual({ reason: 'bad_scheme' });
  });

  it.each([['Bearer'], ['Bearer '], ['Bearer a b'], ['Bearer a,b'], ['Bearer=abc']])(
    'refuses %j as malformed',
    (header) => {
      const error = failure(header);
      expect(error.code).toBe('AUTH_INVALID');
    },
  );

  it('says the token is malformed when the scheme is right', () => {
    expect(failure('Bearer a"b').data).toEqual({ reason: 'malformed' });
    expect(failure('Bearer').data).toEqual({ reason: 'malformed' });
  });
});
