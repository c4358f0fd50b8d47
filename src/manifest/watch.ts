import { type FSWatcher, watch } from 'node:fs';
import { basename, dirname } from 'node:path';

/**
 * Calls `onChange` (debounced) when the manifest file changes. The folder is
 * watched, not the file, because editors and `add-tenant` replace the file by
 * renaming a new one over it. Returns a stop function.
 */
export function watchManifest(path: string, onChange: () => void, debounceMs = 250): () => void {
  const name = basename(path);
  let timer: NodeJS.Timeout | undefined;
  let watcher: FSWatcher | undefined;
  try {
    watcher = watch(dirname(path), (_event, file) => {
      if (file !== null && file !== name) return;
      clearTimeout(timer);
      timer = setTimeout(onChange, debounceMs);
      timer.unref();
    });
    watcher.unref();
  } catch {
    // Watching is a convenience; SIGHUP still reloads.
  }
  return () => {
    clearTimeout(timer);
    watcher?.close();
  };
}
