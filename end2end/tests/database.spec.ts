// The Database view and the Inbox, driven as a salesperson and as Kapso.
import { expect, Page, test } from '@playwright/test';
import { artifacts, deliver, kapsoMessage, metaMessage, OWNER, Server, startServer, hydrated } from './server';
import * as path from 'path';

let server: Server;

test.beforeAll(async () => {
  server = await startServer({ withOwner: true });
});

test.afterAll(async () => {
  await server?.stop();
});

async function signIn(page: Page) {
  await page.goto(`${server.baseUrl}/login`);
  await page.getByLabel('Email').fill(OWNER.email);
  await page.getByLabel('Password').fill(OWNER.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page).toHaveURL(/\/leads/);
}

function row(page: Page, name: string) {
  return page.locator('table.leads tbody tr', { has: page.locator('.lead-name', { hasText: name }) });
}

test('a delivery appears live, names are edited in place, and new activity moves a lead to the top', async ({ page }) => {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await signIn(page);
  await hydrated(page);
  // A new workspace explains how to connect Kapso, with this server's webhook URL.
  await expect(page.getByTestId('webhook-url')).toHaveText(`${server.baseUrl}/api/webhook/kapso`);

  await deliver(server, kapsoMessage({ phone: '+6281234567890', conversation: 'conv-budi', name: 'Budi Santoso', text: 'Halo, masih ada?' }));
  await expect(row(page, 'Budi Santoso')).toHaveCount(1);
  await expect(page.locator('.count')).toHaveText('1 lead');

  await deliver(server, kapsoMessage({ phone: '+6285712345678', conversation: 'conv-sari', name: 'Sari', text: 'Pagi kak' }));
  await expect(page.locator('table.leads tbody tr').first()).toContainText('Sari');

  // Edit Budi's name inline: click, type, Enter.
  await row(page, 'Budi Santoso').locator('.lead-name').click();
  const input = page.locator('input.name-input');
  await expect(input).toBeFocused();
  await input.fill('Pak Budi');
  await input.press('Enter');
  await expect(row(page, 'Pak Budi')).toHaveCount(1);
  await expect(row(page, 'Pak Budi').locator('.profile-name')).toHaveText('Budi Santoso');

  // It persists.
  await page.reload();
  await hydrated(page);
  await expect(row(page, 'Pak Budi')).toHaveCount(1);
  await expect(page.locator('table.leads tbody tr').first()).toContainText('Sari');

  // Budi writes again, this time in Meta's format: one row, the manual name kept, on top.
  await deliver(server, metaMessage({ waId: '6281234567890', name: 'Budi S.', text: 'Jadi pesan dua' }), 'whatsapp.message.received');
  await expect(page.locator('table.leads tbody tr').first()).toContainText('Pak Budi');
  await expect(row(page, 'Pak Budi')).toHaveCount(1);
  await expect(page.locator('table.leads tbody tr')).toHaveCount(2);
  await expect(row(page, 'Pak Budi').locator('.profile-name')).toHaveText('Budi S.');

  await page.screenshot({ path: path.join(artifacts, 'database.png'), fullPage: true });
  expect(errors).toEqual([]);
});

let next = 0;
/** A new customer of this test only: a unique number, name and conversation. */
async function customer(name: string, text = 'Halo kak') {
  next += 1;
  const phone = `+62813${String(10_000_000 + next * 7919).padStart(8, '0')}`;
  const conversation = `conv-${name.toLowerCase().replace(/[^a-z]/g, '')}-${next}`;
  await deliver(server, kapsoMessage({ phone, conversation, name, text }));
  return { phone, conversation };
}

test('a lead that arrives after the page was rendered but before its live stream opened still shows', async ({ page }) => {
  await signIn(page);
  await hydrated(page);
  // Hold the next page's live stream until a delivery has landed in between.
  let release = () => {};
  const held = new Promise<void>((resolve) => (release = resolve));
  await page.route('**/api/live**', async (route) => {
    await held;
    await route.continue();
  });
  await page.reload();
  await hydrated(page);
  await customer('Tertunda Sebentar');
  release();
  await expect(row(page, 'Tertunda Sebentar')).toHaveCount(1);
  await expect(page.locator('table.leads tbody tr').first()).toContainText('Tertunda Sebentar');
  await page.unroute('**/api/live**');
});

