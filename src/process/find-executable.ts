import { accessSync, constants, statSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The first executable file `name` in `dirs` (absolute folders only), if any;
 * a `name` with a slash is a path and checked as it is.
 */
export function findExecutable(name: string, dirs: readonly string[]): string | undefined {
  const candidates = name.includes('/')
    ? [name]
    : dirs.filter((dir) => dir.startsWith('/')).map((dir) => join(dir, name));
  for (const candidate of candidates) {
    try {
      accessSync(candidate, constants.X_OK);
      if (statSync(candidate).isFile()) return candidate;
    } catch {
      // Not here.
    }
  }
  return undefined;
}
