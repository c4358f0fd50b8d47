// Writes schema/tenants.schema.json from the compiled validator (run by `npm run build`).
import { writeFileSync } from 'node:fs';
import { manifestJsonSchema } from '../dist/manifest/json-schema.js';

const target = new URL('../schema/tenants.schema.json', import.meta.url);
writeFileSync(target, `${JSON.stringify(manifestJsonSchema(), null, 2)}\n`);
