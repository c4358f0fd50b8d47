import { describe, expect, it } from 'vitest';
import { globMatches, globsOverlap, templateAsGlob } from '../../src/policy/glob.js';

describe('globMatches', () => {
  it.each([
    ['*', 'anything', true],
    ['*', '', true],
    ['data_*', 'data_', true],
    ['data_*', 'data_get', true],
    ['data_*', 'xdata_get', false],
    ['data_*', 'data', false],
    ['*_get', 'data_get', true],
    ['*_get', 'data_get_x', false],
    ['data_?et', 'data_get', true],
    ['data_?et', 'data_et', false],
    ['data_get', 'data_get', true],
    ['data_get', 'Data_get', false],
    ['data_get', 'data_get2', false],
    ['d*t*', 'data_get', true],
    ['*a*a*a*b', 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', false],
    ['tenant://acme/*', 'tenant://acme/data/a%2Fb', true],
    ['tenant://acme/*', 'tenant://acme2/data/x', false],
    ['tenant://acme/data/?', 'tenant://acme/data/é', true],
    ['file:///srv/*.txt', 'file:///srv/a/b.txt', true],
    ['a.b', 'aXb', false],
    ['[a]', '[a]', true],
    ['x?y', 'x?y', true],
  ])('%j matches %j: %s', (pattern, name, expected) => {
    expect(globMatches(pattern, name)).toBe(expected);
  });
});

describe('globsOverlap', () => {
  it.each([
    ['tenant://acme/*', 'tenant://*/data/*', true],
    ['tenant://acme/*', 'file://*', false],
    ['*', 'anything', true],
    ['a?c', 'ab*', true],
    ['a?c', 'abd', false],
    ['*x', 'y*', true],
    ['ab', 'a', false],
  ])('%j and %j: %s', (a, b, expected) => {
    expect(globsOverlap(a, b)).toBe(expected);
    expect(globsOverlap(b, a)).toBe(expected);
  });

  it('agrees with trying every short string against both patterns', () => {
    // Small alphabets cover every case: literals, `?` and `*` on either side.
    const symbols = ['a', 'b', '?', '*'];
    const patterns = [''];
    for (let length = 1; length <= 3; length += 1) {
      for (const prefix of patterns.filter((p) => p.length === length - 1)) {
        for (const symbol of symbols) patterns.push(prefix + symbol);
      }
    }
    const words = [''];
    for (let length = 1; length <= 6; length += 1) {
      for (const prefix of words.filter((w) => w.length === length - 1)) {
        for (const letter of ['a', 'b', 'c']) words.push(prefix + letter);
      }
    }
    for (const a of patterns) {
      for (const b of patterns) {
        const witness = words.some((word) => globMatches(a, word) && globMatches(b, word));
        expect(globsOverlap(a, b), `${a} / ${b}`).toBe(witness);
      }
    }
  });

  it('takes names far longer than any URI without deep recursion, in polynomial time', () => {
    const long = `tenant://acme/${'x'.repeat(10_000)}`;
    expect(globsOverlap('*', long)).toBe(true);
    expect(globsOverlap(long, '*')).toBe(true);
    expect(globsOverlap('tenant://acme/*', long)).toBe(true);
    expect(globsOverlap('tenant://other/*', long)).toBe(false);
    expect(globsOverlap('*x?x*', `${'?*'.repeat(300)}`)).toBe(true);
    expect(globsOverlap(`${'*a'.repeat(400)}`, `${'*b'.repeat(400)}`)).toBe(false);
  });

  it('reads a URI template as a glob', () => {
    expect(templateAsGlob('tenant://{tenant}/data/{key}')).toBe('tenant://*/data/*');
  });
});
