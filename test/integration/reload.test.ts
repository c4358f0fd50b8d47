import { writeFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { connectHttp, INITIALIZE, rawPost, textOf } from '../helpers/mcp-client.js';
import { waitFor } from '../helpers/processes.js';
import {
  createWorkspace,
  fixture,
  type ServeProcess,
  startServe,
  type TestWorkspace,
} from '../helpers/serve-process.js';

describe('hot reload', () => {
  let workspace: TestWorkspace | undefined;
  let serve: ServeProcess | undefined;

  afterEach(async () => {
    if (serve) expect((await serve.stop()).survivors).toEqual([]);
    workspace?.cleanup();
    serve = undefined;
    workspace = undefined;
  });

  const reloads = () => serve?.stderr().match(/manifest reloaded/g)?.length ?? 0;

  it('adds, removes and changes tenants when the file changes, keeping other sessions', async () => {
    workspace = createWorkspace({ acme: {}, globex: {}, echo: fixture('echo-server.mjs') });
    serve = await startServe(workspace.manifestPath);
    const acme = await connectHttp(serve.url, await workspace.token('acme'));
    const echo = await connectHttp(serve.url, await workspace.token('echo'));
    await acme.callTool({ name: 'data_set', arguments: { key: 'kept', value: 'yes' } });
    const echoPid = textOf(await echo.callTool({ name: 'pid', arguments: {} }));
    const globexToken = await workspace.token('globex');
    const globex = await connectHttp(serve.url, globexToken);
    await globex.listTools();

    workspace.rewrite({
      acme: {},
      initech: {},
      echo: { ...fixture('echo-server.mjs'), request_timeout_ms: 1_234 },
    });
    await waitFor(() => reloads() >= 1 || undefined, 5_000, 'reload');

    // acme's session survived; its child kept its data and its process.
    expect(textOf(await acme.callTool({ name: 'data_get', arguments: { key: 'kept' } }))).toBe(
      'yes',
    );
    // echo changed only its timeout: same child, same session.
    expect(textOf(await echo.callTool({ name: 'pid', arguments: {} }))).toBe(echoPid);
    // initech exists now.
    const initech = await connectHttp(serve.url, await workspace.token('initech'));
    expect((await initech.listTools()).tools).toHaveLength(4);
    // globex is gone: its token is refused, its session is over.
    expect(
      (await rawPost(serve.url, INITIALIZE, { authorization: `Bearer ${globexToken}` })).status,
    ).toBe(403);
    await expect(globex.listTools()).rejects.toThrow();
    await Promise.allSettled([acme.close(), echo.close(), initech.close(), globex.close()]);
  });

  it('refuses an invalid manifest, logs why, and keeps serving', async () => {
    workspace = createWorkspace({ acme: {} });
    serve = await startServe(workspace.manifestPath);
    const acme = await connectHttp(serve.url, await workspace.token('acme'));
    writeFileSync(workspace.manifestPath, 'tenants: [this is: not valid');
    await waitFor(() => /manifest reload refused/.test(serve?.stderr() ?? '') || undefined, 5_000);
    expect((await acme.listTools()).tools).toHaveLength(4);
    await acme.close();
  });

  it('reloads on SIGHUP', async () => {
    workspace = createWorkspace({ acme: {} });
    serve = await startServe(workspace.manifestPath, ['--no-watch']);
    workspace.rewrite({ acme: {}, later: {} });
    serve.process.kill('SIGHUP');
    await waitFor(() => reloads() >= 1 || undefined, 5_000, 'reload');
    const later = await connectHttp(serve.url, await workspace.token('later'));
    expect((await later.listTools()).tools).toHaveLength(4);
    await later.close();
  });
});
