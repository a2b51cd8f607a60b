// amqplib (Node.js): quorum and stream queues as RabbitMQ 3.10 offers them.
// Target: AMQP_HOST / AMQP_PORT (run.sh sets them).  Passes against RabbitMQ too.
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
const QUORUM = { durable: true, arguments: { 'x-queue-type': 'quorum' } };
const STREAM = { durable: true, arguments: { 'x-queue-type': 'stream' } };

async function deleteLater(q) {
  after(async () => {
    const conn = await amqp.connect(URL);
    const ch = await conn.createChannel();
    await ch.deleteQueue(q);
    await conn.close();
  });
}

// Run fn on a fresh channel and return the error that closed it.
async function channelError(fn) {
  const conn = await connect();
  const ch = await conn.createChannel();
  ch.on('error', () => {});
  const closed = new Promise((resolve) => ch.on('close', resolve));
  const err = await fn(ch).then(() => null, (e) => e);
  await closed;
  return err;
}

after(async () => {
  for (const c of open) {
    try { await c.close(); } catch (_) { /* already closed */ }
  }
});

test('quorum: declared durable, refused non-durable and exclusive', T, async () => {
  const conn = await connect();
  const ch = await conn.createChannel();
  const q = uname('qq');
  await deleteLater(q);
  const ok = await ch.assertQueue(q, QUORUM);
  assert.equal(ok.queue, q);
  const name = uname('qq');
  let err = await channelError((c) => c.assertQueue(name, { durable: false, arguments: QUORUM.arguments }));
  assert.equal(err.code, 406);
  assert.match(err.message, new RegExp(`invalid property 'non-durable' for queue '${name}' in vhost '/'`));
  err = await channelError((c) => c.assertQueue(name, { durable: true, exclusive: true, arguments: QUORUM.arguments }));
  assert.match(err.message, /invalid property 'exclusive-owner'/);
  err = await channelError((c) => c.assertQueue(q, { durable: true }));
  assert.match(err.message, /inequivalent arg 'x-queue-type'/);
});

test('quorum: x-delivery-count and the delivery limit', T, async () => {
  const conn = await connect();
  const ch = await conn.createConfirmChannel();
  const dlq = uname('dlq');
  const q = uname('qq');
  await deleteLater(q);
  await deleteLater(dlq);
  await ch.assertQueue(dlq, { durable: true });
  await ch.assertQueue(q, { durable: true, arguments: {
    'x-queue-type': 'quorum', 'x-delivery-limit': 1,
    'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': dlq } });
  ch.sendToQueue(q, Buffer.from('a'));
  ch.sendToQueue(q, Buffer.from('b'));
  await ch.waitForConfirms();
  let m = await ch.get(q);
  assert.equal(m.content.toString(), 'a');
  assert.equal(m.properties.headers['x-delivery-count'], 0);
  ch.nack(m, false, true);
  m = await ch.get(q); // with a delivery limit, a returned message comes first
  assert.equal(m.content.toString(), 'a');
  assert.equal(m.fields.redelivered, true);
  assert.equal(m.properties.headers['x-delivery-count'], 1);
  ch.nack(m, false, true); // over the limit: dead-lettered
  let d = false;
  for (let i = 0; i < 50 && !d; i++) {
    d = await ch.get(dlq, { noAck: true });
    if (!d) await new Promise((r) => setTimeout(r, 50));
  }
  assert.ok(d, 'dead-lettered');
  assert.equal(d.properties.headers['x-first-death-reason'], 'delivery_limit');
  m = await ch.get(q, { noAck: true }); // only 'b' is left
  assert.equal(m.content.toString(), 'b');
  assert.equal(await ch.get(q), false);
});

test('quorum: global qos refused on consume', T, async () => {
  const conn = await connect();
  const ch = await conn.createChannel();
  const q = uname('qq');
  await deleteLater(q);
  await ch.assertQueue(q, QUORUM);
  const conn2 = await connect();
  const closed = new Promise((resolve) => conn2.on('close', resolve));
  const ch2 = await conn2.createChannel();
  ch2.on('error', () => {});
  await ch2.prefetch(5, true);
  await ch2.consume(q, () => {}).catch(() => {});
  const err = await closed;
  assert.equal(err.code, 540);
  assert.match(err.message, new RegExp(`queue '${q}' in vhost '/' does not support global qos`));
});

test('stream: consume from first, every delivery carries its offset', T, async () => {
  const conn = await connect();
  const ch = await conn.createConfirmChannel();
  const s = uname('s');
  await deleteLater(s);
  const ok = await ch.assertQueue(s, STREAM);
  assert.equal(ok.messageCount, 0);
  for (let i = 0; i < 5; i++) ch.sendToQueue(s, Buffer.from(`m${i}`), { headers: { i } });
  await ch.waitForConfirms();
  for (const round of [1, 2]) { // reading removes nothing
    const rc = await conn.createChannel();
    await rc.prefetch(10);
    const got = [];
    await new Promise((resolve) => {
      rc.consume(s, (m) => {
        got.push([m.content.toString(), m.properties.headers['x-stream-offset'], m.properties.headers.i]);
        rc.ack(m);
        if (got.length === 5) resolve();
      }, { arguments: { 'x-stream-offset': 'first' } });
    });
    assert.deepEqual(got, [0, 1, 2, 3, 4].map((i) => [`m${i}`, i, i]), `round ${round}`);
    await rc.close();
  }
  // a numeric offset
  const rc = await conn.createChannel();
  await rc.prefetch(10);
  const got = [];
  await new Promise((resolve) => {
    rc.consume(s, (m) => {
      got.push(m.properties.headers['x-stream-offset']);
      rc.ack(m);
      if (got.length === 2) resolve();
    }, { arguments: { 'x-stream-offset': 3 } });
  });
  assert.deepEqual(got, [3, 4]);
});

test('stream: basic.get, auto-ack and a missing prefetch are refused', T, async () => {
  const conn = await connect();
  const ch = await conn.createChannel();
  const s = uname('s');
  await deleteLater(s);
  await ch.assertQueue(s, STREAM);
  let err = await channelError((c) => c.consume(s, () => {}));
  assert.equal(err.code, 406);
  assert.match(err.message, /consumer prefetch count is not set/);

  const conn2 = await connect();
  let closed = new Promise((resolve) => conn2.on('close', resolve));
  const ch2 = await conn2.createChannel();
  ch2.on('error', () => {});
  await ch2.get(s).catch(() => {});
  err = await closed;
  assert.equal(err.code, 540);
  assert.match(err.message, /basic.get not supported by stream queues/);

  const conn3 = await connect();
  closed = new Promise((resolve) => conn3.on('close', resolve));
  const ch3 = await conn3.createChannel();
  ch3.on('error', () => {});
  await ch3.prefetch(10);
  await ch3.consume(s, () => {}, { noAck: true }).catch(() => {});
  err = await closed;
  assert.equal(err.code, 540);
  assert.match(err.message, /automatic acknowledgement not supported by stream queues/);
});
