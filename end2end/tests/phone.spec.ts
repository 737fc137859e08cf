// Phones (issue 11): every signed-in page at 390×844 without page-level sideways
// scrolling, the Database as one compact card per lead whose controls are touch-sized,
// and the desktop Database left as it was (screenshots of both in artifacts/).
import { expect, Locator, Page, test } from '@playwright/test';
import { artifacts, cli, deliver, kapsoMessage, PHONE_NUMBER_ID, Server, signInAsOwner, startServer, hydrated } from './server';
import * as path from 'path';

const PHONE = { width: 390, height: 844 };
const DESKTOP = { width: 1280, height: 800 };
const LONG_NAME = 'Ibu Kartika Sari Dewi Puspitasari Wulandari Hadiningrat (Toko Kue & Katering Sejahtera)';
const LONG_PHONE = '+628123456789012'; // 15 digits, the most E.164 allows

let server: Server;
let firstConversation = '';

test.beforeAll(async () => {
  server = await startServer({ withOwner: true });
  // A second member with a long address: Settings shows a role form and a Remove button.
  const agent = 'agent.with.a.rather.long.address@toko-kue-sejahtera.example';
  cli(server.databaseUrl, ['user', 'create', '--workspace', PHONE_NUMBER_ID, '--email', agent, '--role', 'agent'], 'another long passphrase\n');
  const customers = [
    { phone: '+6281234567890', conversation: 'conv-budi', name: 'Budi Santoso', text: 'Halo, masih ada?' },
    { phone: '+6285712345678', conversation: 'conv-sari', name: 'Sari', text: 'Pagi kak' },
    { phone: LONG_PHONE, conversation: 'conv-long-phone', name: 'Agus', text: 'Nomor panjang' },
    {
      phone: '+6281398765432',
      conversation: 'conv-kartika',
      name: LONG_NAME,
      text: 'Kak, saya mau pesan 200 kotak nasi untuk acara kantor. Link menu: https://example.com/menu/katering-sejahtera/paket-nasi-kotak-premium-dengan-lauk-pilihan?ref=whatsapp-iklan-instagram',
    },
  ];
  for (const c of customers) {
    await deliver(server, kapsoMessage(c));
  }
  // Someone who shares no number: a username and a long business-scoped id only.
  await deliver(server, {
    message: {
      id: `wamid.E2E.PHONE.BSUID.${Date.now()}`,
      timestamp: String(Math.floor(Date.now() / 1000)),
      type: 'text',
      from_user_id: 'ID.77700011122233344556677',
      text: { body: 'Halo dari username' },
      kapso: { direction: 'inbound', status: 'received', has_media: false, content: 'Halo dari username' },
    },
    conversation: {
      id: 'conv-username-only',
      phone_number: null,
      business_scoped_user_id: 'ID.77700011122233344556677',
      username: '@toko.kue.dan.katering.sejahtera.abadi',
      status: 'active',
      phone_number_id: PHONE_NUMBER_ID,
      kapso: { contact_name: null },
    },
    is_new_conversation: true,
    phone_number_id: PHONE_NUMBER_ID,
  });
  // The long-named lead wrote last: it is the first card, its conversation the thread.
  firstConversation = 'conv-kartika';
  await deliver(server, kapsoMessage({ phone: '+6281398765432', conversation: 'conv-kartika', name: LONG_NAME, text: 'Ditunggu ya kak 🙏' }));
});

test.afterAll(async () => {
  await server?.stop();
});

/** The page itself never scrolls sideways (inner scrollers may). */
async function expectNoSidewaysScroll(page: Page, what: string) {
  const sizes = await page.evaluate(() => ({
    scroll: document.documentElement.scrollWidth,
    inner: window.innerWidth,
    body: document.body.scrollWidth,
  }));
  expect(sizes.scroll, `${what}: page ${sizes.scroll}px wide in a ${sizes.inner}px window`).toBeLessThanOrEqual(sizes.inner);
  expect(sizes.body, `${what}: body ${sizes.body}px wide in a ${sizes.inner}px window`).toBeLessThanOrEqual(sizes.inner);
  // A mobile browser may widen its layout viewport to fit overflowing content.
  expect(sizes.inner, `${what}: window width`).toBeLessThanOrEqual(page.viewportSize()!.width);
}

