// amqplib (Node.js) against the target broker; node:test + node:assert only.
// Target: AMQP_HOST / AMQP_PORT (run.sh sets them).
'use strict';

const { test, after } = require('node:test');
const assert = require('node:assert/strict');
const { randomUUID } = require('node:crypto');
const amqp = require('amqplib');

const HOST = process.env.AMQP_HOST || '127.0.0.1';
const PORT = process.env.AMQP_PORT || '5672';
const URL = `amqp://guest:guest@${HOST}:${PORT}/%2F`;
const T = { timeout: 15000 };

const open = [];
async function connect() {
  const conn = await amqp.connect(URL, { timeout: 5000 });
  conn.on('error', () => {});
  open.push(conn);
  return conn;
}
const uname = (p) => `${p}-${randomUUID()}`;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

after(async () => {
  for (const c of open) {
    try { await c.close(); } catch (_) { /* already closed */ }
  }
});

test('connect and server properties', T, async () => {
  const conn = await connect();
  const props = conn.connection.serverProperties;
  assert.ok(props.product);
  for (const cap of ['publisher_confirms', 'exchange_exchange_bindings', 'basic.nack',
    'consumer_cancel_notify', 'connection.blocked', 'authentication_failure_close',
    'per_consumer_qos', 'direct_reply_to']) {
    assert.equal(props.capabilities[cap], true, cap);
  }
});

test('assertQueue, sendToQueue, consume, ack', T, async () => {
  const conn = await connect();
  const ch = await conn.createChannel();
  const q = uname('q');
  const ok = await ch.assertQueue(q, { durable: false, autoDelete: false });
  assert.deepEqual(ok, { queue: q, messageCount: 0, consumerCount: 0 });
  for (let i = 0; i < 10; i++) {
    ch.sendToQueue(q, Buffer.from(`m${i}`), { messageId: `id${i}`, headers: { n: i } });
  }
  const got = [];
  await new Promise((resolve, reject) => {
    ch.consume(q, (msg) => {
      got.push([msg.content.toString(), msg.properties.messageId, msg.properties.headers.n]);
      ch.ack(msg);
      if (got.length === 10) resolve();
    }).catch(reject);
  });
  assert.deepEqual(got, Array.from({ length: 10 }, (_, i) => [`m${i}`, `id${i}`, i]));
  const del = await ch.deleteQueue(q);
  assert.equal(del.messageCount, 0);
});

test('server-named queue and get / nack requeue', T, async () => {
  const conn = await connect();
  const ch = await conn.createChannel();
  const { queue } = await ch.assertQueue('', { exclusive: true });
  assert.match(queue, /^amq\.gen-/);
  ch.sendToQueue(queue, Buffer.from('again'));
  let msg = false;
  for (let i = 0; i < 100 && !msg; i++) { msg = await ch.get(queue); if (!msg) await sleep(10); }
  assert.ok(msg);
  assert.equal(msg.fields.redelivered, false);
  ch.nack(msg, false, true);
  msg = false;
  for (let i = 0; i < 100 && !msg; i++) { msg = await ch.get(queue, { noAck: true }); if (!msg) await sleep(10); }
  assert.equal(msg.content.toString(), 'again');
  assert.equal(msg.fields.redelivered, true);
  assert.equal(await ch.get(queue), false);
});

test('topic exchange and binding', T, async () => {
  const conn = await connect();
  const ch = await conn.createChannel();
  const x = uname('x');
  await ch.assertExchange(x, 'topic', { durable: false, autoDelete: false });
  const { queue } = await ch.assertQueue('', { exclusive: true });
  await ch.bindQueue(queue, x, 'a.*.c');
  ch.publish(x, 'a.b.c', Buffer.from('yes'));
  ch.publish(x, 'a.b', Buffer.from('no'));
  const got = [];
  await ch.consume(queue, (m) => got.push(m.fields.routingKey), { noAck: true });
  for (let i = 0; i < 50 && got.length < 1; i++) await sleep(10);
  await sleep(100);
  assert.deepEqual(got, ['a.b.c']);
  await ch.deleteExchange(x);
});

test('confirm channel', T, async () => {
  const conn = await connect();
  const ch = await conn.createConfirmChannel();
  const { queue } = await ch.assertQueue('', { exclusive: true });
  const acks = [];
  for (let i = 0; i < 20; i++) {
    ch.sendToQueue(queue, Buffer.from(`c${i}`), {}, (err) => acks.push(err));
  }
  await ch.waitForConfirms();
  assert.equal(acks.length, 20);
  assert.ok(acks.every((e) => e === null || e === undefined));
  const check = await ch.checkQueue(queue);
  assert.equal(check.messageCount, 20);
});

