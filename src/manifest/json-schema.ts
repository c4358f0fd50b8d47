import { z } from 'zod';
import { manifestSchema } from './schema.js';

type JsonSchema = { [key: string]: unknown };

// biome-ignore lint/suspicious/noTemplateCurlyInString: the manifest's own ${VAR} syntax
const EXPANSION = { type: 'string', pattern: '\\$\\{', description: '${VAR} from the environment' };

/**
 * The manifest's JSON Schema, generated from the validator so editors
 * (yaml-language-server) complete and check the same rules `serve` applies.
 * Two things the validator accepts that plain JSON Schema would not: a
 * `${VAR}` in place of any number or boolean, and an empty section (`acme:`
 * with nothing under it, which YAML reads as null).
 */
export function manifestJsonSchema(): JsonSchema {
  const generated = z.toJSONSchema(manifestSchema, { io: 'output', unrepresentable: 'any' });
  const schema = relax(generated) as JsonSchema;
  return {
    ...schema,
    type: 'object',
    title: 'mcp-tenants manifest',
    description: 'Tenants served by `mcp-tenants serve`: one child MCP server process per tenant.',
  };
}

function relax(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(relax);
  if (typeof node !== 'object' || node === null) return node;
  const entries = Object.entries(node).map(([key, value]) => [key, relax(value)] as const);
  const result: JsonSchema = Object.fromEntries(entries);
  const type = result.type;
  if (type === 'integer' || type === 'number' || type === 'boolean') {
    return { anyOf: [result, EXPANSION] };
  }
  if (type === 'object') return { ...result, type: ['object', 'null'] };
  return result;
}