/** Visible controls inside `scope` smaller than a 44×44 px touch target. */
async function smallTargets(scope: Locator): Promise<string[]> {
  return scope.evaluateAll((roots) => {
    const small: string[] = [];
    for (const root of roots) {
      for (const el of root.querySelectorAll<HTMLElement>('a[href], button, select, input:not([type="hidden"]), summary, [role="button"], [tabindex="0"]')) {
        const box = el.getBoundingClientRect();
        const style = getComputedStyle(el);
        if (box.width === 0 || box.height === 0 || style.visibility === 'hidden') continue;
        if (el.closest('.visually-hidden')) continue;
        if (box.height < 44 || box.width < 44) {
          small.push(`${el.tagName.toLowerCase()}.${el.className} "${(el.textContent || '').trim().slice(0, 30)}" ${Math.round(box.width)}×${Math.round(box.height)}`);
        }
      }
    }
    return small;
  });
}

function card(page: Page, name: string) {
  const exact = new RegExp(`^${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`);
  return page.locator('table.leads tbody tr', { has: page.locator('.lead-name', { hasText: exact }) });
}

test.describe('at 390×844', () => {
  test.use({ viewport: PHONE, isMobile: true, hasTouch: true });

  test('the Database is one card per lead, nothing off-screen, touch-sized controls', async ({ page }) => {
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await signInAsOwner(page, server);
    await hydrated(page);
    await expect(page.locator('table.leads tbody tr')).toHaveCount(5);
    await expectNoSidewaysScroll(page, '/leads');

    const first = page.locator('table.leads tbody tr').first();
    await expect(first.locator('.lead-name')).toHaveText(LONG_NAME);
    const open = first.getByRole('link', { name: 'Open in Inbox' });
    await expect(open).toBeVisible();
    await expect(open).toBeInViewport();
    const box = (await open.boundingBox())!;
    expect(box.height).toBeGreaterThanOrEqual(44);
    expect(box.x).toBeGreaterThanOrEqual(0);
    expect(box.x + box.width).toBeLessThanOrEqual(PHONE.width);

    // Every card shows name, phone, status, last activity and its Inbox link within the screen.
    for (const row of await page.locator('table.leads tbody tr').all()) {
      for (const part of ['.lead-name', '.col-phone', 'select.status-select', '.col-activity time', '.col-actions .button']) {
        const b = (await row.locator(part).first().boundingBox())!;
        expect(b, part).not.toBeNull();
        expect(b.x, part).toBeGreaterThanOrEqual(0);
        expect(b.x + b.width, part).toBeLessThanOrEqual(PHONE.width);
      }
    }
    const longPhone = (await card(page, 'Agus').locator('a.phone').innerText()).replace(/\D/g, '');
    expect(longPhone).toBe(LONG_PHONE.slice(1));
    await expect(page.locator('table.leads tbody tr', { hasText: '@toko.kue' }).locator('.no-number')).toBeVisible();

    expect(await smallTargets(page.locator('table.leads tbody'))).toEqual([]);
    expect(await smallTargets(page.locator('.topbar'))).toEqual([]);
    expect(await smallTargets(page.locator('form.toolbar, .data-links, .table-meta'))).toEqual([]);
    await page.screenshot({ path: path.join(artifacts, 'phone-database.png'), fullPage: true });

    // The status still changes in place, and the arrow keys still move between names.
    await card(page, 'Sari').locator('select.status-select').selectOption('hot');
    await expect(card(page, 'Sari').locator('select.status-select')).toHaveClass(/status-hot/);
    await card(page, 'Sari').locator('.lead-name').focus();
    await page.keyboard.press('ArrowDown');
    await expect(page.locator('.lead-name:focus')).toHaveText('Budi Santoso');
    await page.keyboard.press('ArrowUp');
    await expect(page.locator('.lead-name:focus')).toHaveText('Sari');

    // Editing a name in place fits the card too.
    await card(page, 'Sari').locator('.lead-name').click();
    await expect(page.locator('input.name-input')).toBeFocused();
    await expectNoSidewaysScroll(page, '/leads while editing');
    await page.locator('table.leads tbody tr.is-editing').screenshot({ path: path.join(artifacts, 'phone-database-editing.png') });
    await page.keyboard.press('Escape');
    expect(errors).toEqual([]);
  });

  test('the Inbox list and a thread fit the screen', async ({ page }) => {
    await signInAsOwner(page, server);
    await page.goto(`${server.baseUrl}/inbox`);
    await hydrated(page);
    await expect(page.locator('a.conversation')).toHaveCount(5);
    await expectNoSidewaysScroll(page, '/inbox');
    expect(await smallTargets(page.locator('.conversation-pane'))).toEqual([]);
    await page.screenshot({ path: path.join(artifacts, 'phone-inbox.png') });

    await page.locator('a.conversation', { hasText: 'Kartika' }).click();
    await expect(page).toHaveURL(new RegExp(`/inbox/${firstConversation}$`));
    await expect(page.locator('.messages')).toContainText('200 kotak nasi');
    await expectNoSidewaysScroll(page, 'thread');
    // The thread fills the screen below the top bar: the page itself does not scroll.
    const heights = await page.evaluate(() => ({ scroll: document.documentElement.scrollHeight, inner: window.innerHeight }));
    expect(heights.scroll).toBeLessThanOrEqual(heights.inner);
    const header = page.locator('.thread-header');
    expect(await smallTargets(header)).toEqual([]);
    await expect(header.getByRole('link', { name: 'All conversations' })).toBeInViewport();
    await page.screenshot({ path: path.join(artifacts, 'phone-thread.png') });
  });

  test('the lead page, Settings, the account page and the import page fit the screen', async ({ page }) => {
    await signInAsOwner(page, server);
    await hydrated(page);
    const href = await card(page, LONG_NAME).locator('a.phone').getAttribute('href');
    await page.goto(`${server.baseUrl}${href}`);
    await hydrated(page);
    await expect(page.locator('h1')).toHaveText(LONG_NAME);
    await expectNoSidewaysScroll(page, 'lead page');
    expect(await smallTargets(page.locator('main'))).toEqual([]);
    await page.screenshot({ path: path.join(artifacts, 'phone-lead.png'), fullPage: true });

    const usernameLead = page.locator('table.leads tbody tr', { hasText: '@toko.kue' });
    await page.goto(`${server.baseUrl}/leads`);
    await hydrated(page);
    await usernameLead.locator('a.no-number').click();
    await expect(page.locator('.identities')).toContainText('ID.77700011122233344556677');
    await expectNoSidewaysScroll(page, 'lead page without a number');

    await page.goto(`${server.baseUrl}/settings`);
    await hydrated(page);
    await expect(page.locator('table.members')).toContainText('owner@toko.example');
    await expect(page.locator('table.members')).toContainText('agent.with.a.rather.long.address');
    await page.getByLabel('Email', { exact: true }).fill('new.salesperson.with.a.long.name@toko-kue-sejahtera.example');
    await page.getByRole('button', { name: 'Create invitation link' }).click();
    await expect(page.getByTestId('invite-link')).toBeVisible();
    await expect(page.getByTestId('pending-invitations')).toContainText('new.salesperson');
    await expectNoSidewaysScroll(page, '/settings');
    expect(await smallTargets(page.locator('main section.card'))).toEqual([]);
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.screenshot({ path: path.join(artifacts, 'phone-settings.png'), fullPage: true });

    await page.goto(`${server.baseUrl}/account`);
    await hydrated(page);
    await expectNoSidewaysScroll(page, '/account');
    expect(await smallTargets(page.locator('main'))).toEqual([]);
    await page.screenshot({ path: path.join(artifacts, 'phone-account.png'), fullPage: true });

    await page.goto(`${server.baseUrl}/import`);
    await hydrated(page);
    await expectNoSidewaysScroll(page, '/import');
    expect(await smallTargets(page.locator('main'))).toEqual([]);
    await page.screenshot({ path: path.join(artifacts, 'phone-import.png'), fullPage: true });

    // The mapping step: a preview table wider than the screen scrolls inside its frame.
    const csv = [
      'Nama Lengkap Pelanggan;Nomor WhatsApp Pelanggan;Status Prospek;Catatan Penjualan Terakhir;Kota',
      'Dewi Lestari;0812 7777 1111;hot;Minta katalog kue ulang tahun dan harga grosir;Surabaya',
      'Bambang;not a number;warm;—;Bandung',
    ].join('\n');
    await page.locator('#import-file').setInputFiles({ name: 'pelanggan-toko-kue-november.csv', mimeType: 'text/csv', buffer: Buffer.from(csv) });
    await page.getByRole('button', { name: 'Upload' }).click();
    await expect(page.getByTestId('mapping')).toBeVisible();
    await page.getByRole('button', { name: 'Check the file' }).click();
    await expect(page.getByTestId('dry-run')).toBeVisible();
    await expectNoSidewaysScroll(page, 'import mapping and dry run');
    await page.screenshot({ path: path.join(artifacts, 'phone-import-check.png'), fullPage: true });
  });

  test('picking two cards opens the merge preview, which fits too', async ({ page }) => {
    await signInAsOwner(page, server);
    await hydrated(page);
    await card(page, 'Agus').locator('input.merge-pick').check();
    await card(page, 'Budi Santoso').locator('input.merge-pick').check();
    await expect(card(page, 'Agus').locator('input.merge-pick')).toBeChecked();
    await page.locator('table.leads tbody tr', { has: page.locator('input.merge-pick:checked') }).first().screenshot({
      path: path.join(artifacts, 'phone-database-picked.png'),
    });
    await page.getByRole('button', { name: 'Merge selected' }).click();
    await expect(page).toHaveURL(/\/leads\/merge\?/);
    await expect(page.locator('.merge-preview')).toBeVisible();
    await expectNoSidewaysScroll(page, '/leads/merge');
    await page.screenshot({ path: path.join(artifacts, 'phone-merge.png'), fullPage: true });
  });

  test.describe('without JavaScript', () => {
    test.use({ javaScriptEnabled: false });

    test('the cards keep their plain edit form, touch-sized', async ({ page }) => {
      await signInAsOwner(page, server);
      await expectNoSidewaysScroll(page, '/leads without JavaScript');
      const sari = card(page, 'Sari');
      await sari.locator('details.nojs-edit summary').click();
      await expectNoSidewaysScroll(page, 'plain edit form open');
      expect(await smallTargets(sari)).toEqual([]);
      await sari.locator('details.nojs-edit select').selectOption('warm');
      await sari.locator('details.nojs-edit button[type="submit"]').click();
      await expect(card(page, 'Sari').locator('select.status-select')).toHaveClass(/status-warm/);
      await page.screenshot({ path: path.join(artifacts, 'phone-database-nojs.png'), fullPage: true });
    });
  });
});

