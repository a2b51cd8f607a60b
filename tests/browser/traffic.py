#!/usr/bin/python3
"""Client traffic for the browser tests: what an operator would see.

Usage: traffic.py AMQP_PORT READY_FILE

Declares the queues the tests look for with pika (as an application
would), then keeps one connection publishing about 20 messages a second to
"orders" and consuming half as many with acks, so the console has connections,
channels, consumers and rates to show.  Writes READY_FILE once the
queues exist; runs until it is terminated (SIGTERM).
"""
import signal
import sys

import pika

port, ready = int(sys.argv[1]), sys.argv[2]
params = pika.ConnectionParameters("127.0.0.1", port, client_properties={"connection_name": "orders-service"})
conn = pika.BlockingConnection(params)
ch = conn.channel()
ch.queue_declare("console-test", durable=True)
ch.queue_declare("move-src", durable=True)
ch.queue_declare("move-dst", durable=True)
ch.queue_declare("orders", durable=True, arguments={"x-max-length": 100000})
ch.exchange_declare("app.events", "topic", durable=True)
ch.queue_bind("orders", "app.events", "order.*")
for i in range(3):
    ch.basic_publish("", "move-src", ("move %d" % i).encode(),
                     pika.BasicProperties(content_type="text/plain", delivery_mode=2, headers={"n": i}))
for i in range(40):
    ch.basic_publish("app.events", "order.created", b'{"order_id": %d}' % i)

consumer = conn.channel()
consumer.basic_qos(prefetch_count=5)
received = []
consumer.basic_consume("orders", lambda c, m, p, b: received.append(m.delivery_tag))

with open(ready, "w") as f:
    f.write("ready\n")

signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
n = 0
while True:
    # publish about twice as fast as the consumer acknowledges, so the
    # queue has a growing backlog and a few unacknowledged messages
    for _ in range(2):
        ch.basic_publish("app.events", "order.created", b'{"order_id": %d}' % n)
        n += 1
    conn.sleep(0.1)
    if received:
        consumer.basic_ack(received.pop(0))
