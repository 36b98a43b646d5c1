"""The transport-wide sequence number written into outgoing packets
(csrc/rtp/tcc_seq_stamp.c): over an element with the id, into padding
(what header_ext_rewrite leaves of a removed element), by growing the block
a word or adding one; payload and other elements intact, never past cap."""

from __future__ import annotations

import struct

import pytest

from sfu._units import ffi, lib

from .test_header_ext_rewrite import ONE_BYTE, PAYLOAD, TWO_BYTE, packet, rewrite

ID = 3
SEQ = 0xA1B2


def plain(csrcs: int = 0, pad: int = 0) -> bytes:
    b0 = 0x80 | csrcs | (0x20 if pad else 0)
    body = PAYLOAD + (bytes(pad - 1) + bytes([pad]) if pad else b"")
    return struct.pack("!BBHII", b0, 96, 7, 9000, 0x0A0B0C0D) + bytes(4 * csrcs) + body


def stamp(pkt: bytes, cap: int | None = None, eid: int = ID, seq: int = SEQ) -> bytes | None:
    cap = len(pkt) + 64 if cap is None else cap
    buf = ffi.new("uint8_t[]", max(cap, len(pkt)))
    buf[0:len(pkt)] = pkt
    rtp = ffi.new("sfu_rtp_t *")
    assert lib.sfu_rtp_parse(buf, len(pkt), rtp) == 0
    n = lib.sfu_tcc_seq_stamp(buf, len(pkt), cap, rtp, eid, seq)
    return bytes(ffi.buffer(buf, n)) if n else None


def read(pkt: bytes, eid: int) -> tuple[bytes | None, bytes]:
    """(value of element eid, payload) as the parser sees them"""
    buf = ffi.new("uint8_t[]", pkt)
    rtp = ffi.new("sfu_rtp_t *")
    assert lib.sfu_rtp_parse(buf, len(pkt), rtp) == 0
    off = ffi.new("uint16_t *")
    n = lib.sfu_rtp_find_ext(buf, rtp, eid, off)
    value = pkt[off[0]:off[0] + n] if n >= 0 else None
    return value, pkt[rtp.header_len:rtp.header_len + rtp.payload_len]


SEQ_BYTES = struct.pack("!H", SEQ)

SAME_SIZE = [
    ("one-byte: our element is overwritten", ONE_BYTE, bytes([0x10, 0xAA, 0x31, 0x00, 0x05, 0x00, 0x00, 0x00])),
    ("one-byte: a removed element's padding is used", ONE_BYTE, bytes([0x10, 0xAA, 0x00, 0x00, 0x00, 0x20, 0xBB, 0x00])),
    ("one-byte: the block's trailing padding is used", ONE_BYTE, bytes([0x10, 0xAA, 0x20, 0xBB, 0x00, 0x00, 0x00, 0x00])),
    ("one-byte: our id with another length is replaced", ONE_BYTE, bytes([0x30, 0xAA, 0x00, 0x00, 0x10, 0xCC, 0x00, 0x00])),
    ("two-byte: our element is overwritten", TWO_BYTE, bytes([0x01, 0x01, 0xAA, 0x03, 0x02, 0x00, 0x00, 0x00])),
    ("two-byte: padding is used", TWO_BYTE, bytes([0x01, 0x01, 0xAA, 0x00, 0x00, 0x00, 0x00, 0x00])),
]


@pytest.mark.parametrize("name,profile,block", SAME_SIZE, ids=[c[0] for c in SAME_SIZE])
def test_written_without_changing_the_size(name, profile, block):
    before = packet(profile, block)
    after = stamp(before)
    assert after is not None and len(after) == len(before)
    value, payload = read(after, ID)
    assert value == SEQ_BYTES and payload == PAYLOAD
    other = 1
    assert read(after, other)[0] == read(before, other)[0]


def test_the_publishers_number_removed_by_the_rewrite_makes_room():
    """the consumer's path: publisher's transport-wide id 5 removed (map 0), then stamped as 3"""
    pub = packet(ONE_BYTE, bytes([0x10, 0xAA, 0x51, 0x12, 0x34, 0x00, 0x00, 0x00]))
    rewritten = rewrite(pub, {1: 1})
    assert read(rewritten, 5)[0] is None
    out = stamp(rewritten)
    assert len(out) == len(pub) and read(out, ID)[0] == SEQ_BYTES and read(out, 1)[0] == b"\xaa"


@pytest.mark.parametrize("csrcs,pad", [(0, 0), (2, 0), (0, 4), (15, 3)])
def test_a_block_is_added_when_there_is_none(csrcs, pad):
    before = plain(csrcs, pad)
    after = stamp(before)
    assert len(after) == len(before) + 8
    value, payload = read(after, ID)
    assert value == SEQ_BYTES and payload == PAYLOAD
    assert after[12:12 + 4 * csrcs] == before[12:12 + 4 * csrcs]


@pytest.mark.parametrize("profile,block", [
    (ONE_BYTE, bytes([0x11, 0xAA, 0xBB, 0x20, 0xCC, 0x40, 0xDD, 0x00])),   # one zero byte: no room
    (TWO_BYTE, bytes([0x01, 0x02, 0xAA, 0xBB])),
])
def test_a_full_block_grows_by_a_word(profile, block):
    before = packet(profile, block)
    after = stamp(before)
    assert len(after) == len(before) + 4
    assert read(after, ID)[0] == SEQ_BYTES and read(after, 1)[0] == read(before, 1)[0]
    assert read(after, ID)[1] == PAYLOAD


def test_never_past_cap():
    before = plain()
    assert stamp(before, cap=len(before) + 7) is None
    assert len(stamp(before, cap=len(before) + 8)) == len(before) + 8
    full = packet(ONE_BYTE, bytes([0x11, 0xAA, 0xBB, 0x20, 0xCC, 0x40, 0xDD, 0x00]))
    assert stamp(full, cap=len(full) + 3) is None


@pytest.mark.parametrize("pkt", [
    packet(0xABCD, bytes(4)),                                   # not RFC 8285
    packet(ONE_BYTE, bytes([0xF0, 0x00, 0x00, 0x00])),          # id 15 first: nothing readable
    packet(ONE_BYTE, bytes([0x13, 0x00, 0x00, 0x00])),          # element past the block
])
def test_unwritable(pkt):
    assert stamp(pkt) is None


def test_bad_ids():
    assert stamp(plain(), eid=0) is None and stamp(plain(), eid=15) is None
