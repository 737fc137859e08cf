// Benchmark (not a test): the Database page on a slow phone. Chromium emulates a
// mid-range phone on mobile data (390 px wide, 1.6 Mbit/s down, 750 kbit/s up, 150 ms
// round trip, CPU 4× slower) through the DevTools protocol, and we time navigation →
// hydrated (`html.js`, set by the bundle once hydration is done) and count the bytes
// that crossed the network, with a cold cache and again with a warm one.
// Run by scripts/bench-phone against a release server with seeded leads.
import { test } from '@playwright/test';
import { baseUrl, emulateSlowPhone, signedInPhone } from './phone';

const runs = Number(process.env.BENCH_RUNS || 5);

test('slow phone: time to hydration and bytes', async ({ browser }) => {
  test.setTimeout(600_000);
  const results: { cold_ms: number; cold_bytes: number; warm_ms: number; warm_bytes: number }[] = [];
  for (let run = 0; run < runs; run++) {
    const { context, page } = await signedInPhone(browser);
    await page.goto('about:blank');
    const cdp = await context.newCDPSession(page);
    await emulateSlowPhone(cdp);
    await cdp.send('Network.clearBrowserCache');
    let bytes = 0;
    cdp.on('Network.loadingFinished', (event: { encodedDataLength: number }) => {
      bytes += event.encodedDataLength;
    });
    const load = async () => {
      bytes = 0;
      const started = Date.now();
      await page.goto(`${baseUrl}/leads`, { waitUntil: 'commit' });
      await page.waitForFunction(() => document.documentElement.classList.contains('js'), null, { polling: 20, timeout: 60_000 });
      const elapsed = Date.now() - started;
      await page.waitForLoadState('load');
      return { ms: elapsed, bytes };
    };
    const cold = await load();
    await page.goto('about:blank');
    const warm = await load();
    results.push({ cold_ms: cold.ms, cold_bytes: cold.bytes, warm_ms: warm.ms, warm_bytes: warm.bytes });
    await context.close();
  }
  const median = (key: keyof (typeof results)[0]) => {
    const values = results.map((r) => r[key]).sort((a, b) => a - b);
    return values[Math.floor(values.length / 2)];
  };
  console.log(JSON.stringify({ slow_phone: { runs: results.length, cold_ms: median('cold_ms'), cold_kb: Math.round(median('cold_bytes') / 1000), warm_ms: median('warm_ms'), warm_kb: Math.round(median('warm_bytes') / 1000), each: results } }));
});
