/*
 * The web console in headless Chromium: the operator's round trip on a
 * queue a pika client declared (log in, find it, publish, get it back,
 * move, purge, delete), a wrong password, deep links, then a screenshot
 * of each main page.  Run by run.sh, which starts the broker and the
 * client traffic: BASE_URL is the management port, SCREENSHOTS a folder.
 * Steps depend on each other and run in order; the first failure stops
 * the run with a screenshot of the page.  Every wait is for an element or
 * a condition, never for a fixed time.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';

const BASE = process.env.BASE_URL;
const SHOTS = process.env.SCREENSHOTS;
const AUTH = 'Basic ' + Buffer.from('guest:guest').toString('base64');
if (!BASE || !SHOTS) {
  console.error('BASE_URL and SCREENSHOTS must be set (run.sh sets them)');
  process.exit(2);
}
fs.mkdirSync(SHOTS, { recursive: true });

async function api(method, p, body) {
  const r = await fetch(new URL('api' + p, BASE), {
    method,
    headers: { authorization: AUTH, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  return { status: r.status, body: text ? JSON.parse(text) : null };
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox'],
});
const context = await browser.newContext({ viewport: { width: 1280, height: 860 }, deviceScaleFactor: 1 });
const page = await context.newPage();
page.setDefaultTimeout(15000);
const pageErrors = [];
page.on('pageerror', e => pageErrors.push(e.message));
page.on('dialog', d => d.accept()); /* the console confirms purge and delete */

const notice = text => page.locator('#notice', { hasText: text }).waitFor();
const card = async id => (await page.locator(`#${id} .n`).textContent()).trim();
async function openSection(title) {
  const d = page.locator('details.section', { has: page.locator('summary', { hasText: title }) });
  if (!(await d.evaluate(el => el.open))) await d.locator('summary').click();
  return d;
}

const steps = [];
const step = (name, fn) => steps.push({ name, fn });

step('the console is served at / without a login, with an ETag', async () => {
  const r = await fetch(BASE);
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type'), /^text\/html/);
  const etag = r.headers.get('etag');
  assert.ok(etag);
  const again = await fetch(BASE, { headers: { 'if-none-match': etag } });
  assert.equal(again.status, 304);
});

step('a wrong password shows "Login failed"', async () => {
  await page.goto(BASE);
  await page.fill('input[name=username]', 'guest');
  await page.fill('input[name=password]', 'not-the-password');
  await page.click('#login button[type=submit]');
  await page.locator('#login-error', { hasText: 'Login failed' }).waitFor();
  assert.equal(await page.locator('#app-view').isHidden(), true);
});

step('log in as guest', async () => {
  await page.fill('input[name=username]', 'guest');
  await page.fill('input[name=password]', 'guest');
  await page.click('#login button[type=submit]');
  await page.locator('#total-queues').waitFor();
  assert.equal(await page.locator('#login-error').isHidden(), true);
  assert.equal(await page.locator('#whoami').textContent(), 'guest');
});

step('the queue pika declared is in the queue list (filtered by the broker)', async () => {
  await page.click('#nav a[data-page=queues]');
  await page.locator('table.queues').waitFor();
  await page.fill('input[name=filter]', 'console-');
  await page.locator('table.queues a', { hasText: 'console-test' }).waitFor();
  await page.locator('.toolbar', { hasText: '1 of 4 queues match' }).waitFor();
  assert.equal(await page.locator('table.queues tbody tr').count(), 1);
});

