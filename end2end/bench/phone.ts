// What the phone benchmarks share: a signed-in phone-sized page, and the slow phone on
// mobile data (1.6 Mbit/s down, 750 kbit/s up, 150 ms round trip, CPU 4× slower)
// emulated through the DevTools protocol.
import { Browser, CDPSession, expect } from '@playwright/test';

export const baseUrl = process.env.BENCH_URL!;

export async function signedInPhone(browser: Browser) {
  const context = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
  const page = await context.newPage();
  await page.goto(`${baseUrl}/login`);
  await page.getByLabel('Email').fill(process.env.BENCH_EMAIL!);
  await page.getByLabel('Password').fill(process.env.BENCH_PASSWORD!);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.locator('html.js')).toHaveCount(1);
  return { context, page };
}

export async function emulateSlowPhone(cdp: CDPSession) {
  await cdp.send('Network.enable');
  await cdp.send('Network.emulateNetworkConditions', {
    offline: false,
    latency: 150,
    downloadThroughput: (1.6 * 1024 * 1024) / 8,
    uploadThroughput: (750 * 1024) / 8,
  });
  await cdp.send('Emulation.setCPUThrottlingRate', { rate: 4 });
}
