"""The shared ring between workers (csrc/ring.c) through the extension: sizes
and attach, publish/get/release, order, full and too-long messages, wrapping,
the sleep/wake handshake, reader reset and writer resume, and corrupt slots.
"""

from __future__ import annotations

import struct

import pytest

from sfu._native import ffi, lib

SLOT_DATA = lib.SFU_SLOT_DATA

RING_HDR = 256
SLOT_SIZE = 32 + SLOT_DATA


class Ring:
    def __init__(self, slots: int = 4):
        self.slots = slots
        self.mem = ffi.new("uint8_t[]", lib.sfu_ring_bytes(slots))
        self.r = lib.sfu_ring_init(self.mem, slots)
        assert self.r != ffi.NULL
        self.serial = 0

    def put(self, payload: bytes, kind: int = lib.SFU_RING_RTP, pid: int = 7, ts: int = 123) -> int:
        m = ffi.new("sfu_ring_msg_t *", {"kind": kind, "producer_id": pid, "ts_ns": ts, "len": len(payload)})
        return lib.sfu_ring_put(self.r, m, ffi.from_buffer("uint8_t[]", payload or b"\0"))

    def get(self, cap: int = SLOT_DATA):
        m = ffi.new("sfu_ring_msg_t *")
        data = ffi.new("uint8_t[]", max(cap, 1))
        rc = lib.sfu_ring_get(self.r, m, data, cap)
        if rc == 1:
            return rc, (m.kind, m.producer_id, m.ts_ns, bytes(ffi.buffer(data, m.len)))
        return rc, None

    def slot_byte(self, index: int, offset: int) -> int:
        return RING_HDR + index * SLOT_SIZE + offset


def test_ring_sizes_and_attach():
    assert lib.sfu_ring_bytes(4) == RING_HDR + 4 * SLOT_SIZE
    mem = ffi.new("uint8_t[]", lib.sfu_ring_bytes(8))
    assert lib.sfu_ring_attach(mem, 8) == ffi.NULL             # not initialised
    for bad in (0, 1, 3, 6):
        assert lib.sfu_ring_init(mem, bad) == ffi.NULL
    r = lib.sfu_ring_init(mem, 8)
    assert r != ffi.NULL
    assert lib.sfu_ring_attach(mem, 8) == r
    assert lib.sfu_ring_attach(mem, 4) == ffi.NULL
    assert lib.sfu_ring_init(ffi.NULL, 8) == ffi.NULL


def test_ring_put_publish_get():
    ring = Ring(4)
    assert ring.put(b"hello", kind=lib.SFU_RING_RTP, pid=42, ts=99) == lib.SFU_DROP_NONE
    assert ring.get() == (0, None)                             # not published yet
    assert lib.sfu_ring_pending(ring.r) == 0
    assert lib.sfu_ring_publish(ring.r) == 0                   # nobody sleeping
    assert lib.sfu_ring_pending(ring.r) == 1
    assert ring.get() == (1, (lib.SFU_RING_RTP, 42, 99, b"hello"))
    assert ring.get() == (0, None)
    assert lib.sfu_ring_pending(ring.r) == 1                   # tail not released yet
    lib.sfu_ring_release(ring.r)
    assert lib.sfu_ring_pending(ring.r) == 0


def test_ring_keeps_order_and_sizes():
    ring = Ring(8)
    msgs = [bytes([i]) * n for i, n in enumerate((0, 1, 100, SLOT_DATA, 1200))]
    for i, m in enumerate(msgs):
        assert ring.put(m, kind=lib.SFU_RING_RTCP_TO_PRODUCER, pid=i, ts=i * 10) == 0
    lib.sfu_ring_publish(ring.r)
    for i, m in enumerate(msgs):
        assert ring.get() == (1, (lib.SFU_RING_RTCP_TO_PRODUCER, i, i * 10, m))
    assert ring.get() == (0, None)


def test_ring_full_and_too_long():
    ring = Ring(4)
    assert ring.put(bytes(SLOT_DATA + 1)) == lib.SFU_DROP_TOO_LONG
    for i in range(4):
        assert ring.put(bytes([i])) == 0
    assert ring.put(b"x") == lib.SFU_DROP_RING_FULL
    lib.sfu_ring_publish(ring.r)
    assert ring.get()[0] == 1
    assert ring.put(b"x") == lib.SFU_DROP_RING_FULL            # read but not released
    lib.sfu_ring_release(ring.r)
    assert ring.put(b"y") == 0
    assert ring.put(b"z") == lib.SFU_DROP_RING_FULL


def test_ring_wraps_many_times():
    ring = Ring(2)
    for i in range(50):
        payload = struct.pack("!I", i) * (i % 7)
        assert ring.put(payload, pid=i) == 0
        lib.sfu_ring_publish(ring.r)
        assert ring.get() == (1, (lib.SFU_RING_RTP, i, 123, payload))
        lib.sfu_ring_release(ring.r)