test('channel error 404 leaves the connection usable', T, async () => {
  const conn = await connect();
  const ch = await conn.createChannel();
  const errors = [];
  ch.on('error', (e) => errors.push(e));
  const missing = uname('missing');
  await assert.rejects(ch.checkQueue(missing), (err) => {
    assert.equal(err.code, 404);
    assert.match(err.message, new RegExp(`NOT_FOUND - no queue '${missing}' in vhost '/'`));
    return true;
  });
  await sleep(50);
  assert.equal(errors.length, 1);
  assert.equal(errors[0].code, 404);
  const ch2 = await conn.createChannel();
  const { queue } = await ch2.assertQueue('', { exclusive: true });
  assert.match(queue, /^amq\.gen-/);
});

test('prefetch limits unacked deliveries', T, async () => {
  const conn = await connect();
  const ch = await conn.createChannel();
  const { queue } = await ch.assertQueue('', { exclusive: true });
  for (let i = 0; i < 10; i++) ch.sendToQueue(queue, Buffer.from(`p${i}`));
  await ch.prefetch(2);
  const got = [];
  await ch.consume(queue, (m) => got.push(m));
  await sleep(300);
  assert.equal(got.length, 2);
  ch.ack(got[1], true);
  await sleep(300);
  assert.equal(got.length, 4);
});

test('direct reply-to', T, async () => {
  const conn = await connect();
  const server = await conn.createChannel();
  const client = await conn.createChannel();
  const { queue } = await server.assertQueue('', { exclusive: true });
  await server.consume(queue, (m) => {
    server.sendToQueue(m.properties.replyTo, Buffer.from(`re:${m.content}`),
      { correlationId: m.properties.correlationId });
  }, { noAck: true });
  const reply = new Promise((resolve) => {
    client.consume('amq.rabbitmq.reply-to', (m) => resolve(m), { noAck: true });
  });
  await sleep(50);
  client.sendToQueue(queue, Buffer.from('ping'),
    { replyTo: 'amq.rabbitmq.reply-to', correlationId: 'k1' });
  const m = await reply;
  assert.equal(m.content.toString(), 're:ping');
  assert.equal(m.properties.correlationId, 'k1');
});

// Message lifecycle with amqplib's option names (deadLetterExchange,
// messageTtl, maxLength, maxPriority), as its users write them.

async function getN(ch, q, n, noAck = true) {
  const out = [];
  for (let i = 0; i < 200 && out.length < n; i++) {
    const m = await ch.get(q, { noAck });
    if (m) out.push(m); else await sleep(10);
  }
  return out;
}

test('dead-lettering with x-death on reject and on expiry', T, async () => {
  const conn = await connect();
  const ch = await conn.createChannel();
  const dlx = uname('dlx');
  await ch.assertExchange(dlx, 'fanout', { autoDelete: true });
  const { queue: dlq } = await ch.assertQueue('', { exclusive: true });
  await ch.bindQueue(dlq, dlx, '');
  const { queue: q } = await ch.assertQueue('', { exclusive: true, deadLetterExchange: dlx });
  ch.sendToQueue(q, Buffer.from('no thanks'), { headers: { app: 1 } });
  const [m] = await getN(ch, q, 1, false);
  ch.reject(m, false);
  const [d] = await getN(ch, dlq, 1);
  assert.equal(d.content.toString(), 'no thanks');
  assert.equal(d.fields.exchange, dlx);
  assert.equal(d.properties.headers.app, 1);
  assert.equal(d.properties.headers['x-first-death-reason'], 'rejected');
  const death = d.properties.headers['x-death'][0];
  assert.equal(death.reason, 'rejected');
  assert.equal(death.queue, q);
  assert.equal(death.count, 1);
  assert.deepEqual(death['routing-keys'], [q]);
  const { queue: t } = await ch.assertQueue('', { exclusive: true, deadLetterExchange: dlx, messageTtl: 30 });
  ch.sendToQueue(t, Buffer.from('too late'), { expiration: '10' });
  const [e] = await getN(ch, dlq, 1);
  assert.equal(e.properties.headers['x-death'][0].reason, 'expired');
  assert.equal(e.properties.headers['x-death'][0]['original-expiration'], '10');
});

test('max length drops the head, priorities order delivery', T, async () => {
  const conn = await connect();
  const ch = await conn.createChannel();
  const { queue: q } = await ch.assertQueue('', { exclusive: true, maxLength: 2 });
  for (let i = 0; i < 5; i++) ch.sendToQueue(q, Buffer.from(`m${i}`));
  const kept = await getN(ch, q, 2);
  assert.deepEqual(kept.map((m) => m.content.toString()), ['m3', 'm4']);
  const { queue: p } = await ch.assertQueue('', { exclusive: true, maxPriority: 5 });
  for (const [prio, body] of [[1, 'a'], [5, 'b'], [3, 'c'], [9, 'd']]) {
    ch.sendToQueue(p, Buffer.from(body), { priority: prio });
  }
  const got = await getN(ch, p, 4);
  assert.deepEqual(got.map((m) => m.content.toString()), ['b', 'd', 'c', 'a']);
});
