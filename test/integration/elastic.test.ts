import { afterEach, describe, expect, it } from 'vitest';
import { statelessPost } from '../helpers/mcp-client.js';
import { waitFor } from '../helpers/processes.js';
import {
  adminStatus,
  createWorkspace,
  fixture,
  runCli,
  type ServeProcess,
  startServe,
  type TestWorkspace,
} from '../helpers/serve-process.js';

interface Status {
  tenants: { id: string; pid: number | null; instances?: number }[];
}

/** `max_instances`: more children for a tenant while its load stays high, fewer after. */
describe('elastic tenants', () => {
  let workspace: TestWorkspace | undefined;
  let serve: ServeProcess | undefined;
  afterEach(async () => {
    await serve?.stop();
    workspace?.cleanup();
  });

  const call = async (tenant: string, name: string, args: Record<string, unknown>) =>
    statelessPost(serve?.url ?? '', {
      token: (await workspace?.token(tenant)) ?? '',
      method: 'tools/call',
      params: { name, arguments: args },
      headers: { connection: 'close' },
    });

  /** `count` stateless `slow` calls of `ms` each, all at once; their HTTP statuses. */
  const load = (tenant: string, count: number, ms: number): Promise<number[]> =>
    Promise.all(
      Array.from({ length: count }, () =>
        call(tenant, 'slow', { ms, text: 'x' }).then((answer) => answer.status),
      ),
    );

  /** Which child answered: the echo fixture's `pid` tool. */
  const pidThatAnswers = async (tenant: string): Promise<number> =>
    Number(
      ((await call(tenant, 'pid', {})).body as { result: { content: { text: string }[] } }).result
        .content[0]?.text,
    );

  it('starts another child under sustained load, spreads requests over both, and stops it when idle', async () => {
    workspace = createWorkspace({
      busy: { ...fixture('echo-server.mjs'), max_instances: 2, idle_timeout_ms: 1_500 },
      steady: fixture('echo-server.mjs'),
    });
    serve = await startServe(workspace.manifestPath);
    const ws = workspace;
    const url = serve.url;
    const statusOf = async (id: string) =>
      (await adminStatus<Status>(url, ws)).tenants.find((tenant) => tenant.id === id);
    // Eight calls of 6 s each keep one child over the busy mark for longer than three samples.
    const first = load('busy', 8, 6_000);
    await waitFor(
      async () => ((await statusOf('busy'))?.instances === 2 ? true : undefined),
      10_000,
      'a second child',
    );
    // New requests go to the least busy child: the new one, not the one with eight in it.
    const sharedPid = (await statusOf('busy'))?.pid;
    const answering = new Set([
      await pidThatAnswers('busy'),
      await pidThatAnswers('busy'),
      await pidThatAnswers('busy'),
    ]);
    expect(answering.size).toBe(1);
    expect(answering.has(sharedPid ?? -1)).toBe(false);
    expect(await first).toEqual(Array(8).fill(200));
    // Idle for idle_timeout_ms: the extra stops and is let go; the first child stays.
    await waitFor(
      async () => ((await statusOf('busy'))?.instances === 1 ? true : undefined),
      10_000,
      'the extra to stop',
    );
    expect((await statusOf('busy'))?.pid).toBe(sharedPid);
    // A tenant without max_instances keeps exactly one child under the same load.
    expect(await load('steady', 8, 4_000)).toEqual(Array(8).fill(200));
    expect((await statusOf('steady'))?.instances).toBeUndefined();
    expect(serve.stderr()).toMatch(/starting another child for the tenant","tenant":"busy"/);
    expect(serve.stderr()).not.toMatch(/starting another child for the tenant","tenant":"steady"/);
  }, 40_000);

  it('refuses max_instances with isolation: session, saying why', async () => {
    workspace = createWorkspace({ odd: { isolation: 'session', max_instances: 2 } });
    const checked = runCli(['tenants', '-m', workspace.manifestPath]);
    expect(checked.code).toBe(3);
    expect(checked.stderr).toContain('max_instances adds shared children under load');
  });
});
