import { createServer } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { signToken } from '../../src/auth/sign.js';
import { connectHttp, INITIALIZE, rawPost } from '../helpers/mcp-client.js';
import {
  createWorkspace,
  fixture,
  runCli,
  type ServeProcess,
  startServe,
  type TestWorkspace,
} from '../helpers/serve-process.js';

const cli = (...args: string[]) => runCli(args);

interface Listed {
  running: boolean;
  tenants: { id: string; state: string; pid: number | null; rss_bytes: number | null }[];
}

describe('mcp-tenants tenants, and the admin API behind it', () => {
  let workspace: TestWorkspace | undefined;
  let serve: ServeProcess | undefined;

  afterEach(async () => {
    if (serve) expect((await serve.stop()).survivors).toEqual([]);
    workspace?.cleanup();
    serve = undefined;
    workspace = undefined;
  });

  it('falls back to the manifest when no supervisor runs', async () => {
    const port = await freePort();
    workspace = createWorkspace({ acme: {}, globex: {} }, { port });
    const { code, stdout, stderr } = cli('tenants', '-m', workspace.manifestPath);
    expect(code).toBe(0);
    expect(stderr).toContain(
      `no supervisor answers at http://127.0.0.1:${port}; showing the manifest`,
    );
    expect(stdout).toMatch(/^TENANT +STATE +PID +UPTIME +SESSIONS +MEMORY +RESTARTS$/m);
    expect(stdout).toMatch(/^acme +not running +-/m);
    expect(stdout).toMatch(/^globex +not running/m);
  });

  it('lists the live state of a running supervisor, and resets a quarantine', async () => {
    workspace = createWorkspace({ acme: {}, broken: fixture('crash-on-start.mjs') });
    serve = await startServe(workspace.manifestPath);
    const url = serve.url;
    const acme = await connectHttp(url, await workspace.token('acme'));
    await acme.listTools();
    const auth = { authorization: `Bearer ${await workspace.token('broken')}` };
    for (let attempt = 0; attempt < 6; attempt += 1) await rawPost(url, INITIALIZE, auth);

    const listed = cli('tenants', '-m', workspace.manifestPath, '--url', url, '--json');
    expect(listed.code).toBe(0);
    const live = JSON.parse(listed.stdout) as Listed;
    expect(live.running).toBe(true);
    const running = live.tenants.find((tenant) => tenant.id === 'acme');
    expect(running).toMatchObject({ state: 'running' });
    expect(running?.pid).toBeTypeOf('number');
    expect(running?.rss_bytes).toBeGreaterThan(0);
    expect(live.tenants.find((tenant) => tenant.id === 'broken')?.state).toBe('quarantined');

    const reset = cli('tenants', 'reset', 'broken', '-m', workspace.manifestPath, '--url', url);
    expect(reset.code).toBe(0);
    const after = JSON.parse(
      cli('tenants', '-m', workspace.manifestPath, '--url', url, '--json').stdout,
    ) as Listed;
    expect(after.tenants.find((tenant) => tenant.id === 'broken')?.state).toBe('stopped');
    await acme.close();
  });

  it('shows a tenant admin only its own tenant, and refuses tokens without admin', async () => {
    workspace = createWorkspace({ acme: {}, globex: {} });
    serve = await startServe(workspace.manifestPath);
    const admin = serve.url.replace('/mcp', '/admin/tenants');
    const auth = { secret: workspace.secret };
    const acmeAdmin = await signToken(auth, {
      tenantId: 'acme',
      userId: 'root',
      permissions: ['admin'],
      ttlSeconds: 60,
    });
    const own = await fetch(admin, { headers: { authorization: `Bearer ${acmeAdmin}` } });
    expect(own.status).toBe(200);
    const body = (await own.json()) as Listed;
    expect(body.tenants.map((tenant) => tenant.id)).toEqual(['acme']);

    const other = await fetch(admin.replace('/tenants', '/tenants/globex/reset'), {
      method: 'POST',
      headers: { authorization: `Bearer ${acmeAdmin}` },
    });
    expect(other.status).toBe(403);

    const user = await fetch(admin, {
      headers: { authorization: `Bearer ${await workspace.token('acme')}` },
    });
    expect(user.status).toBe(403);
    expect(JSON.stringify(await user.json())).toMatch(/operator token/);
  });
});

/** A port nothing listens on: bound, then released. */
function freePort(): Promise<number> {
  const server = createServer();
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    }),
  );
}
