// Benchmark (not a test): how long after a webhook's 2xx a new lead shows up on a
// Database page that is already open. Run by scripts/bench-ui against a seeded server.
import { expect, test } from '@playwright/test';
import { createHmac } from 'crypto';

const baseUrl = process.env.BENCH_URL!;
const secret = process.env.BENCH_SECRET!;
const email = process.env.BENCH_EMAIL!;
const password = process.env.BENCH_PASSWORD!;
const samples = Number(process.env.BENCH_SAMPLES || 20);

test('live update latency', async ({ page }) => {
  test.setTimeout(300_000);
  await page.goto(`${baseUrl}/login`);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.locator('html.js')).toHaveCount(1);
  await expect(page.locator('.live-on')).toHaveCount(1);
  const latencies: number[] = [];
  for (let i = 0; i < samples; i++) {
    const name = `Live sample ${Date.now()}-${i}`;
    const appeared = page.evaluate(
      (name) =>
        new Promise<number>((resolve) => {
          const found = () => Array.from(document.querySelectorAll('.lead-name')).some((e) => e.textContent === name);
          const observer = new MutationObserver(() => {
            if (found()) {
              observer.disconnect();
              resolve(Date.now());
            }
          });
          observer.observe(document.body, { childList: true, subtree: true, characterData: true });
        }),
      name,
    );
    await page.waitForTimeout(50);
    const body = JSON.stringify({
      message: { id: `wamid.live.${Date.now()}.${i}`, timestamp: String(Math.floor(Date.now() / 1000)), type: 'text', text: { body: 'halo' }, kapso: { direction: 'inbound' } },
      conversation: { id: `conv-live-${Date.now()}-${i}`, phone_number: `+62819${String(10_000_000 + i * 13 + (Date.now() % 1000)).padStart(8, '0')}`, phone_number_id: '123456789012345', kapso: { contact_name: name } },
      phone_number_id: '123456789012345',
    });
    const response = await fetch(`${baseUrl}/api/webhook/kapso`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-webhook-signature': createHmac('sha256', secret).update(body).digest('hex') },
      body,
    });
    const acknowledged = Date.now();
    expect(response.status).toBe(200);
    const seen = await appeared;
    latencies.push(seen - acknowledged);
  }
  latencies.sort((a, b) => a - b);
  const pick = (p: number) => latencies[Math.min(latencies.length - 1, Math.round((p / 100) * (latencies.length - 1)))];
  console.log(JSON.stringify({ live_update_ms: { samples: latencies.length, p50: pick(50), p95: pick(95), max: latencies[latencies.length - 1] } }));
});
