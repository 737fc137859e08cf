// CSV import through the pages (upload → mapping and preview → dry run → import →
// report), then the export of the filtered Database view, compared with what was
// imported. Screenshots at 390 px and at desktop size.
import { expect, test } from '@playwright/test';
import { artifacts, Server, signInAsOwner, startServer, hydrated } from './server';
import * as path from 'path';

let server: Server;

test.beforeAll(async () => {
  server = await startServer({ withOwner: true });
});

test.afterAll(async () => {
  await server?.stop();
});

const STATUSES = ['new', 'hot', 'warm', 'cold'];

/** 1,000 valid rows (semicolons, CRLF, BOM, national numbers), then a duplicate and an invalid row. */
function file(): string {
  let text = '\ufeffNama;Nomor HP;Status\r\n';
  for (let i = 0; i < 1000; i++) {
    text += `"Pelanggan ${i}, Bandung";0813-${String(20000000 + i).padStart(8, '0')};${STATUSES[i % 4]}\r\n`;
  }
  text += 'Duplikat;+62 813 2000 0000;new\r\n';
  text += 'Salah;0813abc;new\r\n';
  return text;
}

for (const [label, width, height] of [['desktop', 1280, 900], ['phone', 390, 844]] as const) {
  test(`import 1,000 rows through the page, then export the filtered view (${label})`, async ({ page }) => {
    await page.setViewportSize({ width, height });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await signInAsOwner(page, server);
    await page.getByRole('link', { name: 'Import CSV' }).click();
    await expect(page).toHaveURL(/\/import$/);
    await page.setInputFiles('#import-file', { name: 'pelanggan.csv', mimeType: 'text/csv', buffer: Buffer.from(file()) });
    await page.getByRole('button', { name: 'Upload' }).click();

    // Mapping guessed from the headers, and a preview of the first rows.
    await expect(page).toHaveURL(/\/import\/[0-9a-f]+$/);
    await expect(page.locator('#map-phone')).toHaveValue('1');
    await expect(page.locator('#map-name')).toHaveValue('0');
    await expect(page.locator('#map-status')).toHaveValue('2');
    await expect(page.getByTestId('preview')).toContainText('Pelanggan 0, Bandung');
    await page.screenshot({ path: path.join(artifacts, `import-mapping-${label}.png`), fullPage: true });

    await page.getByRole('button', { name: 'Check the file' }).click();
    const dry = page.getByTestId('dry-run');
    const firstRun = label === 'desktop';
    await expect(dry.locator('[data-count="rows"]')).toHaveText('1002');
    await expect(dry.locator('[data-count="new"]')).toHaveText(firstRun ? '1000' : '0');
    await expect(dry.locator('[data-count="matching"]')).toHaveText(firstRun ? '0' : '1000');
    await expect(dry.locator('[data-count="duplicates"]')).toHaveText('1');
    await expect(dry.locator('[data-count="invalid"]')).toHaveText('1');
    await expect(page.getByTestId('rejected')).toContainText('1002');
    await expect(page.getByTestId('rejected')).toContainText('letters');
    await page.screenshot({ path: path.join(artifacts, `import-dry-run-${label}.png`), fullPage: true });

    if (firstRun) {
      // Hold the confirming post a moment, so the progress bar can be seen before the
      // import (quick for 1,000 rows) answers with the result page.
      let release = () => {};
      const held = new Promise<void>((resolve) => (release = resolve));
      await page.route('**/import/*/confirm', async (route) => {
        await held;
        await route.continue();
      });
      await hydrated(page);
      await page.getByRole('button', { name: /Import 1000 new lead/ }).click();
      await expect(page.getByTestId('import-progress')).toBeVisible();
      await expect(page.getByTestId('import-progress')).toContainText('Starting the import');
      await page.screenshot({ path: path.join(artifacts, `import-progress-${label}.png`), fullPage: true });
      // The bar on a phone, too (only this run imports).
      await page.setViewportSize({ width: 390, height: 844 });
      await page.getByTestId('import-progress').scrollIntoViewIfNeeded();
      await page.screenshot({ path: path.join(artifacts, 'import-progress-phone.png') });
      await page.setViewportSize({ width, height });
      release();
      await expect(page.getByTestId('import-result')).toBeVisible();
      await page.unroute('**/import/*/confirm');
      await expect(page.getByTestId('import-result').locator('[data-count="new"]')).toHaveText('1000');
      const report = await page.request.get(page.url() + '/rejected.csv');
      const reportText = await report.text();
      expect(reportText).toContain('1002');
      expect(reportText).toContain('1003');
      await page.screenshot({ path: path.join(artifacts, `import-result-${label}.png`), fullPage: true });
    } else {
      await expect(page.getByRole('button', { name: /Import 0 new lead/ })).toBeDisabled();
    }

    // The Database, filtered to hot leads, exported: exactly the hot rows of the file.
    await page.goto(`${server.baseUrl}/leads?status=hot`);
    await page.screenshot({ path: path.join(artifacts, `database-with-import-links-${label}.png`) });
    const href = await page.getByTestId('export-csv').getAttribute('href');
    expect(href).toBe('/leads.csv?status=hot');
    const exported = await page.request.get(server.baseUrl + href);
    expect(exported.status()).toBe(200);
    const lines = (await exported.text()).trim().split(/\r?\n/);
    expect(lines[0]).toBe('id,phone,name,whatsapp_name,status,source,last_activity_at,created_at,updated_at');
    expect(lines.length - 1).toBe(250);
    const phones = new Set(lines.slice(1).map((l) => l.split(',')[1]));
    for (let i = 1; i < 1000; i += 4) {
      expect(phones.has(`+62813${20000000 + i}`)).toBe(true);
    }
    expect(lines.slice(1).every((l) => l.includes(',hot,import,'))).toBe(true);
    expect(errors).toEqual([]);
  });
}