test('Escape cancels an edit and a name the server refuses is put back with a message', async ({ page }) => {
  await customer('Dewi Lestari');
  await signIn(page);
  await hydrated(page);
  await row(page, 'Dewi Lestari').locator('.lead-name').focus();
  await page.keyboard.press('Enter');
  await page.locator('input.name-input').fill('Someone Else');
  await page.keyboard.press('Escape');
  await expect(row(page, 'Dewi Lestari')).toHaveCount(1);
  await expect(page.locator('input.name-input')).toHaveCount(0);

  // The field itself stops at 120 characters.
  await row(page, 'Dewi Lestari').locator('.lead-name').click();
  await page.locator('input.name-input').fill('x'.repeat(150));
  await expect(page.locator('input.name-input')).toHaveValue('x'.repeat(120));
  await page.keyboard.press('Escape');

  // The server refuses: the row shows the edit at once, then puts the old name back.
  await page.route('**/api/leads/rename', (route) =>
    route.fulfill({ status: 422, contentType: 'application/json', body: JSON.stringify({ Invalid: 'refused for the test' }) }),
  );
  await row(page, 'Dewi Lestari').locator('.lead-name').click();
  await page.locator('input.name-input').fill('Bu Dewi');
  await page.keyboard.press('Enter');
  await expect(row(page, 'Dewi Lestari').locator('.cell-error')).toContainText('Name not saved');
  await expect(row(page, 'Bu Dewi')).toHaveCount(0);
  await page.unroute('**/api/leads/rename');
});

test('Open in Inbox shows the conversation and clears its unread badge', async ({ page }) => {
  const { conversation } = await customer('Rina Wati', 'Pagi kak, ready?');
  await signIn(page);
  await hydrated(page);
  const rina = row(page, 'Rina Wati');
  await expect(rina.locator('.badge')).toHaveText(/^1 unread$/);
  await rina.getByRole('link', { name: 'Open in Inbox' }).click();
  await expect(page).toHaveURL(new RegExp(`/inbox/${conversation}$`));
  await expect(page.locator('.messages')).toContainText('Pagi kak, ready?');
  await expect(page.locator('.thread-header h2')).toHaveText('Rina Wati');
  await page.screenshot({ path: path.join(artifacts, 'inbox.png'), fullPage: true });
  await page.goto(`${server.baseUrl}/leads`);
  await hydrated(page);
  await expect(row(page, 'Rina Wati')).toHaveCount(1);
  await expect(row(page, 'Rina Wati').locator('.badge')).toHaveCount(0);
});

test('an unknown conversation is a real 404 page', async ({ page }) => {
  await signIn(page);
  const response = await page.goto(`${server.baseUrl}/inbox/does-not-exist`);
  expect(response?.status()).toBe(404);
  await expect(page.getByRole('heading', { name: 'Page not found' })).toBeVisible();
});

test('names and messages are shown as text, never run', async ({ page }) => {
  let dialogs = 0;
  page.on('dialog', async (d) => {
    dialogs += 1;
    await d.dismiss();
  });
  await customer('<img src=x onerror=alert(1)>', '<script>alert(2)</script>');
  await signIn(page);
  await hydrated(page);
  await expect(row(page, '<img src=x onerror=alert(1)>')).toHaveCount(1);
  await row(page, '<img src=x onerror=alert(1)>').getByRole('link', { name: 'Open in Inbox' }).click();
  await expect(page.locator('.messages')).toContainText('<script>alert(2)</script>');
  expect(dialogs).toBe(0);
});

test.describe('without JavaScript', () => {
  test.use({ javaScriptEnabled: false });

  test('the plain form saves a name', async ({ page }) => {
    await customer('Agus Salim');
    await signIn(page);
    const agus = row(page, 'Agus Salim');
    await agus.locator('details.nojs-edit summary').click();
    await agus.locator('details.nojs-edit input[name="name"]').fill('Pak Agus');
    await agus.locator('details.nojs-edit button[type="submit"]').click();
    await expect(page).toHaveURL(/\/leads/);
    await expect(row(page, 'Pak Agus')).toHaveCount(1);
  });
});
