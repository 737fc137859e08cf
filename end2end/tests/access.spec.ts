// The first run of a fresh install, as a self-hoster meets it, and signing out.
import { expect, test } from '@playwright/test';
import { artifacts, deliver, kapsoMessage, Server, startServer, hydrated } from './server';
import * as path from 'path';

let server: Server;

test.beforeAll(async () => {
  server = await startServer({ withOwner: false });
});

test.afterAll(async () => {
  await server?.stop();
});

test('setup link → owner → empty Database with instructions → a delivery shows up → sign out', async ({ page }) => {
  const link = server.output().match(/(http:\/\/\S+\/setup\?token=[0-9a-f]+)/);
  expect(link, `serve printed no setup link:\n${server.output()}`).not.toBeNull();
  await page.goto(link![1]);
  await hydrated(page);
  await page.getByLabel('Business name').fill('Warung Sari');
  await page.getByLabel('Kapso phone number ID').fill('123456789012345');
  await page.getByLabel('Your email').fill('sari@warung.example');
  await page.getByLabel('Password (at least 10 characters)').fill('correct horse battery');
  await page.getByRole('button', { name: 'Create workspace' }).click();

  await expect(page.getByRole('heading', { name: 'Your workspace is ready' })).toBeVisible();
  await expect(page.getByTestId('webhook-url')).toHaveValue(`${server.baseUrl}/api/webhook/kapso`);
  const secret = await page.getByTestId('webhook-secret').inputValue();
  expect(secret).toMatch(/^[0-9a-f]{64}$/);
  await expect(page.getByTestId('verify-token')).not.toHaveValue('');
  await page.screenshot({ path: path.join(artifacts, 'setup-done.png'), fullPage: true });

  await page.getByRole('link', { name: 'Go to your Database' }).click();
  await expect(page).toHaveURL(/\/leads$/);
  await hydrated(page);
  await expect(page.getByRole('heading', { name: 'No leads yet' })).toBeVisible();
  await expect(page.getByTestId('webhook-url')).toHaveText(`${server.baseUrl}/api/webhook/kapso`);

  // Kapso delivers with the secret just shown: the lead appears without a reload.
  await deliver(server, kapsoMessage({ phone: '+6281234567890', conversation: 'conv-first', name: 'Budi', text: 'Halo' }), 'whatsapp.message.received', secret);
  await expect(page.locator('table.leads tbody tr')).toHaveCount(1);
  await expect(page.locator('.lead-name')).toHaveText('Budi');

  // The link works once.
  const again = await page.request.get(link![1]);
  expect(await again.text()).toContain('has been used');

  await page.getByRole('button', { name: 'Sign out' }).click();
  await expect(page).toHaveURL(/\/login/);
  for (const target of ['/leads', '/inbox', '/settings']) {
    await page.goto(`${server.baseUrl}${target}`);
    await expect(page).toHaveURL(new RegExp(`/login\\?next=${target.replace('/', '%2F').replace('%2F', '/')}`));
    await expect(page.getByRole('heading', { name: 'Sign in' })).toBeVisible();
  }
  // Wrong password: one message for every refusal.
  await page.getByLabel('Email').fill('sari@warung.example');
  await page.getByLabel('Password').fill('not the password');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByRole('alert')).toHaveText('Email or password is incorrect.');
  // The right one continues where the person was going.
  await page.getByLabel('Password').fill('correct horse battery');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page).toHaveURL(/\/settings$/);
});

test.describe('without JavaScript', () => {
  test.use({ javaScriptEnabled: false });
  let fresh: Server;

  test.beforeAll(async () => {
    fresh = await startServer({ withOwner: false });
  });

  test.afterAll(async () => {
    await fresh?.stop();
  });

  test('the setup form still shows the secrets to paste into Kapso', async ({ page }) => {
    const link = fresh.output().match(/(http:\/\/\S+\/setup\?token=[0-9a-f]+)/);
    expect(link, `serve printed no setup link:\n${fresh.output()}`).not.toBeNull();
    await page.goto(link![1]);
    await expect(page.locator('html.js')).toHaveCount(0);
    await page.getByLabel('Business name').fill('Toko Tanpa JS');
    await page.getByLabel('Kapso phone number ID').fill('123456789012345');
    await page.getByLabel('Your email').fill('tanpa@js.example');
    await page.getByLabel('Password (at least 10 characters)').fill('correct horse battery');
    await page.getByRole('button', { name: 'Create workspace' }).click();

    await expect(page).toHaveURL(/\/setup\/done$/);
    await expect(page.getByRole('heading', { name: 'Your workspace is ready' })).toBeVisible();
    const secret = await page.getByTestId('webhook-secret').inputValue();
    expect(secret).toMatch(/^[0-9a-f]{64}$/);
    await expect(page.getByTestId('api-token')).toHaveValue(/^ll_[0-9a-f]{64}$/);

    // The secret shown is the one that works.
    await deliver(fresh, kapsoMessage({ phone: '+6281234567890', conversation: 'conv-nojs', name: 'Budi', text: 'Halo' }), 'whatsapp.message.received', secret);
    await page.getByRole('link', { name: 'Go to your Database' }).click();
    await expect(page.locator('.lead-name')).toHaveText('Budi');
  });
});
