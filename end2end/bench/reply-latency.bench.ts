// Benchmark (not a test): from pressing Enter in the composer to the reply's bubble on
// screen (committed, then read back with the thread), measured inside the page; and to
// the ✓ once the fake Kapso answered (a local fake answers at once, so the bubble often
// arrives already ticked). Starts its own server (the binary in LEADLINE_BIN: scripts/bench-replies
// passes the release build) and a fake Kapso.   BENCH_SAMPLES (default 40)
import { expect, test } from '@playwright/test';
import { cli, deliver, kapsoMessage, PHONE_NUMBER_ID, signInAsOwner, startServer } from '../tests/server';
import { startFakeKapso } from '../tests/fake-kapso';

const samples = Number(process.env.BENCH_SAMPLES || 40);

function percentile(sorted: number[], p: number) {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];
}

test('Enter → queued on screen', async ({ page }) => {
  test.setTimeout(600_000);
  const kapso = await startFakeKapso();
  const server = await startServer({ withOwner: true, env: { KAPSO_API_BASE: kapso.url } });
  try {
    cli(server.databaseUrl, ['workspace', 'set-kapso-key', PHONE_NUMBER_ID], 'kapso_bench_key\n');
    const conversation = 'b0b0b0b0-0000-4000-8000-000000000001';
    await deliver(server, kapsoMessage({ phone: '+6281234569999', conversation, name: 'Bench', text: 'Halo' }));
    await signInAsOwner(page, server);
    await page.goto(`${server.baseUrl}/inbox/${conversation}`);
    await expect(page.locator('html.js')).toHaveCount(1);
    const box = page.getByLabel('Reply', { exact: true });
    const queued: number[] = [];
    const sent: number[] = [];
    for (let i = 0; i < samples; i++) {
      const text = `bench reply ${i} ${Date.now()}`;
      await box.fill(text);
      const measured = page.evaluate(
        (text) =>
          new Promise<[number, number]>((resolve) => {
            let start = 0;
            let shown = 0;
            const area = document.querySelector('#reply-text')!;
            area.addEventListener('keydown', () => (start = performance.now()), { once: true, capture: true });
            const observer = new MutationObserver(() => {
              const bubble = Array.from(document.querySelectorAll('.message.outbound')).find((e) => e.textContent?.includes(text));
              if (bubble && !shown) shown = performance.now();
              if (bubble?.querySelector('.delivery-sent')) {
                observer.disconnect();
                resolve([shown - start, performance.now() - start]);
              }
            });
            observer.observe(document.body, { childList: true, subtree: true, attributes: true });
          }),
        text,
      );
      await box.press('Enter');
      const [toQueued, toSent] = await measured;
      queued.push(toQueued);
      sent.push(toSent);
    }
    queued.sort((a, b) => a - b);
    sent.sort((a, b) => a - b);
    console.log(`reply_enter_to_bubble_ms p50=${percentile(queued, 0.5).toFixed(0)} p95=${percentile(queued, 0.95).toFixed(0)} (n=${samples})`);
    console.log(`reply_enter_to_sent_tick_ms p50=${percentile(sent, 0.5).toFixed(0)} p95=${percentile(sent, 0.95).toFixed(0)} (n=${samples})`);
    expect(kapso.sends.length).toBe(samples);
  } finally {
    // The open page holds a live stream, which a graceful stop waits for.
    await page.close();
    await server.stop();
    await kapso.stop();
  }
});