step('publish a message from the queue page', async () => {
  await page.locator('table.queues a', { hasText: 'console-test' }).click();
  await page.waitForURL(/#\/queues\/%2F\/console-test$/);
  await page.locator('#q-messages').waitFor();
  const d = await openSection('Publish a message');
  await d.locator('textarea[name=payload]').fill('hello from the console');
  await d.locator('select[name=delivery_mode]').selectOption('2');
  await d.locator('button[type=submit]').click();
  await notice('Message published.');
  await page.locator('#q-messages .n', { hasText: /^1$/ }).waitFor();
  const q = await api('GET', '/queues/%2F/console-test');
  assert.equal(q.body.messages, 1);
});

step('get the message back from the UI', async () => {
  const d = await openSection('Get messages');
  await d.locator('select[name=ackmode]').selectOption('ack_requeue_true');
  await d.locator('button[type=submit]').click();
  const payload = page.locator('#got-messages pre.payload');
  await payload.waitFor();
  assert.equal(await payload.textContent(), 'hello from the console');
  assert.match(await page.locator('#got-messages').textContent(), /"delivery_mode":2/);
  /* requeued: still there */
  assert.equal((await api('GET', '/queues/%2F/console-test')).body.messages, 1);
});

step('purge the queue', async () => {
  const d = await openSection('Delete or purge');
  await d.locator('#purge').click();
  await notice('Queue console-test purged.');
  await page.locator('#q-messages .n', { hasText: /^0$/ }).waitFor();
  assert.equal((await api('GET', '/queues/%2F/console-test')).body.messages, 0);
});

step('delete the queue', async () => {
  const d = await openSection('Delete or purge');
  await d.locator('#delete-queue').click();
  await notice('Queue console-test deleted.');
  await page.waitForURL(/#\/queues$/);
  assert.equal((await api('GET', '/queues/%2F/console-test')).status, 404);
});

step('move messages to another queue, keeping bytes and properties', async () => {
  await page.goto(BASE + '#/queues/%2F/move-src');
  await page.locator('#q-messages .n', { hasText: /^3$/ }).waitFor();
  const d = await openSection('Move messages');
  await d.locator('input[name=destination]').fill('move-dst');
  await d.locator('button[type=submit]').click();
  await notice('Moved 3 message(s) to move-dst.');
  assert.equal((await api('GET', '/queues/%2F/move-src')).body.messages, 0);
  const got = await api('POST', '/queues/%2F/move-dst/get', { count: 5, ackmode: 'ack_requeue_true', encoding: 'auto' });
  assert.deepEqual(got.body.map(m => m.payload), ['move 0', 'move 1', 'move 2']);
  assert.equal(got.body[2].properties.content_type, 'text/plain');
  assert.deepEqual(got.body[2].properties.headers, { n: 2 });
});

step('a deep link to a queue works after a reload (same tab, still logged in)', async () => {
  await page.goto(BASE + '#/queues/%2F/orders');
  await page.reload();
  await page.locator('#queue-name', { hasText: 'orders' }).waitFor();
  await page.locator('#q-consumers .n', { hasText: /^1$/ }).waitFor();
});

step('sorting is done by the broker', async () => {
  await page.goto(BASE + '#/queues');
  await page.fill('input[name=filter]', '');
  await page.locator('.toolbar', { hasText: '3 of 3 queues' }).waitFor();
  const first = () => page.locator('table.queues tbody tr').first();
  await first().locator('a', { hasText: 'move-dst' }).waitFor();
  await page.locator('table.queues th', { hasText: 'Name' }).click();
  await page.locator('table.queues th.sorted.rev', { hasText: 'Name' }).waitFor();
  await first().locator('a', { hasText: 'orders' }).waitFor();
  await page.locator('table.queues th', { hasText: 'Name' }).click();
  await first().locator('a', { hasText: 'move-dst' }).waitFor();
});

const shots = [
  ['overview', '#/', async () => {
    /* the charts need a few samples of the broker's 5 s rates */
    await page.locator('canvas[data-points="3"]').first().waitFor({ timeout: 30000 });
  }],
  ['connections', '#/connections', () => page.locator('table.connections a', { hasText: '->' }).first().waitFor()],
  ['channels', '#/channels', () => page.locator('table.channels tbody tr td', { hasText: '(1)' }).first().waitFor()],
  ['exchanges', '#/exchanges', () => page.locator('table.exchanges a', { hasText: 'app.events' }).waitFor()],
  ['exchange', '#/exchanges/%2F/app.events', () => page.locator('table a', { hasText: 'orders' }).first().waitFor()],
  ['queues', '#/queues', () => page.locator('table.queues a', { hasText: 'orders' }).waitFor()],
  ['queue', '#/queues/%2F/orders', async () => {
    await page.locator('canvas[data-points="2"]').first().waitFor({ timeout: 30000 });
    await (await openSection('Get messages')).locator('button[type=submit]').click();
    await page.locator('#got-messages pre.payload').waitFor();
  }],
  ['users', '#/users', () => page.locator('table td', { hasText: 'guest' }).first().waitFor()],
  ['vhosts', '#/vhosts', () => page.locator('table td', { hasText: 'staging' }).first().waitFor()],
  ['permissions', '#/permissions', () => page.locator('table td', { hasText: 'ops' }).first().waitFor()],
  ['policies', '#/policies', () => page.locator('table td', { hasText: 'orders-limit' }).first().waitFor()],
  ['definitions', '#/definitions', () => page.locator('.cards .card').first().waitFor()],
];

step('objects for the admin screenshots', async () => {
  assert.equal((await api('PUT', '/vhosts/staging', { description: 'pre-production' })).status, 201);
  assert.equal((await api('PUT', '/users/ops', { password: 'ops-secret', tags: 'monitoring' })).status, 201);
  assert.equal((await api('PUT', '/permissions/staging/ops', { configure: '', write: '', read: '.*' })).status, 201);
  assert.equal((await api('PUT', '/policies/%2F/orders-limit',
    { pattern: '^orders$', 'apply-to': 'queues', priority: 1, definition: { 'max-length': 100000 } })).status, 201);
});

step('a monitoring user gets no admin pages; the vhost selector narrows lists', async () => {
  const ctx = await browser.newContext();
  try {
    const p2 = await ctx.newPage();
    p2.setDefaultTimeout(15000);
    p2.on('pageerror', e => pageErrors.push(e.message));
    await p2.goto(BASE);
    await p2.fill('input[name=username]', 'ops');
    await p2.fill('input[name=password]', 'ops-secret');
    await p2.click('#login button[type=submit]');
    await p2.locator('#total-queues').waitFor();
    assert.equal(await p2.locator('#nav a[data-page=users]').isHidden(), true);
    assert.equal(await p2.locator('#nav a[data-page=queues]').isVisible(), true);
    await p2.selectOption('#vhost-filter', 'staging');
    await p2.goto(BASE + '#/queues');
    await p2.locator('table.queues td.empty', { hasText: 'No queues.' }).waitFor();
  } finally {
    await ctx.close();
  }
});

for (const [name, hash, ready] of shots) {
  step(`screenshot: ${name}`, async () => {
    await page.goto(BASE + hash);
    await page.locator('#refresh-status', { hasText: 'Updated' }).waitFor();
    await ready();
    await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
  });
}

step('definitions: import from the page, export as a download', async () => {
  await page.goto(BASE + '#/definitions');
  await page.locator('#refresh-status', { hasText: 'Updated' }).waitFor();
  const defs = { queues: [{ name: 'imported-q', vhost: '/', durable: true, auto_delete: false, arguments: {} }] };
  await page.fill('#import textarea[name=definitions]', JSON.stringify(defs));
  await page.click('#import button[type=submit]');
  await notice('Definitions imported.');
  assert.equal((await api('GET', '/queues/%2F/imported-q')).status, 200);
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#export')]);
  const file = path.join(SHOTS, '..', `defs-${process.pid}.json`);
  await download.saveAs(file);
  const exported = JSON.parse(fs.readFileSync(file, 'utf8'));
  fs.rmSync(file);
  assert.ok(exported.queues.some(q => q.name === 'imported-q'));
  assert.ok(exported.policies.some(p => p.name === 'orders-limit'));
});

step('close the client connection from the connections page', async () => {
  await page.goto(BASE + '#/connections');
  const row = page.locator('table.connections tbody tr', { hasText: 'Pika' });
  await row.waitFor();
  await row.locator('button', { hasText: 'Close' }).click();
  await notice('closed.');
  await page.locator('table.connections td.empty').waitFor();
  assert.deepEqual((await api('GET', '/connections')).body, []);
});

step('the browser saw no script errors', async () => {
  assert.deepEqual(pageErrors, []);
});

let failed = 0, passed = 0;
console.log(`TAP version 13\n1..${steps.length}`);
for (const [i, s] of steps.entries()) {
  if (failed) {
    console.log(`ok ${i + 1} - ${s.name} # SKIP after a failure`);
    continue;
  }
  const t0 = Date.now();
  try {
    await s.fn();
    passed++;
    console.log(`ok ${i + 1} - ${s.name} (${Date.now() - t0} ms)`);
  } catch (e) {
    failed++;
    const shot = path.join(SHOTS, `failure-${i + 1}.png`);
    await page.screenshot({ path: shot, fullPage: true }).catch(() => {});
    const n = await page.locator('#notice').textContent().catch(() => '');
    console.log(`not ok ${i + 1} - ${s.name}\n  # ${String(e.stack || e).split('\n').join('\n  # ')}` +
      `\n  # page: ${page.url()}; notice: ${n}; screenshot: ${shot}`);
  }
}
await browser.close();
console.log(`# browser: ${passed} passed, ${failed} failed, ${steps.length - passed - failed} skipped`);
process.exit(failed ? 1 : 0);
