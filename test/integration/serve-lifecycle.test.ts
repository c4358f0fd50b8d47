import { afterEach, describe, expect, it } from 'vitest';
import { connectHttp, textOf } from '../helpers/mcp-client.js';
import { waitFor, waitGone } from '../helpers/processes.js';
import {
  createWorkspace,
  fixture,
  type ServeProcess,
  startServe,
  type TestWorkspace,
} from '../helpers/serve-process.js';

describe('supervisor lifecycle', () => {
  let workspace: TestWorkspace | undefined;
  let serve: ServeProcess | undefined;

  afterEach(async () => {
    if (serve) expect((await serve.stop()).survivors).toEqual([]);
    workspace?.cleanup();
    serve = undefined;
    workspace = undefined;
  });

  it('leaves no child behind when the supervisor is SIGKILLed', async () => {
    workspace = createWorkspace({ acme: {}, echo: fixture('echo-server.mjs') });
    serve = await startServe(workspace.manifestPath);
    const acme = await connectHttp(serve.url, await workspace.token('acme'));
    const echo = await connectHttp(serve.url, await workspace.token('echo'));
    await acme.callTool({ name: 'data_set', arguments: { key: 'k', value: 'v' } });
    await echo.callTool({ name: 'echo', arguments: { text: 'hi' } });
    const children = serve.childPids();
    expect(children.length).toBeGreaterThanOrEqual(2);

    serve.process.kill('SIGKILL');
    expect(await waitGone(children, 10_000)).toEqual([]);
    await Promise.allSettled([acme.close(), echo.close()]);
  });

  it('stops children gracefully on SIGTERM and exits 0', async () => {
    workspace = createWorkspace({ acme: {} });
    serve = await startServe(workspace.manifestPath);
    const acme = await connectHttp(serve.url, await workspace.token('acme'));
    await acme.listTools();
    const children = serve.childPids();
    expect(children.length).toBe(1);
    const { code, survivors } = await serve.stop();
    serve = undefined;
    expect(code).toBe(0);
    expect(survivors).toEqual([]);
    await acme.close().catch(() => {});
  });

  it('lets a request already in the child finish on SIGTERM', async () => {
    workspace = createWorkspace({ echo: fixture('echo-server.mjs') });
    serve = await startServe(workspace.manifestPath);
    const echo = await connectHttp(serve.url, await workspace.token('echo'));
    await echo.callTool({ name: 'echo', arguments: { text: 'warm' } });
    const slow = echo.callTool({ name: 'slow', arguments: { ms: 400, text: 'finished' } });
    await new Promise((resolve) => setTimeout(resolve, 100));
    const stopped = serve.stop();
    serve = undefined;
    expect(textOf(await slow)).toBe('finished');
    const { code, survivors } = await stopped;
    expect(code).toBe(0);
    expect(survivors).toEqual([]);
    await echo.close().catch(() => {});
  });

  it('starts a child only on first use', async () => {
    workspace = createWorkspace({ acme: {}, globex: {} });
    serve = await startServe(workspace.manifestPath);
    expect(serve.childPids()).toEqual([]);
    const acme = await connectHttp(serve.url, await workspace.token('acme'));
    await waitFor(() => serve?.childPids().length === 1 || undefined, 5_000, 'one child');
    await acme.close();
  });

  it('drops non-JSON stdout lines of a child and keeps serving', async () => {
    workspace = createWorkspace({ noisy: fixture('noisy-stdout.mjs') });
    serve = await startServe(workspace.manifestPath);
    const noisy = await connectHttp(serve.url, await workspace.token('noisy'));
    for (let i = 0; i < 5; i += 1) {
      expect(textOf(await noisy.callTool({ name: 'echo', arguments: { text: `n${i}` } }))).toBe(
        `n${i}`,
      );
    }
    expect(serve.stderr()).toMatch(/non-JSON line/);
    await noisy.close();
  });

  it('kills a child that prints an endless line, and only that child', async () => {
    workspace = createWorkspace(
      { flood: fixture('long-line.mjs'), acme: {} },
      { max_line_bytes: 1024 * 1024 },
    );
    serve = await startServe(workspace.manifestPath);
    const flood = await connectHttp(serve.url, await workspace.token('flood'));
    const acme = await connectHttp(serve.url, await workspace.token('acme'));
    await expect(flood.listTools()).rejects.toThrow(/longer than 1048576 bytes/);
    const tools = await acme.listTools();
    expect(tools.tools.length).toBe(4);
    await Promise.allSettled([flood.close(), acme.close()]);
  });

  it('reports a child that exits during initialize, and keeps the supervisor up', async () => {
    workspace = createWorkspace({ broken: fixture('crash-on-start.mjs'), acme: {} });
    serve = await startServe(workspace.manifestPath);
    await expect(connectHttp(serve.url, await workspace.token('broken'))).rejects.toThrow(
      /exited during initialize/,
    );
    const acme = await connectHttp(serve.url, await workspace.token('acme'));
    expect((await acme.listTools()).tools.length).toBe(4);
    await acme.close();
  });
});
