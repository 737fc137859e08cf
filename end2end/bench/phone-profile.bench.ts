// Profile (not a test): where a warm load of the Database on the emulated slow phone
// spends its time. Same emulation as slow-phone.bench.ts; records a Chromium trace of
// one warm load and prints the main thread's time per kind of work (HTML parsing,
// script compilation and evaluation, wasm compilation, style and layout, …) and the
// navigation's milestones. Run by `scripts/bench-phone --profile`.
import { expect, test } from '@playwright/test';
import { baseUrl, emulateSlowPhone, signedInPhone } from './phone';

type TraceEvent = { name: string; ph: string; dur?: number; ts: number; tid: number; pid: number; args?: any; cat: string };

test('slow phone: profile of a warm load', async ({ browser }) => {
  test.setTimeout(300_000);
  const { context, page } = await signedInPhone(browser);
  await emulateSlowPhone(await context.newCDPSession(page));
  // Warm the cache (twice: Chromium caches compiled wasm on a later visit).
  for (let i = 0; i < 2; i++) {
    await page.goto('about:blank');
    await page.goto(`${baseUrl}/leads`);
    await expect(page.locator('html.js')).toHaveCount(1);
  }
  await page.goto('about:blank');
  await browser.startTracing(page, { categories: ['devtools.timeline', 'v8', 'v8.wasm', 'blink', 'loading', 'disabled-by-default-devtools.timeline'] });
  const started = Date.now();
  await page.goto(`${baseUrl}/leads`, { waitUntil: 'commit' });
  await page.waitForFunction(() => document.documentElement.classList.contains('js'), null, { polling: 20, timeout: 60_000 });
  const elapsed = Date.now() - started;
  const milestones = await page.evaluate(() => {
    const nav = performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming;
    const resources = (performance.getEntriesByType('resource') as PerformanceResourceTiming[]).map((r) => ({
      name: r.name.replace(/^.*\//, ''),
      start: Math.round(r.startTime),
      end: Math.round(r.responseEnd),
      bytes: r.transferSize,
    }));
    return {
      response_start: Math.round(nav.responseStart),
      response_end: Math.round(nav.responseEnd),
      dom_interactive: Math.round(nav.domInteractive),
      dom_content_loaded: Math.round(nav.domContentLoadedEventEnd),
      hydrated: Math.round(performance.now()),
      resources,
    };
  });
  const buffer = await browser.stopTracing();
  const trace = JSON.parse(buffer.toString()) as { traceEvents: TraceEvent[] };
  const events = trace.traceEvents;
  // The renderer's main thread: where `ParseHTML` ran.
  const parse = events.find((e) => e.name === 'ParseHTML');
  const main = events.filter((e) => parse && e.pid === parse.pid && e.tid === parse.tid && e.ph === 'X' && e.dur);
  // Self time per event name, top-level tasks excluded (they only contain the rest).
  const totals = new Map<string, number>();
  const sorted = main.filter((e) => e.name !== 'RunTask' && e.name !== 'ThreadControllerImpl::RunTask').sort((a, b) => a.ts - b.ts);
  const stack: TraceEvent[] = [];
  const self = new Map<TraceEvent, number>();
  for (const e of sorted) {
    while (stack.length && stack[stack.length - 1].ts + stack[stack.length - 1].dur! <= e.ts) stack.pop();
    const parent = stack[stack.length - 1];
    if (parent) self.set(parent, (self.get(parent) ?? parent.dur!) - e.dur!);
    self.set(e, e.dur!);
    stack.push(e);
  }
  for (const [e, us] of self) totals.set(e.name, (totals.get(e.name) ?? 0) + us);
  const top = [...totals.entries()].sort((a, b) => b[1] - a[1]).slice(0, 25).map(([name, us]) => [name, Math.round(us / 1000)]);
  const wasm = events.filter((e) => e.cat.includes('wasm') && e.dur).map((e) => [e.name, Math.round(e.dur! / 1000)]);
  console.log(JSON.stringify({ phone_profile: { elapsed_ms: elapsed, milestones, main_thread_self_ms: top, wasm_events_ms: wasm.slice(0, 20) } }, null, 0));
  await context.close();
});
