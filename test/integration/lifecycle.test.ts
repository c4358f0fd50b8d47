import { afterEach, describe, expect, it } from 'vitest';
import { connectHttp, INITIALIZE, rawPost, textOf } from '../helpers/mcp-client.js';
import { waitFor } from '../helpers/processes.js';
import {
  adminStatus,
  createWorkspace,
  fixture,
  type ServeProcess,
  startServe,
  type TestWorkspace,
} from '../helpers/serve-process.js';

interface Health {
  tenants: {
    id: string;
    state: string;
    pid: number | null;
    crashes: number;
    last_crash: string | null;
  }[];
}

describe('child lifecycle', () => {
  let workspace: TestWorkspace | undefined;
  let serve: ServeProcess | undefined;

  afterEach(async () => {
    if (serve) expect((await serve.stop()).survivors).toEqual([]);
    workspace?.cleanup();
    serve = undefined;
    workspace = undefined;
  });

  async function health(tenant: string) {
    const status = await adminStatus<Health>(
      (serve as ServeProcess).url,
      workspace as TestWorkspace,
    );
    return status.tenants.find((entry) => entry.id === tenant);
  }

  it('backs off a crash loop, then quarantines it without a fork storm', async () => {
    workspace = createWorkspace({ broken: fixture('crash-on-start.mjs'), acme: {} });
    serve = await startServe(workspace.manifestPath);
    const auth = { authorization: `Bearer ${await workspace.token('broken')}` };
    const messages: string[] = [];
    for (let attempt = 0; attempt < 8; attempt += 1) {
      const response = await rawPost(serve.url, INITIALIZE, auth);
      expect(response.status).toBe(503);
      messages.push(JSON.stringify(response.body));
    }
    expect(messages[0]).toMatch(/exited during initialize/);
    expect(messages.at(-1)).toMatch(/keeps crashing .*quarantined/);
    const spawns = serve.stderr().match(/crash-on-start: failing on purpose/g) ?? [];
    expect(spawns.length).toBe(5);
    expect(await health('broken')).toMatchObject({ state: 'quarantined', crashes: 5 });
    // The other tenant is untouched.
    const acme = await connectHttp(serve.url, await workspace.token('acme'));
    expect((await acme.listTools()).tools).toHaveLength(4);
    await acme.close();
  });

  it('stops an idle child and starts it again, transparently for the session', async () => {
    workspace = createWorkspace({ echo: { ...fixture('echo-server.mjs'), idle_timeout_ms: 300 } });
    serve = await startServe(workspace.manifestPath);
    const client = await connectHttp(serve.url, await workspace.token('echo'));
    const first = Number(textOf(await client.callTool({ name: 'pid', arguments: {} })));
    await waitFor(() => serve?.childPids().length === 0 || undefined, 5_000, 'idle stop');
    // The process is gone a moment before the supervisor has handled its exit.
    const stopped = await waitFor(
      async () => {
        const status = await health('echo');
        return status?.state === 'stopped' ? status : undefined;
      },
      5_000,
      'the stopped state',
    );
    expect(stopped).toMatchObject({ state: 'stopped', crashes: 0 });
    const second = Number(textOf(await client.callTool({ name: 'pid', arguments: {} })));
    expect(second).not.toBe(first);
    await client.close();
  });

  it('kills a child that never answers initialize, and counts it as a crash', async () => {
    workspace = createWorkspace({ mute: { ...fixture('hang.mjs'), start_timeout_ms: 300 } });
    serve = await startServe(workspace.manifestPath);
    const response = await rawPost(serve.url, INITIALIZE, {
      authorization: `Bearer ${await workspace.token('mute')}`,
    });
    expect(response.status).toBe(504);
    expect(JSON.stringify(response.body)).toMatch(
      /did not answer server\/discover or initialize within 300 ms/,
    );
    await waitFor(() => serve?.childPids().length === 0 || undefined, 5_000, 'hung child gone');
    expect(await health('mute')).toMatchObject({ crashes: 1 });
  });

  it('stops a child that ignores SIGTERM and stdin EOF, by SIGKILL', async () => {
    workspace = createWorkspace({ stubborn: fixture('ignore-sigterm.mjs') });
    serve = await startServe(workspace.manifestPath);
    const client = await connectHttp(serve.url, await workspace.token('stubborn'));
    expect(textOf(await client.callTool({ name: 'echo', arguments: { text: 'hi' } }))).toBe('hi');
    const started = Date.now();
    const { code, survivors } = await serve.stop();
    serve = undefined;
    expect(code).toBe(0);
    expect(survivors).toEqual([]);
    expect(Date.now() - started).toBeLessThan(10_000);
    await client.close().catch(() => {});
  });

  it('starts eager tenants with the supervisor', async () => {
    workspace = createWorkspace({ warm: { ...fixture('echo-server.mjs'), eager: true }, cold: {} });
    serve = await startServe(workspace.manifestPath);
    await waitFor(
      async () => (await health('warm'))?.state === 'running' || undefined,
      5_000,
      'eager child',
    );
    expect(serve.childPids()).toHaveLength(1);
    expect(await health('cold')).toMatchObject({ state: 'stopped', pid: null });
  });
});
