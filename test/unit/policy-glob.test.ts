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

  it('reads a URI template as a glob', () => {
    expect(templateAsGlob('tenant://{tenant}/data/{key}')).toBe('tenant://*/data/*');
  });
});
