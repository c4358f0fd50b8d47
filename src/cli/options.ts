import { type Command, InvalidArgumentError, Option } from 'commander';

export const DEFAULT_MANIFEST = 'tenants.yaml';

/** `-m, --manifest`, shared by every command that reads the manifest. */
export function manifestOption(): Option {
  return new Option('-m, --manifest <file>', 'tenant manifest (YAML)')
    .env('MCP_TENANTS_MANIFEST')
    .default(DEFAULT_MANIFEST);
}

export function parsePositiveInt(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) <= 0) {
    throw new InvalidArgumentError(`expected a positive integer, got "${value}"`);
  }
  return Number(value);
}

export function parseCount(value: string): number {
  if (!/^\d+$/.test(value)) {
    throw new InvalidArgumentError(`expected a whole number, 0 or more, got "${value}"`);
  }
  return Number(value);
}

export function parsePort(value: string): number {
  const port = Number(value);
  if (!/^\d+$/.test(value) || port > 65_535) {
    throw new InvalidArgumentError(`expected a port number 0-65535, got "${value}"`);
  }
  return port;
}

export function parsePositiveNumber(value: string): number {
  const number = Number(value);
  if (value.trim() === '' || !Number.isFinite(number) || number <= 0) {
    throw new InvalidArgumentError(`expected a positive number, got "${value}"`);
  }
  return number;
}

export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

export function parseKeyValue(value: string, previous: Record<string, string> = {}) {
  const at = value.indexOf('=');
  if (at <= 0) throw new InvalidArgumentError(`expected KEY=VALUE, got "${value}"`);
  return { ...previous, [value.slice(0, at)]: value.slice(at + 1) };
}

/** A user or group: a numeric id (written as a number) or a name. */
export function parseSystemId(value: string): string | number {
  if (/^\d+$/.test(value)) return Number(value);
  if (value.trim() === '') throw new InvalidArgumentError('expected a name or a numeric id');
  return value;
}

/** `--since` / `--until` of the commands that read the telemetry database. */
export function timeWindowOptions(command: Command): Command {
  return command
    .option('--since <when>', 'start: 30m, 24h, 7d, 2w back from now, or an ISO date/time', '24h')
    .option('--until <when>', 'end: same forms as --since', 'now');
}

/** `--format table|json|csv` of the commands that print rows. */
export function formatOption(): Option {
  return new Option('--format <format>', 'output format')
    .choices(['table', 'json', 'csv'])
    .default('table');
}
