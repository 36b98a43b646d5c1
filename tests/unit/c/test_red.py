"""RED payloads (csrc/rtp/red.c, RFC 2198): what the audio consumer builds from an Opus
packet and the two before it, read back by the parser, and the limits of the header fields."""

from __future__ import annotations

import struct

import pytest

from sfu._units import ffi, lib

OPUS = 111


def blocks(*specs: tuple[bytes, int]):
    """earlier blocks: (data, ts offset), oldest first; the cdata keeps the bytes alive"""
    arr = ffi.new("sfu_red_block_t[]", max(len(specs), 1))
    keep = []
    for i, (data, off) in enumerate(specs):
        buf = ffi.new("uint8_t[]", data or b"\0")
        keep.append(buf)
        arr[i].data, arr[i].len, arr[i].ts_offset, arr[i].payload_type = buf, len(data), off, OPUS
    return arr, keep


def build(primary: bytes, *earlier: tuple[bytes, int], cap: int = 1200, pt: int = OPUS) -> bytes:
    arr, _keep = blocks(*earlier)
    out = ffi.new("uint8_t[]", cap)
    n = lib.sfu_red_build(out, cap, pt, arr, len(earlier), primary, len(primary))
    return bytes(ffi.buffer(out, n))


def parse(payload: bytes) -> list[tuple[int, int, bytes]] | None:
    arr = ffi.new("sfu_red_block_t[]", lib.SFU_RED_PARSE_MAX)
    n = lib.sfu_red_parse(payload, len(payload), arr, lib.SFU_RED_PARSE_MAX)
    if n < 0:
        return None
    return [(arr[i].payload_type, arr[i].ts_offset, bytes(ffi.buffer(arr[i].data, arr[i].len))) for i in range(n)]


def test_two_earlier_blocks_and_the_primary_on_the_wire():
    p = build(b"C" * 30, (b"A" * 10, 1920), (b"B" * 20, 960))
    # F=1 | PT 111 | offset 1920 | length 10, then offset 960 | length 20, then F=0 | PT 111
    assert p[:4] == struct.pack("!I", 0x80000000 | OPUS << 24 | 1920 << 10 | 10)
    assert p[4:8] == struct.pack("!I", 0x80000000 | OPUS << 24 | 960 << 10 | 20)
    assert p[8] == OPUS and p[9:] == b"A" * 10 + b"B" * 20 + b"C" * 30
    assert parse(p) == [(OPUS, 1920, b"A" * 10), (OPUS, 960, b"B" * 20), (OPUS, 0, b"C" * 30)]


def test_primary_alone():
    p = build(b"xyz")
    assert p == bytes([OPUS]) + b"xyz" and parse(p) == [(OPUS, 0, b"xyz")]


@pytest.mark.parametrize("name,primary,earlier,cap", [
    ("a block too long for 10 bits", b"p", [(b"x" * 1024, 960)], 1500),
    ("a block too old for 14 bits", b"p", [(b"x", 16384)], 1500),
    ("more blocks than SFU_RED_MAX_BLOCKS", b"p", [(b"a", 3), (b"b", 2), (b"c", 1)], 1500),
    ("does not fit the buffer", b"p" * 50, [(b"x" * 50, 960)], 104),
])
def test_what_cannot_be_built_is_refused(name, primary, earlier, cap):
    assert build(primary, *earlier, cap=cap) == b""


def test_the_largest_fields_still_fit():
    p = build(b"p", (b"x" * 1023, 16383))
    assert parse(p) == [(OPUS, 16383, b"x" * 1023), (OPUS, 0, b"p")]
    assert len(build(b"p" * 50, (b"x" * 50, 960), cap=105)) == 105


@pytest.mark.parametrize("name,payload", [
    ("empty", b""),
    ("a block header cut short", bytes([0x80 | OPUS, 0, 0])),
    ("no primary header after the blocks", struct.pack("!I", 0x80000000 | OPUS << 24 | 960 << 10 | 0)),
    ("a block longer than what follows", struct.pack("!I", 0x80000000 | OPUS << 24 | 960 << 10 | 10)
     + bytes([OPUS]) + b"short"),
    ("more headers than the parser takes", struct.pack("!I", 0x80000000 | OPUS << 24) * 16 + bytes([OPUS])),
])
def test_malformed_payloads_are_refused(name, payload):
    assert parse(payload) is None


