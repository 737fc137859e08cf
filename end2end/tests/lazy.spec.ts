// Issue 14: rarely used pages are split out of the main wasm bundle (#[lazy_route]).
// The Database downloads none of their chunks; a lazy page works when navigated to in
// the browser (its chunk fetched then) and when loaded directly (server-rendered, its
// chunks preloaded, hydrated once they are there).
import { expect, Page, test } from '@playwright/test';
import { Server, signInAsOwner, startServer, hydrated } from './server';

let server: Server;

test.beforeAll(async () => {
  server = await startServer({ withOwner: true });
});

test.afterAll(async () => {
  await server?.stop();
});

/** The wasm files this document has fetched so far (main bundle and chunks), from the
 *  browser's own resource timing, which lists cache hits too. */
async function wasmFetched(page: Page): Promise<string[]> {
  return page.evaluate(() =>
    performance
      .getEntriesByType('resource')
      .map((entry) => new URL(entry.name).pathname)
      .filter((path) => path.endsWith('.wasm')),
  );
}

const isChunk = (path: string) => path.endsWith('.wasm') && !path.endsWith('/leadline_bg.wasm');

test('the Database loads no chunk; Settings, reached in the browser, fetches its own and works', async ({ page }) => {
  await signInAsOwner(page, server);
  await page.goto(`${server.baseUrl}/leads`);
  await hydrated(page);
  const database = await wasmFetched(page);
  expect(database.some((p) => p.endsWith('/leadline_bg.wasm')), 'the main bundle').toBe(true);
  expect(database.filter(isChunk), 'the Database needs no chunk').toEqual([]);

  // A client-side navigation: the same document (the marker survives), the chunk fetched now.
  await page.evaluate(() => ((window as any).__sameDocument = true));
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Settings' }).click();
  await expect(page).toHaveURL(/\/settings$/);
  await expect(page.getByRole('heading', { name: 'Settings', level: 1 })).toBeVisible();
  expect(await page.evaluate(() => (window as any).__sameDocument)).toBe(true);
  expect((await wasmFetched(page)).filter(isChunk).length, 'Settings came in chunks of its own').toBeGreaterThan(0);

  // The lazily loaded page is interactive: the invitation form answers in place.
  await page.getByLabel('Email').fill('rina@toko.example');
  await page.getByRole('button', { name: 'Create invitation link' }).click();
  await expect(page.getByTestId('invite-link')).toHaveValue(/\/invite\?token=[0-9a-f]{64}$/);
  expect(await page.evaluate(() => (window as any).__sameDocument)).toBe(true);

  // And back to the Database in the browser, still the same document.
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Database' }).click();
  await expect(page).toHaveURL(/\/leads$/);
  expect(await page.evaluate(() => (window as any).__sameDocument)).toBe(true);
});

test('a lazy page loaded directly names its chunks for preloading and hydrates', async ({ page }) => {
  await signInAsOwner(page, server);
  for (const where of ['/settings', '/account', '/inbox', '/import']) {
    await page.goto(`${server.baseUrl}${where}`);
    await hydrated(page);
    const preloads = await page.locator('head link[rel="preload"][as="fetch"]').evaluateAll((links) =>
      links.map((l) => new URL((l as HTMLLinkElement).href).pathname),
    );
    const chunks = preloads.filter(isChunk);
    expect(chunks.length, `${where} preloads its chunks`).toBeGreaterThan(0);
    const fetched = await wasmFetched(page);
    for (const chunk of chunks) {
      expect(fetched, `${where} fetched ${chunk}`).toContain(chunk);
    }
  }
  // Hydrated means working: Settings, loaded directly, answers its invitation form in place.
  await page.goto(`${server.baseUrl}/settings`);
  await hydrated(page);
  await page.evaluate(() => ((window as any).__sameDocument = true));
  await page.getByLabel('Email').fill('dewi@toko.example');
  await page.getByRole('button', { name: 'Create invitation link' }).click();
  await expect(page.getByTestId('invite-link')).toHaveValue(/\/invite\?token=[0-9a-f]{64}$/);
  expect(await page.evaluate(() => (window as any).__sameDocument)).toBe(true);
});
