// Answering from leadline: type a reply, see it queued, sent (the fake Kapso got it) and
// delivered (a status webhook, live); the 24-hour window; templates once it closed;
// the needs-reply list, longest waiting first, emptied live when someone answers.
import { test, expect } from '@playwright/test';
import * as path from 'path';
import { artifacts, cli, deliver, kapsoMessage, PHONE_NUMBER_ID, Server, signInAsOwner, startServer, hydrated } from './server';
import { FakeKapso, startFakeKapso } from './fake-kapso';

let server: Server;
let kapso: FakeKapso;

test.beforeAll(async () => {
  kapso = await startFakeKapso();
  server = await startServer({ withOwner: true, env: { KAPSO_API_BASE: kapso.url, KAPSO_RETRY_BASE_MS: '100' } });
  cli(server.databaseUrl, ['workspace', 'set-kapso-key', PHONE_NUMBER_ID, '--waba-id', '1029384756'], 'kapso_e2e_key_1234\n');
});

test.afterAll(async () => {
  await server.stop();
  await kapso.stop();
});

/** A customer message written `agoSeconds` ago. */
function written(opts: { phone: string; conversation: string; name: string; text: string }, agoSeconds: number) {
  const body = kapsoMessage(opts);
  body.message.timestamp = String(Math.floor(Date.now() / 1000) - agoSeconds);
  return body;
}

function outboundStatus(wamid: string, phone: string, conversation: string, status: string) {
  return {
    message: {
      id: wamid, timestamp: String(Math.floor(Date.now() / 1000)), type: 'text', text: { body: '' },
      kapso: { direction: 'outbound', status, content: '' },
    },
    conversation: { id: conversation, phone_number: phone, phone_number_id: PHONE_NUMBER_ID },
    phone_number_id: PHONE_NUMBER_ID,
  };
}

test('a reply is queued, sent through Kapso and its delivery tick moves live', async ({ page }) => {
  const conversation = 'a1a1a1a1-0000-4000-8000-000000000001';
  const phone = '+6281234560001';
  await deliver(server, written({ phone, conversation, name: 'Ani', text: 'Kak, masih ada stok?' }, 60));
  await signInAsOwner(page, server);
  await page.goto(`${server.baseUrl}/inbox/${conversation}`);
  await expect(page.getByTestId('window')).toHaveText(/Window closes in 23 h 5\d min/);
  // Enter sends only once the page is interactive (before that it is a textarea's newline).
  await hydrated(page);

  const box = page.getByLabel('Reply', { exact: true });
  // Shift+Enter is a new line, not a send.
  await box.fill('Masih, kak!');
  await box.press('Shift+Enter');
  await box.pressSequentially('Ukuran apa?');
  await expect(box).toHaveValue('Masih, kak!\nUkuran apa?');
  expect(kapso.sends.length).toBe(0);
  await box.press('Enter');

  const bubble = page.locator('.message.outbound', { hasText: 'Ukuran apa?' });
  await expect(bubble).toBeVisible();
  await expect(box).toHaveValue('');
  await expect.poll(() => kapso.sends.length).toBe(1);
  expect(kapso.sends[0].apiKey).toBe('kapso_e2e_key_1234');
  expect(kapso.sends[0].body).toEqual({
    messaging_product: 'whatsapp', to: '6281234560001', type: 'text', text: { body: 'Masih, kak!\nUkuran apa?' },
  });
  await expect(bubble.locator('.delivery-sent')).toBeVisible();

  // Kapso reports it delivered: the tick changes without a reload.
  await deliver(server, outboundStatus('wamid.fake.1', phone, conversation, 'delivered'), 'whatsapp.message.delivered');
  await expect(bubble.locator('.delivery-delivered')).toBeVisible();
  await page.screenshot({ path: path.join(artifacts, 'reply-sent.png') });
});

