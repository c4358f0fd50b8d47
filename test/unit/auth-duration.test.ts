import { describe, expect, it } from 'vitest';
import { parseDuration } from '../../src/auth/duration.js';
import { McpTenantsError } from '../../src/core/errors.js';

describe('parseDuration', () => {
  it.each([
    ['90s', 90],
    ['15m', 900],
    ['1h', 3600],
    ['7d', 604_800],
    ['3600', 3600],
    ['366d', 31_622_400],
    [' 30m ', 1800],
  ])('%j is %d seconds', (text, seconds) => {
    expect(parseDuration(text)).toBe(seconds);
  });

  it.each([[''], ['0'], ['0s'], ['1w'], ['1.5h'], ['-5m'], ['h'], ['1 h'], ['1H'], ['1h30m']])(
    'refuses %j',
    (text) => {
      expect(() => parseDuration(text)).toThrow(
        new McpTenantsError(
          'USAGE',
          `invalid duration ${JSON.stringify(text)}: use e.g. 30m, 1h, 7d`,
        ),
      );
    },
  );

  it('refuses more than 366 days', () => {
    for (const text of ['367d', '31622401', '9999999h']) {
      let error: unknown;
      try {
        parseDuration(text);
      } catch (caught) {
        error = caught;
      }
      expect((error as McpTenantsError).code).toBe('USAGE');
      expect((error as McpTenantsError).message).toMatch(/at most 366d/);
    }
  });
});
