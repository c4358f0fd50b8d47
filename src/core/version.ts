import { readFileSync } from 'node:fs';

/**
 * The package's version, read once from package.json: from `src/core/`
 * (tests) and `dist/core/` (installed) it is two folders up either way.
 */
export const PACKAGE_VERSION: string = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  }
).version;