test('after 24 hours the composer offers templates instead of free text', async ({ page }) => {
  const conversation = 'a1a1a1a1-0000-4000-8000-000000000002';
  const phone = '+6281234560002';
  await deliver(server, written({ phone, conversation, name: 'Budi', text: 'Halo' }, 25 * 3600));
  await signInAsOwner(page, server);
  await page.goto(`${server.baseUrl}/inbox/${conversation}`);
  await expect(page.getByText("WhatsApp's 24-hour window is closed")).toBeVisible();
  await hydrated(page);
  await expect(page.getByLabel('Reply', { exact: true })).toHaveCount(0);
  await page.getByLabel('Template').selectOption('follow_up|id');
  await page.getByLabel('Value {{1}}').fill('Budi');
  await page.getByLabel('Value {{2}}').fill('#77');
  const before = kapso.sends.length;
  await page.getByRole('button', { name: 'Send template' }).click();
  await expect(page.locator('.message.outbound', { hasText: 'Halo Budi, pesanan #77 sudah siap.' })).toBeVisible();
  await expect.poll(() => kapso.sends.length).toBe(before + 1);
  expect(kapso.sends[before].body.type).toBe('template');
  expect(kapso.sends[before].body.template.components[0].parameters).toEqual([
    { type: 'text', text: 'Budi' }, { type: 'text', text: '#77' },
  ]);
  await page.screenshot({ path: path.join(artifacts, 'reply-template.png') });
});

test('needs reply lists the longest waiting first and drops an answered lead live', async ({ page }) => {
  await deliver(server, written({ phone: '+6281234560003', conversation: 'a1a1a1a1-0000-4000-8000-000000000003', name: 'Citra', text: 'Pesan dulu' }, 7200));
  await deliver(server, written({ phone: '+6281234560004', conversation: 'a1a1a1a1-0000-4000-8000-000000000004', name: 'Dewi', text: 'Pesan kedua' }, 3600));
  await signInAsOwner(page, server);
  await page.goto(`${server.baseUrl}/leads?needs_reply=1`);
  await expect(page.getByRole('heading', { name: 'Needs reply' })).toBeVisible();
  const names = page.locator('table.leads tbody tr .col-name');
  await expect(names.first()).toContainText('Citra');
  const order = await names.allInnerTexts();
  expect(order.findIndex((n) => n.includes('Citra'))).toBeLessThan(order.findIndex((n) => n.includes('Dewi')));
  await expect(page.getByTestId('needs-reply-nav')).toContainText(/\d/);
  // The page's live stream is open before the answer arrives.
  await expect(page.locator('.live-on')).toHaveCount(1);

  // Citra is answered from Kapso's own inbox: she leaves the list without a reload.
  await deliver(server, {
    ...outboundStatus('wamid.kapso.inbox.1', '+6281234560003', 'a1a1a1a1-0000-4000-8000-000000000003', 'sent'),
  }, 'whatsapp.message.sent');
  await expect(page.locator('table.leads tbody tr', { hasText: 'Citra' })).toHaveCount(0);
  await expect(page.locator('table.leads tbody tr', { hasText: 'Dewi' })).toHaveCount(1);
});

test('a thread with its composer fits a 390 px phone', async ({ page }) => {
  await page.setViewportSize({ width: 390, height: 844 });
  const conversation = 'a1a1a1a1-0000-4000-8000-000000000005';
  await deliver(server, written({ phone: '+6281234560005', conversation, name: 'Eka Pratiwi Wulandari Kusumawardhani', text: 'Bisa kirim ke Surabaya? '.repeat(6) }, 30));
  await signInAsOwner(page, server);
  await page.goto(`${server.baseUrl}/inbox/${conversation}`);
  const composer = page.getByLabel('Reply', { exact: true });
  await expect(composer).toBeVisible();
  const fits = await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth);
  expect(fits).toBe(true);
  const box = await page.getByRole('button', { name: 'Send', exact: true }).boundingBox();
  expect(box!.height).toBeGreaterThanOrEqual(44);
  expect(box!.x + box!.width).toBeLessThanOrEqual(390);
  await page.screenshot({ path: path.join(artifacts, 'phone-thread-composer.png') });
});
