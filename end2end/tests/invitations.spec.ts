// Issue 9: people join through invitation links with their own passwords. An owner
// invites a colleague, who sets a password and lands in the Database; a second
// workspace invites the same person, who accepts by signing in with that password and
// switches between the two workspaces. At phone width (390 px) and desktop.
import { Browser, expect, Page, test } from '@playwright/test';
import { artifacts, cli, OWNER, Server, startServer, hydrated } from './server';
import * as path from 'path';

const PHONE = { width: 390, height: 844 };
const DESKTOP = { width: 1280, height: 800 };
const COLLEAGUE = { email: 'sari@toko.example', password: 'sari chose this one' };
const OTHER_OWNER = { email: 'boss@lain.example', password: 'another long password' };

let server: Server;

test.beforeAll(async () => {
  server = await startServer({ withOwner: true });
  cli(server.databaseUrl, ['workspace', 'create', '--name', 'Toko Lain', '--phone-number-id', '555000999']);
  cli(server.databaseUrl, ['user', 'create', '--workspace', '555000999', '--email', OTHER_OWNER.email, '--role', 'owner'], OTHER_OWNER.password + '\n');
});

test.afterAll(async () => {
  await server?.stop();
});

async function signIn(browser: Browser, who: { email: string; password: string }): Promise<Page> {
  const context = await browser.newContext({ viewport: DESKTOP });
  const page = await context.newPage();
  await page.goto(`${server.baseUrl}/login`);
  await page.getByLabel('Email').fill(who.email);
  await page.getByLabel('Password').fill(who.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page).toHaveURL(/\/leads$/);
  return page;
}

/** Invites `email` from Settings and returns the one-time link shown. */
async function invite(page: Page, email: string, role: string, shot: string): Promise<string> {
  await page.goto(`${server.baseUrl}/settings`);
  await hydrated(page);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Role', { exact: true }).selectOption({ label: role });
  await page.getByRole('button', { name: 'Create invitation link' }).click();
  const link = page.getByTestId('invite-link');
  await expect(link).toHaveValue(/\/invite\?token=[0-9a-f]{64}$/);
  await expect(page.getByTestId('pending-invitations')).toContainText(email);
  await page.screenshot({ path: path.join(artifacts, shot), fullPage: true });
  return link.inputValue();
}