test.describe('at 1280×800', () => {
  test.use({ viewport: DESKTOP });

  test('the Database is still a table', async ({ page }) => {
    await signInAsOwner(page, server);
    await hydrated(page);
    await expect(page.locator('table.leads thead th')).toHaveCount(7);
    for (const th of await page.locator('table.leads thead th').all()) {
      await expect(th).toBeVisible();
    }
    // One line per lead, the cells side by side.
    const row = page.locator('table.leads tbody tr', { hasText: 'Budi Santoso' });
    const name = (await row.locator('td.col-name').boundingBox())!;
    const actions = (await row.locator('td.col-actions').boundingBox())!;
    expect(actions.y).toBe(name.y);
    expect(actions.x).toBeGreaterThan(name.x + name.width);
    await expectNoSidewaysScroll(page, 'desktop /leads');
    await page.screenshot({ path: path.join(artifacts, 'desktop-database.png'), fullPage: true });
    await page.goto(`${server.baseUrl}/inbox/${firstConversation}`);
    await hydrated(page);
    await page.screenshot({ path: path.join(artifacts, 'desktop-thread.png') });
    await page.goto(`${server.baseUrl}/settings`);
    await hydrated(page);
    await page.screenshot({ path: path.join(artifacts, 'desktop-settings.png'), fullPage: true });
  });
});