def test_ring_get_with_small_buffer_skips_message():
    ring = Ring(4)
    ring.put(bytes(100))
    ring.put(b"ok")
    lib.sfu_ring_publish(ring.r)
    assert ring.get(cap=50) == (-lib.SFU_DROP_TOO_LONG, None)
    assert ring.get(cap=50) == (1, (lib.SFU_RING_RTP, 7, 123, b"ok"))


def test_ring_publish_wakes_sleeper_once():
    ring = Ring(4)
    assert lib.sfu_ring_prepare_sleep(ring.r) == 0             # empty: may sleep
    assert lib.sfu_ring_publish(ring.r) == 0                   # nothing new: no wake
    ring.put(b"a")
    assert lib.sfu_ring_publish(ring.r) == 1                   # wake the sleeper
    ring.put(b"b")
    assert lib.sfu_ring_publish(ring.r) == 0                   # one wake per sleep
    assert lib.sfu_ring_prepare_sleep(ring.r) == 1             # data pending: do not sleep
    ring.put(b"c")
    assert lib.sfu_ring_publish(ring.r) == 0                   # flag was withdrawn
    for want in (b"a", b"b", b"c"):
        assert ring.get()[1][3] == want
    assert lib.sfu_ring_prepare_sleep(ring.r) == 0
    lib.sfu_ring_cancel_sleep(ring.r)
    ring.put(b"d")
    assert lib.sfu_ring_publish(ring.r) == 0                   # cancelled: no wake


def test_ring_reset_reader_drops_queue():
    ring = Ring(4)
    ring.put(b"old1")
    ring.put(b"old2")
    lib.sfu_ring_publish(ring.r)
    ring.put(b"unpublished")
    lib.sfu_ring_reset_reader(ring.r)
    assert lib.sfu_ring_pending(ring.r) == 0
    assert ring.get() == (0, None)
    lib.sfu_ring_publish(ring.r)
    assert ring.get()[1][3] == b"unpublished"              # written after the reset point
    assert ring.get() == (0, None)
    lib.sfu_ring_release(ring.r)
    assert ring.put(b"1") == ring.put(b"2") == ring.put(b"3") == ring.put(b"4") == 0  # all slots free


def test_ring_reset_reader_clears_sleep_flag():
    ring = Ring(4)
    assert lib.sfu_ring_prepare_sleep(ring.r) == 0
    lib.sfu_ring_reset_reader(ring.r)
    ring.put(b"a")
    assert lib.sfu_ring_publish(ring.r) == 0


def test_ring_resume_writer_forgets_unpublished():
    ring = Ring(4)
    ring.put(b"kept")
    lib.sfu_ring_publish(ring.r)
    ring.put(b"lost1")
    ring.put(b"lost2")
    lib.sfu_ring_resume_writer(ring.r)
    ring.put(b"new")
    lib.sfu_ring_publish(ring.r)
    assert [ring.get()[1][3] for _ in range(2)] == [b"kept", b"new"]
    assert ring.get() == (0, None)


@pytest.mark.parametrize("offset,xor,reason", [
    (0, 0x01, lib.SFU_DROP_RING_BAD_SLOT),        # position went backwards: never written
    (0, 0x04, lib.SFU_DROP_RING_LAPPED),          # position ahead: overwritten
    (8, 0x01, lib.SFU_DROP_RING_BAD_SLOT),        # kind
    (11, 0x01, lib.SFU_DROP_RING_BAD_SLOT),       # kind, high byte
    (12, 0x80, lib.SFU_DROP_RING_BAD_SLOT),       # producer id
    (16, 0x01, lib.SFU_DROP_RING_BAD_SLOT),       # timestamp
    (24, 0x01, lib.SFU_DROP_RING_BAD_SLOT),       # length
    (25, 0x40, lib.SFU_DROP_RING_BAD_SLOT),       # length beyond the slot
    (28, 0x01, lib.SFU_DROP_RING_BAD_SLOT),       # check word
    (32, 0x01, lib.SFU_DROP_RING_BAD_SLOT),       # first payload byte
    (32 + 99, 0x80, lib.SFU_DROP_RING_BAD_SLOT),  # last payload byte
], ids=["pos-back", "pos-ahead", "kind", "kind-high", "pid", "ts", "len", "len-huge", "check",
        "payload-first", "payload-last"])
def test_ring_corrupt_slot_is_rejected(offset, xor, reason):
    ring = Ring(4)
    ring.put(bytes(range(100)), pid=5)
    ring.put(b"next", pid=6)
    lib.sfu_ring_publish(ring.r)
    ring.mem[ring.slot_byte(0, offset)] ^= xor
    assert ring.get() == (-reason, None)
    assert ring.get() == (1, (lib.SFU_RING_RTP, 6, 123, b"next"))  # the next slot is intact


def test_ring_corruption_past_payload_is_harmless():
    ring = Ring(4)
    ring.put(b"abc")
    lib.sfu_ring_publish(ring.r)
    ring.mem[ring.slot_byte(0, 32 + 3)] ^= 0xFF
    assert ring.get() == (1, (lib.SFU_RING_RTP, 7, 123, b"abc"))
