import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { manifestJsonSchema } from '../../src/manifest/json-schema.js';
import { renderInitialManifest } from '../../src/manifest/template.js';

type Schema = {
  type?: string | string[];
  pattern?: string;
  properties?: Record<string, Schema>;
  additionalProperties?: Schema | boolean;
  propertyNames?: { pattern?: string };
  anyOf?: Schema[];
  items?: Schema;
};

/** Every key path of `value` the schema does not describe (a small subset of JSON Schema). */
function undescribed(value: unknown, schema: Schema, path = ''): string[] {
  if (schema.anyOf) {
    const each = schema.anyOf.map((option) => undescribed(value, option, path));
    return each.find((problems) => problems.length === 0) ?? (each[0] as string[]);
  }
  if (Array.isArray(value)) {
    return schema.items
      ? value.flatMap((item, i) => undescribed(item, schema.items as Schema, `${path}[${i}]`))
      : [];
  }
  if (typeof value !== 'object' || value === null) {
    const types = [schema.type ?? []].flat();
    const actual =
      typeof value === 'number' && Number.isInteger(value) ? ['integer', 'number'] : [typeof value];
    if (value === null) return types.includes('null') ? [] : [`${path}: null`];
    if (typeof value === 'string' && schema.pattern && !new RegExp(schema.pattern).test(value)) {
      return [`${path}: string`];
    }
    return types.length === 0 || actual.some((type) => types.includes(type))
      ? []
      : [`${path}: ${typeof value}`];
  }
  return Object.entries(value).flatMap(([key, child]) => {
    const here = `${path}.${key}`;
    const named = schema.properties?.[key];
    if (named) return undescribed(child, named, here);
    const pattern = schema.propertyNames?.pattern;
    if (pattern && !new RegExp(pattern).test(key)) return [`${here}: name not allowed`];
    if (typeof schema.additionalProperties === 'object') {
      return undescribed(child, schema.additionalProperties, here);
    }
    return [`${here}: unknown key`];
  });
}

describe('the manifest JSON Schema for editors', () => {
  const schema = manifestJsonSchema() as Schema;

  it('describes every key of the bundled example and of the init template', () => {
    const example = parse(readFileSync('tenants.example.yaml', 'utf8'));
    expect(undescribed(example, schema)).toEqual([]);
    const initial = parse(renderInitialManifest({ secret: 'x'.repeat(48) }));
    expect(undescribed(initial, schema)).toEqual([]);
  });

  it('flags a typo, a bad tenant id and a wrong type, as serve would', () => {
    const problems = undescribed(
      {
        auth: { secret: 'x' },
        tenants: { acme: { quotas: { max_tool: 3 } }, 'Bad Id': {}, b: { eager: 'yes' } },
      },
      schema,
    );
    expect(problems).toEqual([
      '.tenants.acme.quotas.max_tool: unknown key',
      '.tenants.Bad Id: name not allowed',
      '.tenants.b.eager: string',
    ]);
  });

  it('accepts a variable reference where a number is expected, and an empty tenant entry', () => {
    const problems = undescribed(
      // biome-ignore lint/suspicious/noTemplateCurlyInString: the manifest's own ${VAR} syntax
      { server: { port: '${PORT}' }, auth: { secret: 'x' }, tenants: { acme: null } },
      schema,
    );
    expect(problems).toEqual([]);
  });

  it('is shipped as schema/tenants.schema.json, as built', () => {
    const shipped = JSON.parse(readFileSync('schema/tenants.schema.json', 'utf8'));
    expect(shipped).toEqual(manifestJsonSchema());
  });
});
