"""Header extension id rewrite (csrc/rtc/header_ext_rewrite.c): the ids of an
outgoing copy become the subscriber's; what it did not negotiate becomes
padding (RFC 8285: zero bytes between elements), so the packet keeps its
size; what cannot be read is zeroed to the end of the block."""

from __future__ import annotations

import struct

import pytest

from sfu._units import ffi, lib

PAYLOAD = b"media payload"


def packet(profile: int, block: bytes) -> bytes:
    assert len(block) % 4 == 0
    return (struct.pack("!BBHII", 0x90, 111, 4242, 160000, 0x01020304)
            + struct.pack("!HH", profile, len(block) // 4) + block + PAYLOAD)


def parsed(pkt: bytes):
    """the packet in a C buffer and its sfu_rtp_parse() result"""
    buf = ffi.new("uint8_t[]", pkt)
    rtp = ffi.new("sfu_rtp_t *")
    assert lib.sfu_rtp_parse(buf, len(pkt), rtp) == 0
    return buf, rtp


def rewrite(pkt: bytes, mapping: dict[int, int]) -> bytes:
    buf, rtp = parsed(pkt)
    table = ffi.new("uint8_t[16]")
    for k, v in mapping.items():
        table[k] = v
    lib.sfu_header_ext_rewrite(buf, rtp, table)
    return bytes(ffi.buffer(buf, len(pkt)))


ONE_BYTE = 0xBEDE
TWO_BYTE = 0x1000

CASES = [
    # (name, profile, block before, {in id: out id}, block after)
    ("one-byte: mapped ids change, the length nibble stays", ONE_BYTE,
     bytes([0x10, 0xAA, 0x31, 0x01, 0x02, 0x40, 0x30, 0x00]), {1: 5, 3: 7, 4: 1},
     bytes([0x50, 0xAA, 0x71, 0x01, 0x02, 0x10, 0x30, 0x00])),
    ("one-byte: an id not negotiated becomes padding", ONE_BYTE,
     bytes([0x10, 0xAA, 0x31, 0x01, 0x02, 0x40, 0x30, 0x00]), {1: 5, 4: 1},
     bytes([0x50, 0xAA, 0x00, 0x00, 0x00, 0x10, 0x30, 0x00])),
    ("one-byte: padding between elements is skipped", ONE_BYTE,
     bytes([0x00, 0x00, 0x20, 0xBB]), {2: 9},
     bytes([0x00, 0x00, 0x90, 0xBB])),
    ("one-byte: 16-byte element", ONE_BYTE,
     bytes([0x2F]) + bytes(range(16)) + bytes(3), {2: 14},
     bytes([0xEF]) + bytes(range(16)) + bytes(3)),
    ("one-byte: id 15 stops parsing, the rest is zeroed", ONE_BYTE,
     bytes([0x10, 0xAA, 0xF0, 0x22, 0x20, 0xCC, 0x00, 0x00]), {1: 3, 2: 4},
     bytes([0x30, 0xAA, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00])),
    ("one-byte: an element running past the block is zeroed", ONE_BYTE,
     bytes([0x10, 0xAA, 0x23, 0x01]), {1: 2, 2: 3},
     bytes([0x20, 0xAA, 0x00, 0x00])),
    ("one-byte: nothing mapped, all padding", ONE_BYTE,
     bytes([0x10, 0xAA, 0x21, 0x01, 0x02, 0x00, 0x00, 0x00]), {},
     bytes(8)),
    ("two-byte: ids change, ids of 16 and above are removed", TWO_BYTE,
     bytes([1, 1, 0xAA, 200, 2, 1, 2, 4, 0, 0, 0, 0]), {1: 5, 4: 1},
     bytes([5, 1, 0xAA, 0, 0, 0, 0, 1, 0, 0, 0, 0])),
    ("two-byte: zero-length element", TWO_BYTE,
     bytes([3, 0, 0, 0]), {3: 12},
     bytes([12, 0, 0, 0])),
    ("two-byte: an element running past the block is zeroed", TWO_BYTE,
     bytes([1, 1, 0xAA, 2, 9, 0x55, 0x66, 0x77]), {1: 6, 2: 7},
     bytes([6, 1, 0xAA, 0, 0, 0, 0, 0])),
    ("two-byte: a header cut at the end is zeroed", TWO_BYTE,
     bytes([1, 1, 0xAA, 2]), {1: 6, 2: 7},
     bytes([6, 1, 0xAA, 0])),
    ("two-byte with app bits in the profile", 0x100F,
     bytes([2, 1, 0x42, 0]), {2: 3},
     bytes([3, 1, 0x42, 0])),
    ("unknown profile: nothing is understood", 0x1234,
     bytes([1, 2, 3, 4, 5, 6, 7, 8]), {1: 1},
     bytes(8)),
]


@pytest.mark.parametrize("name,profile,before,mapping,after", CASES, ids=[c[0] for c in CASES])
def test_rewrite(name, profile, before, mapping, after):
    pkt = packet(profile, before)
    out = rewrite(pkt, mapping)
    assert len(out) == len(pkt)
    assert out[:16] == pkt[:16]                 # RTP header and extension header untouched
    assert out[16:16 + len(after)] == after
    assert out[16 + len(after):] == PAYLOAD


def test_map_entries_0_and_15_are_never_used():
    """an element with id 15 is reserved and padding has no id: the map's
    ends cannot turn anything into them"""
    pkt = packet(ONE_BYTE, bytes([0x10, 0xAA, 0x00, 0x00]))
    assert rewrite(pkt, {0: 9, 1: 1, 15: 3}) == pkt


def test_rewritten_elements_are_found_under_the_new_id():
    out = rewrite(packet(ONE_BYTE, bytes([0x10, 0xAA, 0x31, 0x01, 0x02, 0x40, 0x30, 0x00])), {1: 5, 4: 1})
    buf, rtp = parsed(out)
    off = ffi.new("uint16_t *")
    assert lib.sfu_rtp_find_ext(buf, rtp, 5, off) == 1 and out[off[0]] == 0xAA
    assert lib.sfu_rtp_find_ext(buf, rtp, 1, off) == 1 and out[off[0]] == 0x30
    assert lib.sfu_rtp_find_ext(buf, rtp, 3, off) == -1
