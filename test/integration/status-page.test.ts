import { existsSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { signToken } from '../../src/auth/sign.js';
import { connectHttp } from '../helpers/mcp-client.js';
import {
  createWorkspace,
  type ServeProcess,
  startServe,
  type TestWorkspace,
} from '../helpers/serve-process.js';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = join(import.meta.dirname, '..', 'artifacts');
// The browser driver is bench/package.json's, not the root install's: npm --prefix bench ci.
const BENCH = join(import.meta.dirname, '..', '..', 'bench');
const PLAYWRIGHT = join(BENCH, 'node_modules', 'playwright-core', 'package.json');

/**
 * Why the browser test cannot run here, or undefined when it can. Outside CI it
 * skips, saying so; in CI (where `.ci/run` installs both) it fails instead.
 */
const browserMissing: string | undefined = (() => {
  const missing = [
    ...(existsSync(PLAYWRIGHT)
      ? []
      : ['playwright-core not in bench/node_modules (npm --prefix bench ci)']),
    ...(existsSync(CHROMIUM) ? [] : [`${CHROMIUM} not found (apt-get install chromium)`]),
  ];
  if (missing.length === 0) return undefined;
  const reason = missing.join('; ');
  if (!process.env.CI) console.warn(`skipping the status page's browser test: ${reason}`);
  return reason;
})();

/** The part of playwright-core's API this test drives (loaded at run time, so typed here). */
interface Locator {
  locator(selector: string): Locator;
  waitFor(options: { timeout: number }): Promise<void>;
  textContent(): Promise<string | null>;
}
interface Page {
  goto(url: string): Promise<unknown>;
  url(): string;
  locator(selector: string): Locator;
  screenshot(options: { path: string; fullPage: boolean }): Promise<unknown>;
}
interface Browser {
  newPage(): Promise<Page>;
  close(): Promise<void>;
}
interface BrowserType {
  launch(options: { executablePath: string; args: string[] }): Promise<Browser>;
}

function loadChromium(): BrowserType {
  const fromBench = createRequire(join(BENCH, 'package.json'));
  return (fromBench('playwright-core') as { chromium: BrowserType }).chromium;
}

interface StatusJson {
  scope: string;
  tenants: { id: string; state: string; sessions: number; memory_limit_mb: number | null }[];
}

describe('the status page', () => {
  let workspace: TestWorkspace | undefined;
  let serve: ServeProcess | undefined;

  afterEach(async () => {
    if (serve) expect((await serve.stop()).survivors).toEqual([]);
    workspace?.cleanup();
    serve = undefined;
  });

  async function start() {
    workspace = createWorkspace({
      acme: { limits: { memory_mb: 256 } },
      globex: {},
    });
    serve = await startServe(workspace.manifestPath);
    return { base: serve.url.replace(/\/mcp$/, ''), workspace };
  }

  it('trades a query token for an HttpOnly cookie, and shows a tenant admin only its tenant', async () => {
    const { base, workspace } = await start();
    expect((await fetch(`${base}/`)).status).toBe(401);
    const plain = await workspace.token('acme');
    expect((await fetch(`${base}/?token=${plain}`, { redirect: 'manual' })).status).toBe(403);

    const admin = await signToken(
      { secret: workspace.secret },
      { tenantId: 'acme', userId: 'root', permissions: ['admin'], ttlSeconds: 60 },
    );
    const login = await fetch(`${base}/?token=${admin}`, { redirect: 'manual' });
    expect(login.status).toBe(303);
    expect(login.headers.get('location')).toBe('/');
    const cookie = login.headers.get('set-cookie') ?? '';
    expect(cookie).toMatch(/HttpOnly/);
    expect(cookie).toMatch(/SameSite=Strict/);
    expect(cookie).not.toContain(admin);

    const session = cookie.split(';')[0] as string;
    const page = await fetch(`${base}/`, { headers: { cookie: session } });
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<title>mcp-tenants status</title>');
    const status = (await (
      await fetch(`${base}/status.json`, { headers: { cookie: session } })
    ).json()) as StatusJson;
    expect(status.tenants.map((tenant) => tenant.id)).toEqual(['acme']);
    expect(status.tenants[0]?.memory_limit_mb).toBe(256);

    // The cookie is for the page only: /mcp still wants a bearer header.
    expect(
      (await fetch(`${base}/mcp`, { method: 'POST', headers: { cookie: session } })).status,
    ).toBe(401);
  });

  it.skipIf(browserMissing !== undefined && !process.env.CI)(
    `renders live tenant state in headless Chromium (needs bench's playwright-core and ${CHROMIUM})`,
    async () => {
      if (browserMissing !== undefined) throw new Error(`${browserMissing}; .ci/run installs both`);
      const chromium = loadChromium();
      const { base, workspace } = await start();
      const client = await connectHttp(`${base}/mcp`, await workspace.token('acme'));
      await client.listTools();
      const browser = await chromium.launch({
        executablePath: CHROMIUM,
        args: [
          '--no-sandbox',
          '--disable-gpu',
          '--disable-quic',
          '--no-first-run',
          '--disable-background-networking',
          '--disable-component-update',
          '--disable-sync',
        ],
      });
      try {
        const page = await browser.newPage();
        await page.goto(`${base}/?token=${await workspace.operatorToken()}`);
        expect(new URL(page.url()).search).toBe('');
        const acme = page.locator('tr[data-tenant="acme"]');
        await acme.locator('.badge.running').waitFor({ timeout: 10_000 });
        await expect
          .poll(async () => acme.locator('[data-field="sessions"]').textContent())
          .toBe('1');
        expect(await acme.locator('[data-field="memory"]').textContent()).toMatch(/\/ 256 MB/);
        expect(await page.locator('tr[data-tenant="globex"] .badge').textContent()).toBe('stopped');
        mkdirSync(ARTIFACTS, { recursive: true });
        await page.screenshot({ path: join(ARTIFACTS, 'status-page.png'), fullPage: true });
      } finally {
        await browser.close();
        await client.close();
      }
    },
    30_000,
  );
});
