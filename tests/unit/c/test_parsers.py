"""Table-driven tests of the C parsers and demultiplexer through the
extension (sfu._native): golden packets with their parsed fields, the exact
drop reason of every malformed variant, NACK expansion, RFC 7983 / RFC 5761
demultiplexing.
"""

from __future__ import annotations

import struct

import pytest

from sfu._native import ffi, lib

MTU = lib.SFU_MTU

# ----------------------------------------------------------------- helpers


def cbuf(data: bytes):
    """A C view of `data` (kept alive by the caller holding the result)."""
    return ffi.from_buffer("uint8_t[]", data)


def rtp_pkt(pt=111, seq=1000, ts=160000, ssrc=0x11223344, payload=b"", marker=False, csrcs=(),
            ext=None, pad=0, version=2) -> bytes:
    b0 = (version << 6) | (0x20 if pad else 0) | (0x10 if ext is not None else 0) | len(csrcs)
    out = struct.pack("!BBHII", b0, (0x80 if marker else 0) | pt, seq, ts, ssrc)
    out += b"".join(struct.pack("!I", c) for c in csrcs)
    if ext is not None:
        profile, body = ext
        out += struct.pack("!HH", profile, len(body) // 4) + body
    out += payload
    if pad:
        out += bytes(pad - 1) + bytes([pad])
    return out


def one_byte(elems) -> tuple[int, bytes]:
    body = b"".join(bytes([(i << 4) | (len(v) - 1)]) + v for i, v in elems)
    return 0xBEDE, body + bytes(-len(body) % 4)


def two_byte(elems, appbits=0) -> tuple[int, bytes]:
    body = b"".join(bytes([i, len(v)]) + v for i, v in elems)
    return 0x1000 | appbits, body + bytes(-len(body) % 4)


def rtp_parse(data: bytes):
    buf = cbuf(data)
    out = ffi.new("sfu_rtp_t *")
    rc = lib.sfu_rtp_parse(buf, len(data), out)
    return rc, out


def rtcp_pkt(pt, count, body: bytes, pad=0, version=2) -> bytes:
    if pad:
        body += bytes(pad - 1) + bytes([pad])
    return struct.pack("!BBH", (version << 6) | (0x20 if pad else 0) | count, pt, (len(body) + 4) // 4 - 1) + body


def report_block(ssrc: int) -> bytes:
    return struct.pack("!IIIIII", ssrc, 0x01000002, 0x00010203, 7, 0x11112222, 0x00004000)


def sr(ssrc, blocks=()) -> bytes:
    info = struct.pack("!IIIII", 0xE8A50000, 0x12345678, 160000, 1200, 96000)
    return rtcp_pkt(200, len(blocks), struct.pack("!I", ssrc) + info + b"".join(map(report_block, blocks)))


def rr(ssrc, blocks=()) -> bytes:
    return rtcp_pkt(201, len(blocks), struct.pack("!I", ssrc) + b"".join(map(report_block, blocks)))


def sdes(ssrc, cname: bytes) -> bytes:
    chunk = struct.pack("!I", ssrc) + bytes([1, len(cname)]) + cname + b"\x00"
    return rtcp_pkt(202, 1, chunk + bytes(-len(chunk) % 4))


def fb(pt, fmt, sender, media, fci=b"", pad=0) -> bytes:
    return rtcp_pkt(pt, fmt, struct.pack("!II", sender, media) + fci, pad)


def nack(pairs, sender=0x55667788, media=0x11223344, pad=0) -> bytes:
    return fb(205, 1, sender, media, b"".join(struct.pack("!HH", p, m) for p, m in pairs), pad)


def remb(sender, ssrcs) -> bytes:
    fci = b"REMB" + bytes([len(ssrcs), (3 << 2) | 0x01]) + struct.pack("!H", 0x2345)
    return fb(206, 15, sender, 0, fci + b"".join(struct.pack("!I", s) for s in ssrcs))


def rtcp_walk(data: bytes):
    """[(pt, count, len, sender_ssrc, media_ssrc, offset)], final rc."""
    buf = cbuf(data)
    off = ffi.new("size_t *", 0)
    pkt = ffi.new("sfu_rtcp_t *")
    out = []
    while True:
        rc = lib.sfu_rtcp_next(buf, len(data), off, pkt)
        if rc != 1:
            return out, rc
        out.append((pkt.pt, pkt.count, pkt.len, pkt.sender_ssrc, pkt.media_ssrc, pkt.offset))


def rtcp_validate(data: bytes) -> int:
    return lib.sfu_rtcp_validate(cbuf(data), len(data))


STUN_MAGIC = 0x2112A442
TXID = bytes(range(1, 13))


def stun_attr(t: int, v: bytes) -> bytes:
    return struct.pack("!HH", t, len(v)) + v + bytes(-len(v) % 4)


def stun_msg(msg_type=0x0001, attrs=(), length=None, magic=STUN_MAGIC) -> bytes:
    body = b"".join(stun_attr(t, v) for t, v in attrs)
    return struct.pack("!HHI", msg_type, len(body) if length is None else length, magic) + TXID + body


def stun_check(data: bytes):
    off = ffi.new("uint16_t *", 0xFFFF)
    ln = ffi.new("uint16_t *", 0xFFFF)
    rc = lib.sfu_stun_check(cbuf(data), len(data), off, ln)
    return rc, off[0], ln[0]


# ------------------------------------------------------------- RTP golden

OPUS = bytes(range(40))

RTP_GOLDEN = [
    # name, packet, expected fields
    ("plain", rtp_pkt(payload=OPUS),
     dict(marker=0, payload_type=111, seq=1000, ts=160000, ssrc=0x11223344, csrc_count=0,
          has_extension=0, ext_profile=0, ext_offset=0, ext_len=0, header_len=12, payload_len=40, pad_len=0)),
    ("marker, max fields", rtp_pkt(pt=127, seq=65535, ts=0xFFFFFFFF, ssrc=0xFFFFFFFF, marker=True, payload=b"x"),
     dict(marker=1, payload_type=127, seq=65535, ts=0xFFFFFFFF, ssrc=0xFFFFFFFF, header_len=12, payload_len=1)),
    ("header only", rtp_pkt(pt=0, seq=0, ts=0, ssrc=0),
     dict(payload_type=0, header_len=12, payload_len=0, pad_len=0)),
    ("csrc x3", rtp_pkt(csrcs=(1, 2, 3), payload=OPUS),
     dict(csrc_count=3, header_len=24, payload_len=40)),
    ("csrc x15", rtp_pkt(csrcs=tuple(range(15))),
     dict(csrc_count=15, header_len=72, payload_len=0)),
    ("one-byte ext", rtp_pkt(ext=one_byte([(1, b"\x85"), (3, b"\x01\x02\x03")]), payload=OPUS),
     dict(has_extension=1, ext_profile=0xBEDE, ext_offset=16, ext_len=8, header_len=24, payload_len=40)),
    ("two-byte ext + csrc", rtp_pkt(csrcs=(9,), ext=two_byte([(20, b"\x01\x02\x03\x04\x05")]), payload=OPUS),
     dict(csrc_count=1, has_extension=1, ext_profile=0x1000, ext_offset=20, ext_len=8, header_len=28,
          payload_len=40)),
    ("empty ext", rtp_pkt(ext=(0xBEDE, b""), payload=OPUS),
     dict(has_extension=1, ext_profile=0xBEDE, ext_offset=16, ext_len=0, header_len=16, payload_len=40)),
    ("padding", rtp_pkt(payload=OPUS, pad=4),
     dict(header_len=12, payload_len=40, pad_len=4)),
    ("padding is whole payload", rtp_pkt(pad=255),
     dict(header_len=12, payload_len=0, pad_len=255)),
    ("everything", rtp_pkt(pt=96, marker=True, csrcs=(1, 2), ext=one_byte([(2, b"ab")]), payload=OPUS, pad=3),
     dict(marker=1, payload_type=96, csrc_count=2, has_extension=1, ext_offset=24, ext_len=4, header_len=28,
          payload_len=40, pad_len=3)),
    ("exactly MTU", rtp_pkt(payload=bytes(MTU - 12)),
     dict(header_len=12, payload_len=MTU - 12)),
]


@pytest.mark.parametrize("name,pkt,fields", RTP_GOLDEN, ids=[g[0] for g in RTP_GOLDEN])
def test_rtp_golden(name, pkt, fields):
    rc, out = rtp_parse(pkt)
    assert rc == lib.SFU_DROP_NONE
    for k, v in fields.items():
        assert getattr(out, k) == v, k
    assert out.header_len + out.payload_len + out.pad_len == len(pkt)


# ---------------------------------------------------------- RTP malformed

_BASE = rtp_pkt(payload=OPUS)

RTP_MALFORMED = [
    ("empty", b"", lib.SFU_DROP_TOO_SHORT),
    ("1 byte", b"\x80", lib.SFU_DROP_TOO_SHORT),
    ("11 bytes", _BASE[:11], lib.SFU_DROP_TOO_SHORT),
    ("MTU + 1", rtp_pkt(payload=bytes(MTU - 11)), lib.SFU_DROP_TOO_LONG),
    ("version 0", rtp_pkt(version=0, payload=OPUS), lib.SFU_DROP_BAD_VERSION),
    ("version 1", rtp_pkt(version=1, payload=OPUS), lib.SFU_DROP_BAD_VERSION),
    ("version 3", rtp_pkt(version=3, payload=OPUS), lib.SFU_DROP_BAD_VERSION),
    ("csrc list past end", rtp_pkt(csrcs=(1, 2))[:19], lib.SFU_DROP_BAD_CSRC),
    ("cc=15 in 12 bytes", bytes([0x8F]) + _BASE[1:12], lib.SFU_DROP_BAD_CSRC),
    ("X bit, no ext header", bytes([0x90]) + _BASE[1:12], lib.SFU_DROP_BAD_EXTENSION),
    ("ext header cut", bytes([0x90]) + _BASE[1:12] + b"\xbe\xde\x00", lib.SFU_DROP_BAD_EXTENSION),
    ("ext length past end", bytes([0x90]) + _BASE[1:12] + b"\xbe\xde\x00\x02" + bytes(4), lib.SFU_DROP_BAD_EXTENSION),
    ("ext length 0xffff", bytes([0x90]) + _BASE[1:12] + b"\xbe\xde\xff\xff" + bytes(40), lib.SFU_DROP_BAD_EXTENSION),
    ("padding count 0", rtp_pkt(payload=OPUS, pad=4)[:-1] + b"\x00", lib.SFU_DROP_BAD_PADDING),
    ("padding longer than payload", rtp_pkt(payload=b"ab", pad=3)[:-1] + b"\x06", lib.SFU_DROP_BAD_PADDING),
    ("padding eats header", bytes([0xA0]) + _BASE[1:12] + b"\x0d", lib.SFU_DROP_BAD_PADDING),
    ("padding past ext", rtp_pkt(ext=one_byte([(1, b"a")]), pad=1)[:-1] + b"\x02", lib.SFU_DROP_BAD_PADDING),
]


@pytest.mark.parametrize("name,pkt,reason", RTP_MALFORMED, ids=[m[0] for m in RTP_MALFORMED])
def test_rtp_malformed(name, pkt, reason):
    rc, _ = rtp_parse(pkt)
    assert rc == reason, lib.sfu_drop_reason_name(rc)


def test_rtp_every_truncation_is_rejected_or_consistent():
    pkt = rtp_pkt(csrcs=(1,), ext=one_byte([(1, b"a"), (2, b"bc")]), payload=OPUS)
    for n in range(len(pkt)):
        rc, out = rtp_parse(pkt[:n])
        if n < 12:
            assert rc == lib.SFU_DROP_TOO_SHORT
        elif n < 16:
            assert rc == lib.SFU_DROP_BAD_CSRC
        elif n < 28:
            assert rc == lib.SFU_DROP_BAD_EXTENSION
        else:
            assert rc == lib.SFU_DROP_NONE and out.payload_len == n - 28


# ------------------------------------------------------ RTP header ext ids

EXT_PKT_ONE = rtp_pkt(ext=(0xBEDE, bytes([0x10, 0x85, 0x00, 0x22, 0xAA, 0xBB, 0xCC, 0x00, 0xE3, 1, 2, 3, 4, 0, 0, 0])),
                      payload=OPUS)
EXT_PKT_TWO = rtp_pkt(ext=two_byte([(1, b""), (20, b"\x01\x02\x03\x04\x05"), (255, b"\xaa\xbb")]), payload=OPUS)

EXT_CASES = [
    # packet, id, expected (len, offset) or None
    (EXT_PKT_ONE, 1, (1, 17)),
    (EXT_PKT_ONE, 2, (3, 20)),          # after a padding byte
    (EXT_PKT_ONE, 14, (4, 25)),
    (EXT_PKT_ONE, 3, None),
    (EXT_PKT_ONE, 0, None),             # 0 is padding, never an id
    (EXT_PKT_ONE, 15, None),            # reserved
    (EXT_PKT_ONE, 20, None),            # one-byte ids stop at 14
    (EXT_PKT_TWO, 1, (0, 18)),          # zero-length element
    (EXT_PKT_TWO, 20, (5, 20)),
    (EXT_PKT_TWO, 255, (2, 27)),
    (EXT_PKT_TWO, 2, None),
    (EXT_PKT_TWO, 256, None),
    (rtp_pkt(ext=(0xBEDE, bytes([0xF0, 0x11, 0x00, 0x00]))), 1, None),         # id 15 stops the walk
    (rtp_pkt(ext=(0xBEDE, bytes([0x13, 0x01, 0x02, 0x03]))), 1, None),         # element past the block
    (rtp_pkt(ext=(0x1000, bytes([0x05, 0x07, 0x01, 0x02]))), 5, None),         # element past the block
    (rtp_pkt(ext=(0x1000, bytes([0x00, 0x00, 0x00, 0x09]))), 9, None),         # length byte missing
    (rtp_pkt(ext=(0xABCD, bytes([0x10, 0x01, 0x00, 0x00]))), 1, None),         # unknown profile
    (rtp_pkt(payload=OPUS), 1, None),                                          # no extension
]


@pytest.mark.parametrize("pkt,ext_id,want", EXT_CASES)
def test_rtp_find_ext(pkt, ext_id, want):
    rc, out = rtp_parse(pkt)
    assert rc == lib.SFU_DROP_NONE
    off = ffi.new("uint16_t *", 0)
    n = lib.sfu_rtp_find_ext(cbuf(pkt), out, ext_id, off)
    if want is None:
        assert n == -1
    else:
        assert (n, off[0]) == want
        assert off[0] + n <= out.header_len


# ------------------------------------------------------------ RTCP golden

SSRC_A, SSRC_B = 0x11223344, 0x55667788

RTCP_GOLDEN = [
    ("SR", sr(SSRC_A, (SSRC_B,)), [(200, 1, 52, SSRC_A, 0, 0)]),
    ("SR no blocks", sr(SSRC_A), [(200, 0, 28, SSRC_A, 0, 0)]),
    ("RR", rr(SSRC_B, (SSRC_A, 7)), [(201, 2, 56, SSRC_B, 0, 0)]),
    ("RR empty", rr(SSRC_B), [(201, 0, 8, SSRC_B, 0, 0)]),
    ("SR+SDES", sr(SSRC_A, (SSRC_B,)) + sdes(SSRC_A, b"user@host"),
     [(200, 1, 52, SSRC_A, 0, 0), (202, 1, 20, SSRC_A, 0, 52)]),
    ("RR+SDES+BYE", rr(SSRC_B) + sdes(SSRC_B, b"x") + rtcp_pkt(203, 1, struct.pack("!I", SSRC_B)),
     [(201, 0, 8, SSRC_B, 0, 0), (202, 1, 12, SSRC_B, 0, 8), (203, 1, 8, SSRC_B, 0, 20)]),
    ("NACK", nack([(100, 0x0001)]), [(205, 1, 16, SSRC_B, SSRC_A, 0)]),
    ("PLI", fb(206, 1, SSRC_B, SSRC_A), [(206, 1, 12, SSRC_B, SSRC_A, 0)]),
    ("FIR", fb(206, 4, SSRC_B, 0, struct.pack("!IB3x", SSRC_A, 3)), [(206, 4, 20, SSRC_B, 0, 0)]),
    ("REMB", remb(SSRC_B, (SSRC_A, 9)), [(206, 15, 28, SSRC_B, 0, 0)]),
    ("RR+NACK+PLI", rr(SSRC_B) + nack([(1, 0)]) + fb(206, 1, SSRC_B, SSRC_A),
     [(201, 0, 8, SSRC_B, 0, 0), (205, 1, 16, SSRC_B, SSRC_A, 8), (206, 1, 12, SSRC_B, SSRC_A, 24)]),
    ("padded last packet", rr(SSRC_B) + rtcp_pkt(202, 1, struct.pack("!I", SSRC_B) + b"\x01\x01a\x00", pad=4),
     [(201, 0, 8, SSRC_B, 0, 0), (202, 1, 16, SSRC_B, 0, 8)]),
]


@pytest.mark.parametrize("name,pkt,walk", RTCP_GOLDEN, ids=[g[0] for g in RTCP_GOLDEN])
def test_rtcp_golden(name, pkt, walk):
    assert rtcp_validate(pkt) == lib.SFU_DROP_NONE
    got, rc = rtcp_walk(pkt)
    assert rc == 0
    assert got == walk


# --------------------------------------------------------- RTCP malformed

RTCP_MALFORMED = [
    ("empty", b""),
    ("4 bytes", rr(SSRC_B)[:4]),
    ("7 bytes", rr(SSRC_B)[:7]),
    ("version 1", rtcp_pkt(201, 0, struct.pack("!I", SSRC_B), version=1)),
    ("version 3 in 2nd packet", rr(SSRC_B) + rtcp_pkt(202, 0, b"", version=3) + bytes(4)),
    ("length past end", rr(SSRC_B)[:3] + b"\x05" + rr(SSRC_B)[4:]),
    ("trailing 2 bytes", rr(SSRC_B) + b"\x80\xc9"),
    ("trailing 4 bytes v0", rr(SSRC_B) + b"\x00\x00\x00\x00"),
    ("padding not on last packet", rtcp_pkt(201, 0, struct.pack("!I", SSRC_B), pad=4) + rr(SSRC_B)),
    ("padding count 0", rtcp_pkt(201, 0, struct.pack("!I", SSRC_B), pad=4)[:-1] + b"\x00"),
    ("padding count past packet", rtcp_pkt(201, 0, struct.pack("!I", SSRC_B), pad=4)[:-1] + b"\x0d"),
    ("SR too short for its count", sr(SSRC_A, (1,))[:1] + b"\xc8\x00\x07" + sr(SSRC_A, (1,))[4:32]),
    ("SR without sender info", rtcp_pkt(200, 0, struct.pack("!I", SSRC_A))),
    ("RR count 2, one block", rtcp_pkt(201, 2, struct.pack("!I", SSRC_B) + report_block(1))),
    ("RR block that is padding", rtcp_pkt(201, 1, struct.pack("!I", SSRC_B), pad=24)),
    ("RTPFB 8 bytes", rtcp_pkt(205, 1, struct.pack("!I", SSRC_B))),
    ("PSFB 8 bytes", rtcp_pkt(206, 1, struct.pack("!I", SSRC_B))),
    ("PSFB media SSRC is padding", rtcp_pkt(206, 1, struct.pack("!I", SSRC_B), pad=4)),
]


@pytest.mark.parametrize("name,pkt", RTCP_MALFORMED, ids=[m[0] for m in RTCP_MALFORMED])
def test_rtcp_malformed(name, pkt):
    assert rtcp_validate(pkt) == lib.SFU_DROP_BAD_RTCP


def test_rtcp_too_long():
    pkt = rtcp_pkt(204, 0, struct.pack("!I", 1) + b"name" + bytes(MTU - 8 + 4))
    assert len(pkt) > MTU
    assert rtcp_validate(pkt) == lib.SFU_DROP_TOO_LONG


def test_rtcp_walk_stops_at_first_bad_packet():
    pkt = rr(SSRC_B) + sdes(SSRC_B, b"ok") + b"\x80\xc9\x00\x09"
    got, rc = rtcp_walk(pkt)
    assert [g[0] for g in got] == [201, 202]
    assert rc == -lib.SFU_DROP_BAD_RTCP


# ------------------------------------------------------------------- NACK

NACK_CASES = [
    ("pid only", [(1000, 0x0000)], [1000]),
    ("bit 0", [(1000, 0x0001)], [1000, 1001]),
    ("bit 15", [(1000, 0x8000)], [1000, 1016]),
    ("bits 0,2,15", [(1000, 0x8005)], [1000, 1001, 1003, 1016]),
    ("all bits", [(10, 0xFFFF)], list(range(10, 27))),
    ("wrap in mask", [(65535, 0x0003)], [65535, 0, 1]),
    ("wrap at end of mask", [(65530, 0xFFFF)], [(65530 + i) % 65536 for i in range(17)]),
    ("pid 65535 alone", [(65535, 0)], [65535]),
    ("two pairs", [(5, 0x0001), (40, 0x0002)], [5, 6, 40, 42]),
    ("no FCI", [], []),
]


def nth_rtcp(data: bytes, index: int = 0):
    """(buffer, sfu_rtcp_t) of the index-th packet of a compound, walked with sfu_rtcp_next"""
    buf = cbuf(data)
    off = ffi.new("size_t *", 0)
    pkt = ffi.new("sfu_rtcp_t *")
    for _ in range(index + 1):
        assert lib.sfu_rtcp_next(buf, len(data), off, pkt) == 1
    return buf, pkt


def nack_seqs(data: bytes, cap: int = 1024, index: int = 0):
    buf, pkt = nth_rtcp(data, index)
    seqs = ffi.new("uint16_t[]", max(cap, 1))
    n = lib.sfu_rtcp_nack_seqs(buf, pkt, seqs, cap)
    return n, [seqs[i] for i in range(max(n, 0))]


@pytest.mark.parametrize("name,pairs,want", NACK_CASES, ids=[c[0] for c in NACK_CASES])
def test_nack_expansion(name, pairs, want):
    pkt = nack(pairs)
    assert rtcp_validate(pkt) == lib.SFU_DROP_NONE
    n, seqs = nack_seqs(pkt)
    assert n == len(want)
    assert seqs == want


def test_nack_cap_truncates_in_order():
    pkt = nack([(100, 0xFFFF), (200, 0x0001)])
    full = list(range(100, 117)) + [200, 201]
    for cap in (0, 1, 5, 17, 18, 19, 50):
        n, seqs = nack_seqs(pkt, cap)
        assert n == min(cap, len(full))
        assert seqs == full[:n]


def test_nack_padding_is_not_fci():
    pkt = nack([(300, 0x0001)], pad=4)
    assert rtcp_validate(pkt) == lib.SFU_DROP_NONE
    assert nack_seqs(pkt) == (2, [300, 301])


def test_nack_padding_leaving_partial_pair_is_bad():
    pkt = bytearray(nack([(7, 0x0101), (9, 0)]))
    pkt[0] |= 0x20
    pkt[-1] = 2                            # 2 padding bytes: 6 bytes of FCI
    assert nack_seqs(bytes(pkt))[0] == -lib.SFU_DROP_BAD_RTCP


@pytest.mark.parametrize("pkt", [
    fb(206, 1, SSRC_B, SSRC_A),                                # PLI
    fb(205, 15, SSRC_B, SSRC_A, bytes(8)),                     # transport-cc, not NACK
    fb(205, 3, SSRC_B, SSRC_A, bytes(4)),                      # TMMBR
    rr(SSRC_B, (1,)),                                          # count 1 but RR
], ids=["PLI", "RTPFB fmt 15", "RTPFB fmt 3", "RR"])
def test_nack_rejects_other_packets(pkt):
    assert nack_seqs(pkt)[0] == -lib.SFU_DROP_BAD_RTCP


def test_nack_inside_compound():
    pkt = rr(SSRC_B) + sdes(SSRC_B, b"c") + nack([(65534, 0x0006)])
    assert rtcp_validate(pkt) == lib.SFU_DROP_NONE
    assert nack_seqs(pkt, index=2) == (3, [65534, 0, 1])


def remb_bps(data: bytes, index: int = 0):
    """(rc, bps) of sfu_rtcp_remb_bps on the index-th packet of a compound"""
    buf, pkt = nth_rtcp(data, index)
    bps = ffi.new("uint64_t *")
    rc = lib.sfu_rtcp_remb_bps(buf, pkt, bps)
    return rc, bps[0]


def remb_with(exp: int, mantissa: int, ssrcs=(SSRC_A,), pad=0) -> bytes:
    fci = b"REMB" + bytes([len(ssrcs), (exp << 2) | (mantissa >> 16)]) + struct.pack("!H", mantissa & 0xFFFF)
    return fb(206, 15, SSRC_B, 0, fci + b"".join(struct.pack("!I", x) for x in ssrcs), pad)


@pytest.mark.parametrize("exp,mantissa", [(0, 0), (0, 262143), (3, 187500), (20, 1), (45, 262143)])
def test_remb_bitrate(exp, mantissa):
    assert remb_bps(remb_with(exp, mantissa)) == (1, mantissa << exp)


def test_remb_saturates_and_checks_its_ssrc_list():
    assert remb_bps(remb_with(63, 1)) == (1, 2**64 - 1)
    assert remb_bps(rr(SSRC_B) + remb_with(2, 1000, ssrcs=(1, 2, 3)), index=1) == (1, 4000)
    short = bytearray(remb_with(2, 1000, ssrcs=(1,)))
    short[16] = 2                                 # claims two SSRCs, holds one
    assert remb_bps(bytes(short))[0] == -lib.SFU_DROP_BAD_RTCP
    padded = bytearray(remb_with(2, 1000, ssrcs=(1,), pad=4))
    padded[16] = 2                                # the second "SSRC" is padding
    assert remb_bps(bytes(padded))[0] == -lib.SFU_DROP_BAD_RTCP


@pytest.mark.parametrize("pkt", [fb(206, 1, SSRC_B, SSRC_A), fb(206, 15, SSRC_B, 0, b"ABCD" + bytes(4)),
                                 fb(205, 15, SSRC_B, SSRC_A, bytes(8))], ids=["PLI", "AFB not REMB", "TWCC"])
def test_remb_other_packets(pkt):
    assert remb_bps(pkt)[0] == 0


# ------------------------------------------------------------------- STUN

USERNAME = b"remoteufrag:localufrag"
STUN_REQ = stun_msg(0x0001, [
    (0x0006, USERNAME),
    (0x0024, struct.pack("!I", 0x6E7F1EFF)),
    (0x802A, struct.pack("!Q", 1)),
    (0x0025, b""),
    (0x0008, bytes(20)),
    (0x8028, struct.pack("!I", 0)),
])


def test_stun_binding_request():
    rc, off, ln = stun_check(STUN_REQ)
    assert rc == lib.SFU_DROP_NONE
    assert (off, ln) == (24, len(USERNAME))
    assert STUN_REQ[off:off + ln] == USERNAME


STUN_GOLDEN = [
    ("header only", stun_msg(0x0011), (0, 0)),
    ("no username", stun_msg(0x0101, [(0x0020, bytes(8))]), (0, 0)),
    ("username later", stun_msg(0x0001, [(0x0024, bytes(4)), (0x0006, b"a:b")]), (32, 3)),
    ("first username wins", stun_msg(0x0001, [(0x0006, b"first"), (0x0006, b"second")]), (24, 5)),
    ("unaligned username", stun_msg(0x0001, [(0x0006, b"abcde"), (0x0025, b"")]), (24, 5)),
]


@pytest.mark.parametrize("name,pkt,user", STUN_GOLDEN, ids=[g[0] for g in STUN_GOLDEN])
def test_stun_golden(name, pkt, user):
    rc, off, ln = stun_check(pkt)
    assert rc == lib.SFU_DROP_NONE
    assert (off, ln) == user


STUN_MALFORMED = [
    ("empty", b"", lib.SFU_DROP_BAD_STUN),
    ("19 bytes", STUN_REQ[:19], lib.SFU_DROP_BAD_STUN),
    ("top bits set", bytes([0x40]) + STUN_REQ[1:], lib.SFU_DROP_BAD_STUN),
    ("bad magic", stun_msg(magic=0x2112A443), lib.SFU_DROP_BAD_STUN),
    ("length larger than datagram", stun_msg(length=8), lib.SFU_DROP_BAD_STUN),
    ("length smaller than datagram", STUN_REQ[:2] + struct.pack("!H", len(STUN_REQ) - 24) + STUN_REQ[4:],
     lib.SFU_DROP_BAD_STUN),
    ("length not multiple of 4", stun_msg(length=2) + b"\x00\x06", lib.SFU_DROP_BAD_STUN),
    ("attribute past end", stun_msg(length=8) + b"\x00\x06\x00\x08abcd", lib.SFU_DROP_BAD_STUN),
    ("attribute padding past end", stun_msg(length=8) + b"\x00\x06\x00\x05abcd", lib.SFU_DROP_BAD_STUN),
    ("truncated datagram", STUN_REQ[:-4], lib.SFU_DROP_BAD_STUN),
    ("MTU + 4", stun_msg(0x0001, [(0x0006, bytes(MTU - 20))]), lib.SFU_DROP_TOO_LONG),
]


@pytest.mark.parametrize("name,pkt,reason", STUN_MALFORMED, ids=[m[0] for m in STUN_MALFORMED])
def test_stun_malformed(name, pkt, reason):
    rc, _, _ = stun_check(pkt)
    assert rc == reason


# ------------------------------------------------------------------ demux


def expected_class(b0: int, b1: int, n: int) -> int:
    """RFC 7983 section 7 (with RFC 5761 section 4 for RTP vs RTCP)."""
    if 0 <= b0 <= 3:
        return lib.SFU_PKT_STUN if n >= 20 else lib.SFU_PKT_UNKNOWN
    if 20 <= b0 <= 63:
        return lib.SFU_PKT_DTLS if n >= 13 else lib.SFU_PKT_UNKNOWN
    if 128 <= b0 <= 191:
        if 192 <= b1 <= 223:
            return lib.SFU_PKT_RTCP if n >= 8 else lib.SFU_PKT_UNKNOWN
        return lib.SFU_PKT_RTP if n >= 12 else lib.SFU_PKT_UNKNOWN
    return lib.SFU_PKT_UNKNOWN        # 4..19 (ZRTP etc.), 64..127 (TURN channels, QUIC), 192..255


def demux(data: bytes) -> int:
    return lib.sfu_demux(cbuf(data), len(data))


@pytest.mark.parametrize("b0", range(256))
def test_demux_first_byte(b0):
    for b1 in (0, 96, 127, 191, 192, 200, 223, 224, 255):
        pkt = bytes([b0, b1]) + bytes(98)
        assert demux(pkt) == expected_class(b0, b1, len(pkt)), (b0, b1)


DEMUX_BOUNDARIES = [
    ("empty", b"", lib.SFU_PKT_UNKNOWN),
    ("STUN 19", bytes(19), lib.SFU_PKT_UNKNOWN),
    ("STUN 20", bytes(20), lib.SFU_PKT_STUN),
    ("STUN type 0x03", b"\x03" + bytes(19), lib.SFU_PKT_STUN),
    ("4 is not STUN", b"\x04" + bytes(19), lib.SFU_PKT_UNKNOWN),
    ("19 is not DTLS", b"\x13" + bytes(19), lib.SFU_PKT_UNKNOWN),
    ("DTLS 12", b"\x16" + bytes(11), lib.SFU_PKT_UNKNOWN),
    ("DTLS 13", b"\x16" + bytes(12), lib.SFU_PKT_DTLS),
    ("DTLS 63", b"\x3f" + bytes(12), lib.SFU_PKT_DTLS),
    ("64 is not DTLS", b"\x40" + bytes(12), lib.SFU_PKT_UNKNOWN),
    ("127", b"\x7f" + bytes(20), lib.SFU_PKT_UNKNOWN),
    ("RTP byte 1 only", b"\x80", lib.SFU_PKT_UNKNOWN),
    ("RTP 11", b"\x80\x60" + bytes(9), lib.SFU_PKT_UNKNOWN),
    ("RTP 12", b"\x80\x60" + bytes(10), lib.SFU_PKT_RTP),
    ("RTP PT 63 with marker (191)", b"\x80\xbf" + bytes(10), lib.SFU_PKT_RTP),
    ("RTCP 7", b"\x80\xc8" + bytes(5), lib.SFU_PKT_UNKNOWN),
    ("RTCP 8", b"\x80\xc8" + bytes(6), lib.SFU_PKT_RTCP),
    ("RTCP 192", b"\x80\xc0" + bytes(6), lib.SFU_PKT_RTCP),
    ("RTCP 223", b"\x80\xdf" + bytes(6), lib.SFU_PKT_RTCP),
    ("RTP PT 96 with marker (224)", b"\x80\xe0" + bytes(10), lib.SFU_PKT_RTP),
    ("191 first byte", b"\xbf\x60" + bytes(10), lib.SFU_PKT_RTP),
    ("192 first byte", b"\xc0\x60" + bytes(10), lib.SFU_PKT_UNKNOWN),
    ("real STUN", STUN_REQ, lib.SFU_PKT_STUN),
    ("real RTP", rtp_pkt(payload=OPUS), lib.SFU_PKT_RTP),
    ("real RTCP", sr(SSRC_A), lib.SFU_PKT_RTCP),
]


@pytest.mark.parametrize("name,pkt,cls", DEMUX_BOUNDARIES, ids=[d[0] for d in DEMUX_BOUNDARIES])
def test_demux_boundaries(name, pkt, cls):
    assert demux(pkt) == cls


@pytest.mark.parametrize("username, expected", [
    (b"ours:theirs", 4), (b"a:b", 1), (b"x" * 64 + b":y", 64),
    (b"nocolon", -1), (b":theirs", -1), (b"ours:", -1), (b"", -1), (b":", -1),
    (b"ours:the:irs", 4),            # the first colon splits (ufrags have none)
])
def test_the_recipients_part_of_a_stun_username(username, expected):
    assert lib.sfu_stun_local_ufrag_len(cbuf(username), len(username)) == expected


def report_ssrcs(data: bytes, index: int = 0, cap: int = 31):
    """(n, ssrcs) of sfu_rtcp_report_ssrcs on the index-th packet of a compound"""
    buf, pkt = nth_rtcp(data, index)
    out = ffi.new("uint32_t[]", cap)
    n = lib.sfu_rtcp_report_ssrcs(buf, pkt, out, cap)
    return n, [out[i] for i in range(max(n, 0))]


# the report blocks' source SSRCs (which streams a subscriber knows: padding may follow on them)
REPORT_CASES = [
    ("rr with two blocks", rr(SSRC_B, [SSRC_A, 0x01020304]), 0, 31, (2, [SSRC_A, 0x01020304])),
    ("sr with one block", sr(SSRC_B, [SSRC_A]), 0, 31, (1, [SSRC_A])),
    ("rr without blocks", rr(SSRC_B), 0, 31, (0, [])),
    ("not a report", nack([(5, 0)]), 0, 31, (0, [])),
    ("at most cap", rr(SSRC_B, [1, 2, 3]), 0, 2, (2, [1, 2])),
    ("second of a compound", sr(SSRC_B) + rr(SSRC_B, [7]), 1, 31, (1, [7])),
]


@pytest.mark.parametrize("name,data,index,cap,want", REPORT_CASES, ids=[c[0] for c in REPORT_CASES])
def test_report_block_ssrcs(name, data, index, cap, want):
    assert rtcp_validate(data) == lib.SFU_DROP_NONE
    assert report_ssrcs(data, index, cap) == want
