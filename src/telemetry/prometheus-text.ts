/**
 * Prometheus text exposition format 0.0.4: `# HELP`, `# TYPE`, then one
 * line per series. Label values are escaped (backslash, quote, newline).
 */
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

export type Labels = Readonly<Record<string, string>>;

export interface Sample {
  labels: Labels;
  value: number;
  /** Appended to the family name (`_bucket`, `_sum`, `_count`). */
  suffix?: string;
}

export interface Family {
  name: string;
  help: string;
  type: 'counter' | 'gauge' | 'histogram';
  samples: Sample[];
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Number.POSITIVE_INFINITY) return '+Inf';
  if (value === Number.NEGATIVE_INFINITY) return '-Inf';
  return String(value);
}

function formatLabels(labels: Labels): string {
  const entries = Object.entries(labels);
  if (entries.length === 0) return '';
  return `{${entries.map(([key, value]) => `${key}="${escapeLabel(value)}"`).join(',')}}`;
}

/** `common` labels (e.g. a cluster node's `node`) come first on every series. */
export function renderFamilies(families: readonly Family[], common: Labels = {}): string {
  const lines: string[] = [];
  const shared = Object.keys(common).length > 0;
  for (const family of families) {
    lines.push(`# HELP ${family.name} ${family.help.replace(/\n/g, ' ')}`);
    lines.push(`# TYPE ${family.name} ${family.type}`);
    for (const sample of family.samples) {
      const labels = shared ? { ...common, ...sample.labels } : sample.labels;
      lines.push(
        `${family.name}${sample.suffix ?? ''}${formatLabels(labels)} ${formatValue(sample.value)}`,
      );
    }
  }
  return `${lines.join('\n')}\n`;
}