def test_the_parser_writes_no_more_than_its_capacity():
    p = build(b"C", (b"A", 2), (b"B", 1))
    arr = ffi.new("sfu_red_block_t[]", 1)
    assert lib.sfu_red_parse(p, len(p), arr, 1) == 3 and arr[0].len == 1 and arr[0].ts_offset == 2


# -- a publisher's RED packet unwrapped to its primary (sfu_red_unwrap) ------------------------

def rtp_of(payload: bytes, seq: int = 100, ts: int = 96_000, pt: int = 63, ext: bytes = b"", pad: int = 0) -> bytes:
    b0 = 0x80 | (0x10 if ext else 0) | (0x20 if pad else 0)
    hdr = struct.pack("!BBHII", b0, 0x80 | pt, seq, ts, 0x1234)
    if ext:
        hdr += struct.pack("!HH", 0xBEDE, len(ext) // 4) + ext
    return hdr + payload + (bytes(pad - 1) + bytes([pad]) if pad else b"")


def unwrap(pkt: bytes, opus_pt: int = OPUS):
    buf = ffi.new("uint8_t[]", pkt)
    length = ffi.new("uint32_t *", len(pkt))
    red = ffi.new("sfu_rtp_t *")
    assert lib.sfu_rtp_parse(buf, len(pkt), red) == 0
    out = ffi.new("sfu_rtp_t *")
    blocks = ffi.new("uint8_t[2][1023]")
    lens, seqs, ts = ffi.new("uint16_t[2]"), ffi.new("uint16_t[2]"), ffi.new("uint32_t[2]")
    n = ffi.new("uint32_t *")
    rc = lib.sfu_red_unwrap(buf, length, red, opus_pt, out, blocks, lens, seqs, ts, 2, n)
    earlier = [(seqs[i], ts[i], bytes(ffi.buffer(blocks[i], lens[i]))) for i in range(n[0])]
    return rc, bytes(ffi.buffer(buf, length[0])), out, earlier


def test_unwrap_gives_the_primary_as_plain_opus_and_the_earlier_blocks_with_their_numbers():
    ext = bytes([0x10, 0x7F, 0, 0])                           # audio level, padded to a word
    payload = build(b"C" * 30, (b"A" * 10, 1920), (b"B" * 20, 960))
    rc, pkt, out, earlier = unwrap(rtp_of(payload, seq=100, ts=96_000, ext=ext, pad=4))
    assert rc == lib.SFU_DROP_NONE
    assert out.payload_type == OPUS and out.seq == 100 and out.ts == 96_000 and out.pad_len == 0
    assert pkt[12:12 + 8] == struct.pack("!HH", 0xBEDE, 1) + ext            # the extensions kept
    assert pkt[out.header_len:] == b"C" * 30 and not pkt[0] & 0x20
    assert earlier == [(98, 96_000 - 1920, b"A" * 10), (99, 96_000 - 960, b"B" * 20)]


def test_unwrap_of_a_primary_alone_and_of_a_sequence_wrap():
    rc, pkt, out, earlier = unwrap(rtp_of(build(b"xyz", (b"old", 960)), seq=0))
    assert rc == 0 and earlier == [(65535, 96_000 - 960, b"old")] and pkt[out.header_len:] == b"xyz"
    rc, pkt, out, earlier = unwrap(rtp_of(build(b"only")))
    assert rc == 0 and earlier == [] and pkt[out.header_len:] == b"only"


def test_a_malformed_red_payload_is_dropped_and_left_alone():
    bad = rtp_of(struct.pack("!I", 0x80000000 | OPUS << 24 | 960 << 10 | 50) + bytes([OPUS]) + b"short")
    rc, pkt, _, earlier = unwrap(bad)
    assert rc == lib.SFU_DROP_BAD_RED and pkt == bad and earlier == []


def test_a_padding_only_red_packet_keeps_its_padding_on_the_opus_payload_type():
    # libwebrtc probes with padding-only packets on its audio SSRC, on the payload type it sends
    rc, pkt, out, earlier = unwrap(rtp_of(b"", pad=200))
    assert rc == lib.SFU_DROP_NONE and earlier == [] and out.payload_type == OPUS
    assert out.payload_len == 0 and out.pad_len == 200 and len(pkt) == 12 + 200
