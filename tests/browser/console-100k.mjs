/*
 * The console on a broker with many queues (console-100k.sh declares
 * them): how long the queue page takes to show its first page, to filter
 * by a regular expression, to sort by length, to jump to the last page,
 * and how long the broker takes to answer each of those API calls (from
 * the browser's resource timings).  Prints figures; fails only if a page
 * never shows what it should.  BASE_URL and QUEUES come from the script.
 */
import { chromium } from 'playwright-core';

const BASE = process.env.BASE_URL;
const N = Number(process.env.QUEUES);
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', headless: true, args: ['--no-sandbox'] });
const page = await (await browser.newContext({ viewport: { width: 1280, height: 860 } })).newPage();
page.setDefaultTimeout(60000);
const fmt = n => n.toLocaleString('en-US');
/* checked every animation frame, so the timings are not Playwright's polling intervals */
const toolbarHas = text => page.waitForFunction(t => (document.querySelector('.toolbar') || {}).textContent?.includes(t),
  text, { polling: 'raf' });

async function timed(label, action, ready) {
  await page.evaluate(() => performance.clearResourceTimings());
  const t0 = Date.now();
  await action();
  await ready();
  const ms = Date.now() - t0;
  const calls = await page.evaluate(() => performance.getEntriesByType('resource')
    .filter(e => e.name.includes('/api/'))
    .map(e => ({ url: e.name.slice(e.name.indexOf('/api/')), ms: e.duration, bytes: e.encodedBodySize })));
  console.log(`${label}: ${ms} ms on screen`);
  for (const c of calls) console.log(`    ${Math.round(c.ms)} ms, ${fmt(c.bytes)} B  GET ${c.url.slice(0, 110)}`);
}

await page.goto(BASE);
await page.fill('input[name=username]', 'guest');
await page.fill('input[name=password]', 'guest');
await timed('log in, overview', () => page.click('#login button[type=submit]'),
  () => page.locator('#total-queues .n', { hasText: fmt(N) }).waitFor());
await timed('queue page, first page of 50', () => page.click('#nav a[data-page=queues]'),
  () => toolbarHas(`${fmt(N)} of ${fmt(N)} queues`));
await page.locator('input[name=regex]').check();
await toolbarHas(`${fmt(N)} of ${fmt(N)} queues`);
await timed('filter by regex ^q-0042[7]$', () => page.fill('input[name=filter]', '^q-0042[7]$'),
  () => toolbarHas(`1 of ${fmt(N)} queues match`));
await timed('clear the filter', () => page.fill('input[name=filter]', ''),
  () => toolbarHas(`${fmt(N)} of ${fmt(N)} queues`));
const last = Math.ceil(N / 50);
await timed(`jump to page ${fmt(last)}`, async () => {
  await page.fill('input[name=page]', String(last));
  await page.press('input[name=page]', 'Enter');
}, () => page.locator('table.queues tbody tr').first().locator('a', { hasText: `q-${String((last - 1) * 50).padStart(5, '0')}` }).waitFor());
await timed('sort by total messages, longest first', async () => {
  await page.locator('table.queues th', { hasText: 'Total' }).click();
  await page.locator('table.queues th.sorted', { hasText: 'Total' }).waitFor();
  await page.locator('table.queues th', { hasText: 'Total' }).click();
}, () => page.locator('table.queues tbody tr').first().locator('a', { hasText: 'q-00009' }).waitFor());
await timed('a queue\'s page', () => page.goto(BASE + '#/queues/%2F/q-00007'),
  () => page.locator('#q-messages .n', { hasText: '7' }).waitFor());
await browser.close();
