// Shared contact cards in the Inbox ("Add as lead") and Settings → Webhook health,
// driven as Kapso (signed deliveries) and as a salesperson, at phone and desktop sizes.
import { expect, Page, test } from '@playwright/test';
import { createHmac } from 'crypto';
import { artifacts, deliver, signInAsOwner, OWNER, PHONE_NUMBER_ID, Server, startServer, hydrated } from './server';
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
}

let next = 0;
/** A customer shares a contact card (Kapso v2, `type: contacts`). */
async function shareContact(conversation: string, customer: string, card: { name: string; phone: string; waId?: string }) {
  next += 1;
  await deliver(server, {
    message: {
      id: `wamid.E2E.CONTACT.${Date.now()}.${next}`,
      timestamp: String(Math.floor(Date.now() / 1000)),
      type: 'contacts',
      contacts: [{
        name: { formatted_name: card.name, first_name: card.name.split(' ')[0] },
        org: { company: 'Toko Ani' },
        phones: [{ phone: card.phone, ...(card.waId ? { wa_id: card.waId } : {}), type: 'CELL' }],
        emails: [{ email: 'ani@example.com', type: 'WORK' }],
      }],
      kapso: { direction: 'inbound', status: 'received', has_media: false },
    },
    conversation: { id: conversation, phone_number: customer, status: 'active', phone_number_id: PHONE_NUMBER_ID, kapso: { contact_name: 'Budi Santoso' } },
    is_new_conversation: false,
    phone_number_id: PHONE_NUMBER_ID,
  });
}

for (const size of [{ name: 'phone', width: 390, height: 844 }, { name: 'desktop', width: 1280, height: 860 }]) {
  test(`a shared contact card becomes a lead in one click (${size.name})`, async ({ page }) => {
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.setViewportSize({ width: size.width, height: size.height });
    const conversation = `conv-card-${size.name}`;
    const n = size.name === 'phone' ? '01' : '02';
    await shareContact(conversation, `+62813000000${n}`, { name: `Ani Wijaya ${size.name}`, phone: `0812-3456-78${n}` });
    await signIn(page);
    await page.goto(`${server.baseUrl}/inbox/${conversation}`);
    await hydrated(page);
    const card = page.getByTestId('contact-card');
    await expect(card).toContainText(`Ani Wijaya ${size.name}`);
    await expect(card).toContainText(`+62 812-3456-78${n}`);
    await expect(page.locator('.messages')).toContainText('Shared contact:');
    await page.screenshot({ path: path.join(artifacts, `contact-card-${size.name}.png`), fullPage: true });

    // First click: the lead is made, and opened.
    await card.getByRole('button', { name: /Add as lead/ }).click();
    await expect(page).toHaveURL(/\/leads\/[0-9a-f-]+$/);
    await expect(page.getByRole('heading', { level: 1 })).toHaveText(`Ani Wijaya ${size.name}`);
    const leadUrl = page.url();

    // Back in the thread the card knows the lead: the second click opens the same one.
    await page.goto(`${server.baseUrl}/inbox/${conversation}`);
    await hydrated(page);
    await expect(card.getByRole('button', { name: /Add as lead/ })).toHaveCount(0);
    await card.getByRole('link', { name: /Open lead/ }).click();
    await expect(page).toHaveURL(leadUrl);
    expect(errors).toEqual([]);
  });
}

test('a thread opened before the lead existed still opens the existing lead', async ({ browser }) => {
  const conversation = 'conv-card-stale';
  await shareContact(conversation, '+6281300000003', { name: 'Citra Dewi', phone: '+62 812-3456-7803' });
  const first = await browser.newPage();
  const second = await browser.newPage();
  for (const page of [first, second]) {
    await signIn(page);
    await page.goto(`${server.baseUrl}/inbox/${conversation}`);
    await hydrated(page);
  }
  await first.getByTestId('contact-card').getByRole('button', { name: /Add as lead/ }).click();
  await expect(first).toHaveURL(/\/leads\/[0-9a-f-]+$/);
  // The other tab still shows "Add as lead": clicking it opens the lead just made.
  await second.getByTestId('contact-card').getByRole('button', { name: /Add as lead/ }).click();
  await expect(second).toHaveURL(first.url());
  await expect(second.getByRole('heading', { level: 1 })).toHaveText('Citra Dewi');
});

test.describe('without JavaScript', () => {
  test.use({ javaScriptEnabled: false });

  test('"Add as lead" is a plain form that lands on the lead', async ({ page }) => {
    const conversation = 'conv-card-nojs';
    await shareContact(conversation, '+6281300000004', { name: 'Dedi Kurnia', phone: '0812-3456-7804' });
    await signIn(page);
    await page.goto(`${server.baseUrl}/inbox/${conversation}`);
    await page.getByTestId('contact-card').getByRole('button', { name: /Add as lead/ }).click();
    await expect(page).toHaveURL(/\/leads\/[0-9a-f-]+$/);
    await expect(page.getByRole('heading', { level: 1 })).toHaveText('Dedi Kurnia');
  });
});

test('owners see error notices and refused deliveries in Settings', async ({ page }) => {
  // WhatsApp reports a rate limit for the number (an errors-only change, Meta format).
  const notice = {
    object: 'whatsapp_business_account',
    entry: [{ id: '102290129340398', changes: [{ field: 'messages', value: {
      messaging_product: 'whatsapp',
      metadata: { display_phone_number: '15550783881', phone_number_id: PHONE_NUMBER_ID },
      errors: [{ code: 130429, title: 'Rate limit hit', message: 'Rate limit hit', error_data: { details: 'Cloud API message throughput has been reached.' } }],
    } }] }],
  };
  const raw = JSON.stringify(notice);
  const signature = createHmac('sha256', server.webhookSecret).update(raw).digest('hex');
  const accepted = await fetch(`${server.baseUrl}/api/webhook/kapso`, {
    method: 'POST', headers: { 'content-type': 'application/json', 'x-hub-signature-256': `sha256=${signature}` }, body: raw,
  });
  expect(accepted.status).toBe(200);
  // Someone posts with the wrong secret.
  await expect(deliver(server, { message: { id: 'wamid.FORGED' }, phone_number_id: PHONE_NUMBER_ID }, 'whatsapp.message.received', 'wrong')).rejects.toThrow(/401/);

  await signIn(page);
  for (const size of [{ name: 'phone', width: 390, height: 844 }, { name: 'desktop', width: 1280, height: 860 }]) {
    await page.setViewportSize({ width: size.width, height: size.height });
    await page.goto(`${server.baseUrl}/settings`);
    await hydrated(page);
    const panel = page.getByTestId('webhook-health');
    await expect(panel.getByRole('heading', { name: 'Webhook health' })).toBeVisible();
    await expect(panel).toContainText('130429');
    await expect(panel).toContainText('Rate limit hit');
    await expect(panel).toContainText('401 invalid signature');
    await panel.scrollIntoViewIfNeeded();
    await page.screenshot({ path: path.join(artifacts, `webhook-health-${size.name}.png`), fullPage: true });
  }
});
