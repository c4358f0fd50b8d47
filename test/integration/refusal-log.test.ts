import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { INITIALIZE, rawPost } from '../helpers/mcp-client.js';
import { waitFor } from '../helpers/processes.js';
import {
  createWorkspace,
  type ServeProcess,
  startServe,
  type TestWorkspace,
} from '../helpers/serve-process.js';

/** Refused requests are in the log at warn, with why, never with the token, in a few lines. */
describe('the log of refused requests', () => {
  let workspace: TestWorkspace;
  let serve: ServeProcess;
  beforeAll(async () => {
    workspace = createWorkspace({ acme: {} });
    serve = await startServe(workspace.manifestPath);
  });
  afterAll(async () => {
    await serve?.stop();
    workspace?.cleanup();
  });

  const refusals = (): Record<string, unknown>[] =>
    serve
      .stderr()
      .split('\n')
      .filter((line) => line.includes('"msg":"refused a request"'))
      .map((line) => JSON.parse(line) as Record<string, unknown>);

  it('says the status, the code and the reason, and never the token', async () => {
    const missing = await rawPost(serve.url, INITIALIZE);
    expect(missing.status).toBe(401);
    const forged = `${(await workspace.token('acme')).slice(0, -4)}AAAA`;
    const bad = await rawPost(serve.url, INITIALIZE, { authorization: `Bearer ${forged}` });
    expect(bad.status).toBe(401);
    const unknown = await rawPost(
      serve.url,
      { jsonrpc: '2.0', id: 1, method: 'tools/list' },
      {
        authorization: `Bearer ${await workspace.token('acme')}`,
        'mcp-session-id': '00000000-0000-4000-8000-000000000000',
        'mcp-protocol-version': '2025-11-25',
      },
    );
    expect(unknown.status).toBe(404);
    const lines = await waitFor(() => (refusals().length >= 3 ? refusals() : undefined));
    expect(lines.slice(0, 3).map((line) => [line.level, line.status, line.code])).toEqual([
      ['warn', 401, 'AUTH_MISSING'],
      ['warn', 401, 'AUTH_INVALID'],
      ['warn', 404, 'SESSION_UNKNOWN'],
    ]);
    expect(lines[1]?.reason).toBeTypeOf('string');
    expect(serve.stderr()).not.toContain(forged.split('.')[2] as string);
  });

  it('keeps a flood of refusals to a few lines', async () => {
    const before = refusals().length;
    await Promise.all(Array.from({ length: 150 }, () => rawPost(serve.url, INITIALIZE)));
    const flood = refusals().slice(before);
    expect(flood.length).toBeLessThanOrEqual(20);
    expect(flood.length).toBeGreaterThan(0);
  });
});
