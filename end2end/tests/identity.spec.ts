// One person, one lead: a customer who shares no number (2026 usernames) appears live,
// staff merge that lead with the phone lead of the same person, and the Inbox shows one
// thread history.
import { expect, Page, test } from '@playwright/test';
import { artifacts, deliver, signInAsOwner, kapsoMessage, OWNER, PHONE_NUMBER_ID, Server, startServer } from './server';
import * as path from 'path';

let server: Server;

test.beforeAll(async () => {
  server = await startServer({ withOwner: true });
});

test.afterAll(async () => {
  await server?.stop();
});

async function signIn(page: Page) {
  await signInAsOwner(page, server);
  await expect(page.locator('html.js')).toHaveCount(1);
}

/** A Kapso v2 message from a user who shares no number: BSUID and username only. */
function bsuidMessage(opts: { bsuid: string; username: string; conversation: string; text: string }) {
  return {
    message: {
      id: `wamid.E2E.BSUID.${Date.now()}`,
      timestamp: String(Math.floor(Date.now() / 1000)),
      type: 'text',
      from_user_id: opts.bsuid,
      text: { body: opts.text },
      kapso: { direction: 'inbound', status: 'received', has_media: false, content: opts.text },
    },
    conversation: {
      id: opts.conversation,
      phone_number: null,
      business_scoped_user_id: opts.bsuid,
      username: opts.username,
      status: 'active',
      phone_number_id: PHONE_NUMBER_ID,
      kapso: { contact_name: null },
    },
    is_new_conversation: true,
    phone_number_id: PHONE_NUMBER_ID,
  };
}

test('a BSUID-only lead appears live, is merged with the phone lead, and the Inbox shows one history', async ({ page }) => {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await deliver(server, kapsoMessage({ phone: '+6281377788899', conversation: 'conv-dewi-phone', name: 'Dewi Lestari', text: 'Halo dari nomor' }));
  await signIn(page);

  await deliver(server, bsuidMessage({ bsuid: 'ID.77700011122233344', username: '@dewi.kue', conversation: 'conv-dewi-bsuid', text: 'Halo dari username' }));
  const bsuidRow = page.locator('table.leads tbody tr', { hasText: '@dewi.kue' });
  await expect(bsuidRow).toHaveCount(1);
  await expect(bsuidRow.locator('.no-number')).toHaveText('no number shared');
  await page.screenshot({ path: path.join(artifacts, 'identity-database.png'), fullPage: true });

  // Select both rows and merge them.
  await bsuidRow.getByRole('checkbox').check();
  await page.locator('table.leads tbody tr', { hasText: 'Dewi Lestari' }).getByRole('checkbox').check();
  await page.getByRole('button', { name: 'Merge selected' }).click();
  await expect(page).toHaveURL(/\/leads\/merge\?/);
  await expect(page.getByText('A merge cannot be undone.')).toBeVisible();
  await page.screenshot({ path: path.join(artifacts, 'identity-merge-preview.png'), fullPage: true });
  await page.getByRole('button', { name: 'Merge leads' }).click();
  await expect(page).toHaveURL(/\/leads\/[0-9a-f-]{36}$/);
  await expect(page.locator('h1')).toHaveText('Dewi Lestari');
  await expect(page.locator('.identities')).toContainText('+62 813-7778-8899');
  await expect(page.locator('.identities')).toContainText('ID.77700011122233344');
  await expect(page.locator('.merges')).toContainText(OWNER.email);

  // One lead left in the Database; its Inbox thread holds both conversations' messages.
  await page.goto(`${server.baseUrl}/leads`);
  await expect(page.locator('table.leads tbody tr')).toHaveCount(1);
  await page.getByRole('link', { name: 'Open in Inbox' }).click();
  await expect(page.locator('.messages')).toContainText('Halo dari nomor');
  await expect(page.locator('.messages')).toContainText('Halo dari username');
  await page.screenshot({ path: path.join(artifacts, 'identity-inbox.png'), fullPage: true });
  expect(errors).toEqual([]);
});

test('a message naming both identities merges the two leads on an open page: the merged row goes', async ({ page }) => {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await signIn(page);
  await deliver(server, kapsoMessage({ phone: '+6281377700011', conversation: 'conv-rina-phone', name: 'Rina Phone', text: 'Halo' }));
  await deliver(server, bsuidMessage({ bsuid: 'ID.88800011122233344', username: '@rina.kue', conversation: 'conv-rina-bsuid', text: 'Hai' }));
  const phoneRow = page.locator('table.leads tbody tr', { hasText: 'Rina Phone' });
  // (After the merge the survivor may show the username too; only this row has no number.)
  const bsuidRow = page.locator('table.leads tbody tr', { hasText: '@rina.kue', has: page.locator('.no-number') });
  await expect(phoneRow).toHaveCount(1);
  await expect(bsuidRow).toHaveCount(1);
  const both = kapsoMessage({ phone: '+6281377700011', conversation: 'conv-rina-phone', name: 'Rina Phone', text: 'Ini saya juga' });
  Object.assign(both.conversation, { business_scoped_user_id: 'ID.88800011122233344' });
  await deliver(server, both);
  // The lead created first goes on; the other row leaves the page without a reload.
  await expect(bsuidRow).toHaveCount(0);
  await expect(phoneRow).toHaveCount(1);
  await expect(page.locator('table.leads tbody tr').first()).toContainText('Rina Phone');
  expect(errors).toEqual([]);
});
