"""Recovery from damaged data files: a segment cut in the middle of a record
(a torn write), a flipped byte inside a record, a removed acknowledgement
log.  The broker starts every time and keeps exactly what comes before the
damage (storage/store_int.h describes the format these tests edit)."""

import glob
import os
import shutil
import struct
import tempfile
import unittest

import pika

from helpers import BrokerTestCase, OwnBroker

SEG_HDR, REC_HDR = 32, 24


class CorruptionTests(BrokerTestCase):

    def setUp(self):
        super().setUp()
        self.data = tempfile.mkdtemp(prefix="warren-corrupt-")
        self.addCleanup(shutil.rmtree, self.data, True)
        b = OwnBroker(self, data_dir=self.data)
        c = b.connect()
        ch = c.channel()
        ch.queue_declare("cq", durable=True)
        ch.confirm_delivery()
        for i in range(10):
            ch.basic_publish("", "cq", b"m%d" % i + b"." * 100,
                             pika.BasicProperties(delivery_mode=2))
        for _ in range(2):                      # m0 and m1 are acknowledged
            m = ch.basic_get("cq")
            ch.basic_ack(m[0].delivery_tag)
        c.close()
        b.stop()
        segs = [s for s in glob.glob(os.path.join(self.data, "queues", "*", "*.seg"))
                if "meta-journal-" not in s]            # the definitions journal is a log too
        self.assertEqual(len(segs), 1)
        self.seg = segs[0]
        self.acks = os.path.join(os.path.dirname(self.seg), "acks.log")

    def records(self):
        """(offset, length) of each record in the segment."""
        with open(self.seg, "rb") as f:
            data = f.read()
        out, off = [], SEG_HDR
        while off + REC_HDR <= len(data):
            length = struct.unpack_from("<I", data, off + 8)[0]
            out.append((off, length))
            off += REC_HDR + length
        return out

    def recovered(self):
        b = OwnBroker(self, data_dir=self.data)
        ch = b.connect().channel()
        got = []
        while True:
            m, _p, body = ch.basic_get("cq", auto_ack=True)
            if m is None:
                break
            got.append(body.split(b".")[0].decode())
        self.log = b.read_log()
        return got

    def test_nothing_damaged(self):
        self.assertEqual(self.recovered(), ["m%d" % i for i in range(2, 10)])

    def test_torn_tail(self):
        off, length = self.records()[-1]
        with open(self.seg, "r+b") as f:
            f.truncate(off + REC_HDR + length // 2)
        self.assertEqual(self.recovered(), ["m%d" % i for i in range(2, 9)])
        self.assertIn(os.path.basename(self.seg), self.log)     # logged with file and offset

    def test_flipped_byte_ends_the_segment_there(self):
        off, length = self.records()[5]                         # the record of m5
        with open(self.seg, "r+b") as f:
            f.seek(off + REC_HDR + length // 2)
            b = f.read(1)
            f.seek(off + REC_HDR + length // 2)
            f.write(bytes([b[0] ^ 0xFF]))
        self.assertEqual(self.recovered(), ["m2", "m3", "m4"])

    def test_ack_log_removed_brings_acked_back(self):
        os.unlink(self.acks)
        self.assertEqual(self.recovered(), ["m%d" % i for i in range(10)])

    def test_damaged_definitions_stop_the_broker(self):
        with open(os.path.join(self.data, "meta", "definitions.json"), "r+b") as f:
            f.write(b"{garbage")
        with self.assertRaises(RuntimeError) as cm:
            OwnBroker(self, data_dir=self.data)
        self.assertIn("definitions", str(cm.exception))


if __name__ == "__main__":
    unittest.main()