test.describe('at 700×900', () => {
  test.use({ viewport: { width: 700, height: 900 } });

  test('between phone and desktop the table scrolls within its frame, not the page', async ({ page }) => {
    await signInAsOwner(page, server);
    await hydrated(page);
    await expect(page.locator('table.leads thead th')).toHaveCount(7);
    await expectNoSidewaysScroll(page, '/leads at 700 px');
    const frame = page.locator('.table-wrap');
    const widths = await frame.evaluate((el) => ({ scroll: el.scrollWidth, client: el.clientWidth }));
    expect(widths.scroll).toBeGreaterThan(widths.client);
  });
});

test.describe('at 360×740 (small Android phones)', () => {
  test.use({ viewport: { width: 360, height: 740 }, isMobile: true, hasTouch: true });

  test('the Database, a thread and Settings still fit', async ({ page }) => {
    await signInAsOwner(page, server);
    await hydrated(page);
    await expectNoSidewaysScroll(page, '/leads at 360 px');
    const open = page.locator('table.leads tbody tr').first().getByRole('link', { name: 'Open in Inbox' });
    await expect(open).toBeInViewport();
    const lead = await card(page, LONG_NAME).locator('a.phone').getAttribute('href');
    for (const where of [`/inbox/${firstConversation}`, '/settings', lead!]) {
      await page.goto(`${server.baseUrl}${where}`);
      await hydrated(page);
      await expectNoSidewaysScroll(page, `${where} at 360 px`);
    }
    await page.goto(`${server.baseUrl}/leads`);
    await hydrated(page);
    await page.screenshot({ path: path.join(artifacts, 'phone-360-database.png'), fullPage: true });
  });
});
