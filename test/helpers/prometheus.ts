/** One series of a Prometheus text exposition. */
export interface PromSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/**
 * A strict parser for the text format 0.0.4 as we emit it: every line is a
 * comment (`# HELP`/`# TYPE`) or a sample; throws on anything else, so a
 * test fails on output a scraper would refuse.
 */
export function parsePrometheus(text: string): PromSample[] {
  if (!text.endsWith('\n')) throw new Error('exposition must end with a newline');
  const samples: PromSample[] = [];
  const typed = new Set<string>();
  for (const line of text.slice(0, -1).split('\n')) {
    if (line.startsWith('# HELP ')) continue;
    if (line.startsWith('# TYPE ')) {
      const [, , name, type] = line.split(' ');
      if (!name || !['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(type ?? '')) {
        throw new Error(`bad TYPE line: ${line}`);
      }
      typed.add(name);
      continue;
    }
    const match = LINE.exec(line);
    if (!match) throw new Error(`not a sample line: ${JSON.stringify(line)}`);
    const [, name = '', labelText = '', raw = ''] = match;
    const labels: Record<string, string> = {};
    const consumed = [...labelText.matchAll(LABEL)].map((m) => {
      labels[m[1] as string] = (m[2] as string).replace(/\\(.)/g, (_, c) => (c === 'n' ? '\n' : c));
      return m[0];
    });
    if (consumed.join(',') !== labelText) throw new Error(`bad labels: ${labelText}`);
    const value = raw === '+Inf' ? Number.POSITIVE_INFINITY : Number(raw);
    if (Number.isNaN(value) && raw !== 'NaN') throw new Error(`bad value: ${line}`);
    const family = name.replace(/_(bucket|sum|count)$/, '');
    if (!typed.has(name) && !typed.has(family)) throw new Error(`sample before its TYPE: ${name}`);
    samples.push({ name, labels, value });
  }
  return samples;
}

/** Sum of the samples of `name` whose labels include `match`. */
export function sumOf(
  samples: PromSample[],
  name: string,
  match: Record<string, string> = {},
): number {
  return samples
    .filter((s) => s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v))
    .reduce((sum, s) => sum + s.value, 0);
}
