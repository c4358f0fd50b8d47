/** Renders one `id: {settings}` entry of the tenants map as YAML lines. */

import { Document, isCollection, isMap } from 'yaml';

// Short lists and number maps read best on one line: `quotas: { max_tools: 10 }`.
const ONE_LINE_KEYS = ['args', 'quotas', 'limits'];

/** A yaml Document holding `{ [id]: settings }`, with the one-line keys set to flow style. */
export function tenantEntryDocument(id: string, settings: Record<string, unknown>): Document {
  const doc = new Document({ [id]: settings });
  const value = isMap(doc.contents) ? doc.contents.get(id, true) : undefined;
  if (isMap(value)) {
    for (const key of ONE_LINE_KEYS) {
      const child = value.get(key, true);
      if (isCollection(child)) child.flow = true;
    }
  }
  return doc;
}

/** The entry as text, every line indented by `indent` spaces, nesting by `step`. */
export function renderTenantEntry(
  id: string,
  settings: Record<string, unknown>,
  indent: number,
  step: number,
): string {
  const text = tenantEntryDocument(id, settings).toString({ indent: step, lineWidth: 0 });
  const pad = ' '.repeat(indent);
  return text
    .split('\n')
    .map((line) => (line === '' ? line : pad + line))
    .join('\n');
}