test('an invited colleague joins with their own password, then joins a second workspace by signing in', async ({ browser }) => {
  // The owner of Toko Maju invites Sari.
  const owner = await signIn(browser, OWNER);
  const first = await invite(owner, COLLEAGUE.email, 'Agent', 'invite-settings-desktop.png');
  expect(first.startsWith(server.baseUrl)).toBeTruthy();

  // Sari opens the link on her phone and chooses her password.
  const phone = await (await browser.newContext({ viewport: PHONE })).newPage();
  await phone.goto(first);
  await expect(phone.getByRole('heading', { name: 'You are invited' })).toBeVisible();
  await expect(phone.getByTestId('invite-workspace')).toHaveText('Toko Maju');
  await expect(phone.getByTestId('invite-email')).toHaveText(COLLEAGUE.email);
  await phone.screenshot({ path: path.join(artifacts, 'invite-page-390.png'), fullPage: true });
  const width = await phone.evaluate(() => document.documentElement.scrollWidth);
  expect(width).toBeLessThanOrEqual(PHONE.width);
  await phone.getByLabel('New password (at least 10 characters)').fill(COLLEAGUE.password);
  await phone.getByLabel('New password again').fill(COLLEAGUE.password);
  await phone.getByRole('button', { name: 'Create my account and join' }).click();
  await expect(phone).toHaveURL(/\/leads$/);
  await expect(phone.getByRole('heading', { name: 'Database' })).toBeVisible();
  await phone.screenshot({ path: path.join(artifacts, 'invite-joined-database-390.png'), fullPage: true });

  // The owner's Settings now lists her as a member, no longer as pending.
  await owner.reload();
  await expect(owner.locator('table.members')).toContainText(COLLEAGUE.email);
  await expect(owner.getByTestId('pending-invitations')).toHaveCount(0);

  // A second workspace invites the same person.
  const otherOwner = await signIn(browser, OTHER_OWNER);
  const second = await invite(otherOwner, COLLEAGUE.email, 'Admin', 'invite-settings-second.png');

  // Sari accepts by signing in with the password she chose (on a desktop this time).
  const desk = await (await browser.newContext({ viewport: DESKTOP })).newPage();
  await desk.goto(second);
  await expect(desk.getByTestId('invite-workspace')).toHaveText('Toko Lain');
  await desk.screenshot({ path: path.join(artifacts, 'invite-page-desktop.png'), fullPage: true });
  await desk.getByLabel('Password', { exact: true }).fill('not my password');
  await desk.getByRole('button', { name: 'Sign in and join' }).click();
  await expect(desk.getByRole('alert')).toContainText('not the password');
  await desk.getByLabel('Password', { exact: true }).fill(COLLEAGUE.password);
  await desk.getByRole('button', { name: 'Sign in and join' }).click();
  await expect(desk).toHaveURL(/\/leads$/);
  await hydrated(desk);

  // She switches between her two workspaces.
  const switcher = desk.getByLabel('Workspace');
  await expect(switcher.locator('option:checked')).toHaveText('Toko Lain');
  await switcher.selectOption({ label: 'Toko Maju' });
  await expect(desk).toHaveURL(/\/leads$/);
  await expect(desk.getByLabel('Workspace').locator('option:checked')).toHaveText('Toko Maju');
  await desk.screenshot({ path: path.join(artifacts, 'invite-switched-desktop.png'), fullPage: true });
  await desk.getByLabel('Workspace').selectOption({ label: 'Toko Lain' });
  await expect(desk.getByLabel('Workspace').locator('option:checked')).toHaveText('Toko Lain');

  // Her phone (still signed in to Toko Maju) shows the switcher too, at 390 px.
  await phone.goto(`${server.baseUrl}/leads`);
  await expect(phone.getByLabel('Workspace')).toBeVisible();
  await phone.screenshot({ path: path.join(artifacts, 'two-workspaces-390.png'), fullPage: false });

  // Both links worked once.
  await desk.goto(first);
  await expect(desk.getByRole('alert')).toContainText('has been used');

  // Close the pages (their live streams), so the server can shut down promptly.
  for (const page of [owner, phone, otherOwner, desk]) {
    await page.context().close();
  }
});

test.describe('without JavaScript', () => {
  test.use({ javaScriptEnabled: false });

  test('an owner invites and the invitee joins with plain forms', async ({ page }) => {
    await page.setViewportSize(PHONE);
    await page.goto(`${server.baseUrl}/login`);
    await page.getByLabel('Email').fill(OWNER.email);
    await page.getByLabel('Password').fill(OWNER.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.goto(`${server.baseUrl}/settings`);
    await expect(page.locator('html.js')).toHaveCount(0);
    await page.getByLabel('Email').fill('budi@toko.example');
    await page.getByRole('button', { name: 'Create invitation link' }).click();
    await expect(page).toHaveURL(/\/settings$/);
    const link = await page.getByTestId('invite-link').inputValue();
    expect(link).toMatch(/\/invite\?token=[0-9a-f]{64}$/);
    await page.screenshot({ path: path.join(artifacts, 'invite-settings-nojs-390.png'), fullPage: true });
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.goto(link);
    await page.getByLabel('New password (at least 10 characters)').fill('budi chose this');
    await page.getByLabel('New password again').fill('budi chose this');
    await page.getByRole('button', { name: 'Create my account and join' }).click();
    await expect(page).toHaveURL(/\/leads$/);
    await expect(page.getByRole('heading', { name: 'Database' })).toBeVisible();
  });
});
