#!/usr/bin/env python3
"""Write the hand-made seed inputs of the data-plane fuzzers.

    python3 csrc/fuzz/make_seeds.py

Writes csrc/fuzz/corpus/<target>/seed-<name> for every target (rtp, rtcp,
stun, demux, ring, loadtest, header_ext_rewrite, keyframe, tcc, tcc_feedback, tcc_seq_stamp, rtcp_build, rtx, red, nack_generator, rtp_padding, tcp_framing).  Output is deterministic, so the committed seeds can be
regenerated and diffed.  Stale seed-* files are removed; crash-* reproducers
(and anything else) in the corpus directories are never touched.

Standard library only.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import struct
import sys
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")

# ---------------------------------------------------------------- RTP ---


def rtp(
    pt: int = 111,
    seq: int = 1000,
    ts: int = 160000,
    ssrc: int = 0x11223344,
    payload: bytes = b"",
    marker: bool = False,
    csrcs: tuple[int, ...] = (),
    ext: tuple[int, bytes] | None = None,
    pad: int = 0,
) -> bytes:
    """RTP packet; ext = (profile, body) with body a multiple of 4 bytes."""
    b0 = 0x80 | (0x20 if pad else 0) | (0x10 if ext else 0) | len(csrcs)
    out = struct.pack("!BBHII", b0, (0x80 if marker else 0) | pt, seq, ts, ssrc)
    out += b"".join(struct.pack("!I", c) for c in csrcs)
    if ext:
        profile, body = ext
        assert len(body) % 4 == 0
        out += struct.pack("!HH", profile, len(body) // 4) + body
    out += payload
    if pad:
        out += bytes(pad - 1) + bytes([pad])
    return out


def one_byte_ext(elems: list[tuple[int, bytes]]) -> tuple[int, bytes]:
    """RFC 8285 one-byte header extension block (profile 0xBEDE)."""
    body = b"".join(bytes([(i << 4) | (len(v) - 1)]) + v for i, v in elems)
    body += bytes(-len(body) % 4)
    return 0xBEDE, body


def two_byte_ext(elems: list[tuple[int, bytes]], appbits: int = 0) -> tuple[int, bytes]:
    """RFC 8285 two-byte header extension block (profile 0x100X)."""
    body = b"".join(bytes([i, len(v)]) + v for i, v in elems)
    body += bytes(-len(body) % 4)
    return 0x1000 | appbits, body


OPUS = bytes(range(0x20, 0x20 + 40))
VP8 = bytes([0x90, 0x80, 0x12, 0x34]) + bytes(range(96))

RTP_SEEDS = {
    "rtp_opus": rtp(payload=OPUS),
    "rtp_vp8_marker": rtp(pt=96, seq=65535, ts=0xFFFFFFF0, marker=True, payload=VP8),
    "rtp_header_only": rtp(pt=0, seq=0, ts=0, ssrc=0),
    "rtp_csrc3": rtp(csrcs=(0xA1, 0xA2, 0xA3), payload=OPUS),
    "rtp_csrc15": rtp(csrcs=tuple(range(1, 16)), payload=b"\x01\x02"),
    "rtp_ext_one_byte": rtp(
        pt=96,
        ext=one_byte_ext(
            [
                (1, b"\x85"),  # ssrc-audio-level
                (3, b"\x12\x34\x56"),  # abs-send-time
                (5, b"\x00\x2a"),  # transport-wide-cc seq
                (14, bytes(16)),  # longest one-byte element
            ]
        ),
        payload=VP8,
    ),
    "rtp_ext_one_byte_padded": rtp(
        ext=(0xBEDE, b"\x10\x7f\x00\x00" + b"\x00\x00\x51\x01\x02\x00\x00\x00"),
        payload=OPUS,
    ),
    "rtp_ext_two_byte": rtp(
        pt=96,
        ext=two_byte_ext(
            [(1, b""), (20, b"\x01\x02\x03\x04\x05"), (255, b"\xaa\xbb"), (7, bytes(40))]
        ),
        payload=VP8,
    ),
    "rtp_ext_two_byte_appbits": rtp(ext=two_byte_ext([(3, b"\x01\x02")], appbits=5)),
    # RFC 6464 audio level (V=1, -12 dBov) as browsers send it with opus, and in the two-byte form
    "rtp_audio_level": rtp(ext=one_byte_ext([(1, b"\x8c"), (3, b"\x00\x01")]), payload=OPUS),
    "rtp_audio_level_two_byte": rtp(ext=two_byte_ext([(1, b"\x8c\x00"), (2, b"")]), payload=OPUS),
    "rtp_ext_other_profile": rtp(ext=(0xABCD, b"\x01\x02\x03\x04"), payload=OPUS),
    "rtp_ext_empty": rtp(ext=(0xBEDE, b""), payload=OPUS),
    "rtp_padding": rtp(payload=OPUS, pad=4),
    "rtp_padding_only": rtp(pad=255),
    "rtp_everything": rtp(
        pt=100,
        marker=True,
        csrcs=(1, 2),
        ext=one_byte_ext([(2, b"\x01\x02\x03"), (9, b"\x7f")]),
        payload=VP8,
        pad=3,
    ),
    "rtp_mtu": rtp(pt=96, payload=bytes(1500 - 12)),
}

# --------------------------------------------------------------- RTCP ---


def rtcp(pt: int, count: int, body: bytes, pad: int = 0) -> bytes:
    """One RTCP packet; body is everything after the 4-byte header."""
    assert len(body) % 4 == 0
    if pad:
        body += bytes(pad - 1) + bytes([pad])
    b0 = 0x80 | (0x20 if pad else 0) | count
    return struct.pack("!BBH", b0, pt, (len(body) + 4) // 4 - 1) + body


def report_block(ssrc: int, lost_frac: int = 0, lost: int = 0, hseq: int = 0x10000 + 500) -> bytes:
    return struct.pack("!IB", ssrc, lost_frac) + lost.to_bytes(3, "big") + struct.pack(
        "!IIII", hseq, 12, 0x12345678, 0x00010000
    )


def sr(ssrc: int, blocks: tuple[int, ...] = ()) -> bytes:
    info = struct.pack("!IIIII", 0xE8A5_0000, 0x1234_5678, 160000, 1200, 96000)
    return rtcp(200, len(blocks), struct.pack("!I", ssrc) + info + b"".join(report_block(b) for b in blocks))


def rr(ssrc: int, blocks: tuple[int, ...] = ()) -> bytes:
    return rtcp(201, len(blocks), struct.pack("!I", ssrc) + b"".join(report_block(b) for b in blocks))


def sdes_cname(ssrc: int, cname: bytes) -> bytes:
    chunk = struct.pack("!I", ssrc) + bytes([1, len(cname)]) + cname + b"\x00"
    chunk += bytes(-len(chunk) % 4)
    return rtcp(202, 1, chunk)


def bye(ssrc: int) -> bytes:
    return rtcp(203, 1, struct.pack("!I", ssrc))


def fb(pt: int, fmt: int, sender: int, media: int, fci: bytes = b"", pad: int = 0) -> bytes:
    return rtcp(pt, fmt, struct.pack("!II", sender, media) + fci, pad)


def nack(sender: int, media: int, pairs: list[tuple[int, int]], pad: int = 0) -> bytes:
    return fb(205, 1, sender, media, b"".join(struct.pack("!HH", p, b) for p, b in pairs), pad)


def with_padding_count(pkt: bytes, pad: int) -> bytes:
    """Set the P bit of a single packet and claim its last `pad` bytes are padding."""
    return bytes([pkt[0] | 0x20]) + pkt[1:-1] + bytes([pad])


def remb(sender: int, bitrate: int, ssrcs: tuple[int, ...]) -> bytes:
    exp = 0
    while bitrate >= (1 << 18):
        bitrate >>= 1
        exp += 1
    fci = b"REMB" + bytes([len(ssrcs), (exp << 2) | (bitrate >> 16)]) + struct.pack("!H", bitrate & 0xFFFF)
    fci += b"".join(struct.pack("!I", s) for s in ssrcs)
    return fb(206, 15, sender, 0, fci)


S1, S2, M1 = 0x11223344, 0x55667788, 0xCAFEBABE

RTCP_SEEDS = {
    "rtcp_sr": sr(S1, (M1,)),
    "rtcp_sr_no_blocks": sr(S1),
    "rtcp_rr": rr(S2, (S1, M1)),
    "rtcp_rr_empty": rr(S2),
    "rtcp_sr_sdes": sr(S1, (M1,)) + sdes_cname(S1, b"user@host-7f3a"),
    "rtcp_rr_sdes_bye": rr(S2, (S1,)) + sdes_cname(S2, b"peer") + bye(S2),
    "rtcp_nack": nack(S2, S1, [(1000, 0x0000), (1010, 0x8005)]),
    "rtcp_nack_wrap": nack(S2, S1, [(65534, 0x0007)]),
    "rtcp_nack_padded": nack(S2, S1, [(200, 0x0001)], pad=4),
    "rtcp_rr_nack": rr(S2) + nack(S2, S1, [(42, 0xFFFF)]),
    "rtcp_pli": fb(206, 1, S2, S1),
    "rtcp_fir": fb(206, 4, S2, 0, struct.pack("!IB3x", S1, 7)),
    "rtcp_remb": remb(S2, 1_500_000, (S1, M1)),
    "rtcp_rr_remb": rr(S2) + remb(S2, 300_000, (S1,)),
    "rtcp_twcc": fb(205, 15, S2, S1, struct.pack("!HHI", 100, 3, 0x00000100) + b"\x20\x03\x04\x08\x0c\x00\x00\x00"),
    "rtcp_rr_sdes_padded": rr(S2) + rtcp(202, 1, struct.pack("!I", S2) + b"\x01\x02ab\x00\x00\x00\x00", pad=8),
    "rtcp_app": rtcp(204, 0, struct.pack("!I", S1) + b"name" + b"\x01\x02\x03\x04"),
    # malformed: the one report block the count announces is really padding
    "rtcp_rr_block_is_padding": rtcp(201, 1, struct.pack("!I", S2), pad=24),
    # malformed: padding leaves a FCI that is not whole PID/BLP pairs
    "rtcp_nack_odd_padding": with_padding_count(nack(S2, S1, [(7, 0x0101), (9, 0)]), 2),
}

# --------------------------------------------------------------- STUN ---

STUN_MAGIC = 0x2112A442
TXID = bytes.fromhex("a1b2c3d4e5f60718293a4b5c")


def stun_attr(t: int, v: bytes) -> bytes:
    return struct.pack("!HH", t, len(v)) + v + bytes(-len(v) % 4)


def stun(msg_type: int, attrs: list[tuple[int, bytes]], key: bytes | None = None, fingerprint: bool = True) -> bytes:
    """STUN message; MESSAGE-INTEGRITY (when key) and FINGERPRINT computed per RFC 5389 15.4/15.5."""
    body = b"".join(stun_attr(t, v) for t, v in attrs)

    def header(length: int) -> bytes:
        return struct.pack("!HHI", msg_type, length, STUN_MAGIC) + TXID

    if key is not None:
        mac = hmac.new(key, header(len(body) + 24) + body, hashlib.sha1).digest()
        body += stun_attr(0x0008, mac)
    if fingerprint:
        crc = zlib.crc32(header(len(body) + 8) + body) ^ 0x5354554E
        body += stun_attr(0x8028, struct.pack("!I", crc))
    return header(len(body)) + body


ICE_PWD = b"asd88fgpdd777uzjYhagZg"
STUN_SEEDS = {
    "stun_binding_request_controlling": stun(
        0x0001,
        [
            (0x0006, b"remoteufrag:localufrag"),  # USERNAME (22 bytes, padded)
            (0x0024, struct.pack("!I", 0x6E7F1EFF)),  # PRIORITY
            (0x802A, struct.pack("!Q", 0x932FF9B151263B36)),  # ICE-CONTROLLING
            (0x0025, b""),  # USE-CANDIDATE
        ],
        key=ICE_PWD,
    ),
    "stun_binding_request_controlled": stun(
        0x0001,
        [
            (0x0006, b"abcd:efgh"),
            (0x0024, struct.pack("!I", 0x6E001EFF)),
            (0x8029, struct.pack("!Q", 0x0102030405060708)),  # ICE-CONTROLLED
        ],
        key=ICE_PWD,
    ),
    "stun_binding_success_v4": stun(
        0x0101,
        [(0x0020, struct.pack("!BBH", 0, 1, 50000 ^ 0x2112) + struct.pack("!I", 0xC0A80001 ^ STUN_MAGIC))],
        key=ICE_PWD,
    ),
    "stun_binding_success_v6": stun(
        0x0101,
        [(0x0020, struct.pack("!BBH", 0, 2, 50000 ^ 0x2112) + bytes(16))],
        key=ICE_PWD,
    ),
    "stun_binding_error_401": stun(0x0111, [(0x0009, b"\x00\x00\x04\x01Unauthorized")]),
    "stun_binding_indication": stun(0x0011, [], fingerprint=False),
    "stun_binding_request_no_auth": stun(0x0001, [], fingerprint=True),
    "stun_username_empty": stun(0x0001, [(0x0006, b""), (0x0006, b"second:one")], fingerprint=False),
}

# --------------------------------------------------------------- DTLS ---


def dtls_client_hello() -> bytes:
    """DTLS 1.2 record carrying the start of a ClientHello (RFC 6347 4.1, 4.2.2)."""
    hello = struct.pack("!H", 0xFEFD) + bytes(range(32)) + b"\x00" + b"\x00"  # version, random, sid, cookie
    hello += struct.pack("!H", 4) + struct.pack("!HH", 0xC02B, 0xC02F) + b"\x01\x00"  # suites, compression
    hs = bytes([1]) + len(hello).to_bytes(3, "big") + struct.pack("!H", 0) + bytes(3) + len(hello).to_bytes(3, "big")
    hs += hello
    return bytes([22]) + struct.pack("!H", 0xFEFF) + struct.pack("!H", 0) + bytes(6) + struct.pack("!H", len(hs)) + hs


DTLS_SEEDS = {
    "dtls_client_hello": dtls_client_hello(),
    "dtls_record_header_only": bytes([22, 0xFE, 0xFD, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
    "dtls_alert": bytes([21, 0xFE, 0xFD, 0, 1, 0, 0, 0, 0, 0, 5, 0, 2, 2, 40]),
}

# --------------------------------------------------------------- ring ---
# Programs for fuzz_ring.c: byte 0 picks the ring size (2 << (b & 3) slots);
# then opcodes (byte % 14) with little-endian argument bytes.

PUT, PUBLISH, GET, RELEASE, RESET_READER, RESUME_WRITER = 0, 1, 2, 3, 4, 5
PREPARE_SLEEP, CANCEL_SLEEP, CORRUPT, RESERVE_COMMIT, PEEK, GET_CAP, DRAIN, BURST = range(6, 14)


def put(n: int) -> bytes:
    return bytes([PUT]) + struct.pack("<H", n)


def corrupt(slot: int, off: int, xor: int) -> bytes:
    return bytes([CORRUPT, slot]) + struct.pack("<H", off) + bytes([xor])


def ops(*codes: int) -> bytes:
    return bytes(codes)


RING_SEEDS = {
    "ring_put_get": bytes([1]) + put(100) + ops(PUBLISH, GET, RELEASE, GET),
    "ring_fill_drain": bytes([0]) + put(1) + put(1504) + put(2) + ops(PUBLISH, DRAIN) + put(60) + ops(PUBLISH, GET),
    "ring_too_long": bytes([1]) + put(1505) + put(1200) + ops(PUBLISH, GET),
    "ring_sleep_wake": bytes([1]) + ops(PREPARE_SLEEP) + put(20) + ops(PUBLISH, PREPARE_SLEEP, GET, RELEASE, PREPARE_SLEEP, CANCEL_SLEEP),
    "ring_reset_reader": bytes([2]) + put(10) + put(20) + ops(PUBLISH) + put(30) + ops(RESET_READER, GET, PUBLISH, GET, GET),
    "ring_resume_writer": bytes([2]) + put(10) + ops(PUBLISH) + put(20) + ops(RESUME_WRITER) + put(30) + ops(PUBLISH, DRAIN),
    "ring_burst": bytes([3]) + bytes([BURST]) + struct.pack("<H", 300) + ops(DRAIN) + bytes([BURST]) + struct.pack("<H", 7) + ops(GET, RELEASE),
    "ring_zero_copy": bytes([1]) + bytes([RESERVE_COMMIT]) + struct.pack("<H", 64) + ops(PUBLISH, PEEK, PEEK),
    "ring_small_cap": bytes([1]) + put(100) + put(10) + ops(PUBLISH) + bytes([GET_CAP]) + struct.pack("<H", 50) + bytes([GET_CAP]) + struct.pack("<H", 50),
    "ring_corrupt_header": bytes([1]) + put(100) + ops(PUBLISH) + corrupt(0, 0, 0x01) + ops(GET, RELEASE) + put(5) + ops(PUBLISH, GET),
    "ring_corrupt_len": bytes([1]) + put(100) + ops(PUBLISH) + corrupt(0, 24, 0x04) + ops(GET),
    "ring_corrupt_kind_high": bytes([1]) + put(100) + ops(PUBLISH) + corrupt(0, 11, 0x01) + ops(GET),
    "ring_corrupt_ts": bytes([1]) + put(100) + ops(PUBLISH) + corrupt(0, 16, 0x40) + ops(GET),
    "ring_corrupt_data": bytes([1]) + put(100) + ops(PUBLISH) + corrupt(0, 32 + 50, 0x10) + ops(GET),
    "ring_corrupt_past_len": bytes([1]) + put(100) + ops(PUBLISH) + corrupt(0, 32 + 400, 0x10) + ops(GET),
    "ring_corrupt_lapped": bytes([0]) + put(8) + put(9) + ops(PUBLISH) + corrupt(1, 0, 0x04) + ops(GET, GET, GET),
}

# ---------------------------------------------------- load-test receiver ---
# input: { u16 little-endian length, datagram }*, fed in order to one socket

LT_MAGIC = 0x4C54534B


def frames(*dgrams: bytes) -> bytes:
    return b"".join(struct.pack("<H", len(d)) + d for d in dgrams)


def lt_payload(n: int, first: bool = False, key: bool = False, sent_ns: int = 1_700_000_000_000_000_000) -> bytes:
    """VP8-like payload as the load-test sender writes it, ending with the latency trailer"""
    head = bytes([0x10 if first else 0x00])
    if first:
        head += bytes([0x10 if key else 0x11, 0, 0])
        if key:
            head += bytes([0x9D, 0x01, 0x2A, 0x80, 0x02, 0xE0, 0x01])
    body = max(0, n - len(head) - 12)
    return head + bytes(body) + struct.pack("!IQ", LT_MAGIC, sent_ns)


LT_SEEDS = {
    "lt_video_frame": frames(
        rtp(pt=96, seq=10, ts=9000, payload=lt_payload(200, first=True, key=True)),
        rtp(pt=96, seq=11, ts=9000, payload=lt_payload(200), marker=True),
        rtp(pt=96, seq=12, ts=12000, payload=lt_payload(200, first=True), marker=True),
    ),
    "lt_audio_wrap_reorder_dup": frames(
        *(rtp(pt=111, seq=s & 0xFFFF, ts=960 * i, ssrc=0x2222, payload=lt_payload(40), marker=True)
          for i, s in enumerate((65533, 65535, 65534, 0, 0, 2, 1, 65535)))
    ),
    "lt_extensions": frames(
        rtp(pt=96, seq=1, ext=one_byte_ext([(4, b"v0"), (10, b"hi")]), payload=lt_payload(60, True, True)),
    ),
    "lt_rtcp_pli_fir_nack": frames(
        fb(206, 1, 1, 0x11223344),
        fb(206, 4, 1, 0, struct.pack("!IBBH", 0x55667788, 3, 0, 0)),
        nack(1, 0x11223344, [(100, 0b101)]),
        rr(1, (0x11223344,)) + fb(206, 1, 1, 0x55667788),
    ),
    "lt_control": frames(
        stun(0x0001, [(0x0006, b"abcd:efgh")]),
        dtls_client_hello(),
        bytes([23, 0xFE, 0xFD]) + bytes(20),
    ),
    "lt_garbage": frames(b"", b"\x80", bytes([0x40]) * 30, bytes([0x90, 96]) + bytes(10), bytes(range(100))),
}

# ---------------------------------------------- header extension rewrite ---
# input: 16 bytes of id map (in id -> out id, 0 = remove), then an RTP packet

IDENTITY = bytes(range(15)) + b"\x00"
REMOVE_ALL = bytes(16)
SUBSCRIBER = bytes([0, 5, 0, 2, 1, 0, 0, 9, 0, 3, 0, 0, 0, 0, 11, 0])   # some kept under new ids

EXT_REWRITE_SEEDS = {
    "ext_one_byte_identity": IDENTITY + RTP_SEEDS["rtp_ext_one_byte"],
    "ext_one_byte_mapped": SUBSCRIBER + RTP_SEEDS["rtp_ext_one_byte"],
    "ext_one_byte_removed": REMOVE_ALL + RTP_SEEDS["rtp_ext_one_byte"],
    "ext_one_byte_padded": SUBSCRIBER + RTP_SEEDS["rtp_ext_one_byte_padded"],
    "ext_one_byte_id15": SUBSCRIBER + rtp(ext=(0xBEDE, b"\x10\xaa\xf0\x22\x20\xcc\x00\x00"), payload=OPUS),
    "ext_one_byte_truncated": SUBSCRIBER + rtp(ext=(0xBEDE, b"\x10\xaa\x23\x01"), payload=OPUS),
    "ext_two_byte_mapped": SUBSCRIBER + RTP_SEEDS["rtp_ext_two_byte"],
    "ext_two_byte_appbits": IDENTITY + RTP_SEEDS["rtp_ext_two_byte_appbits"],
    "ext_two_byte_truncated": SUBSCRIBER + rtp(ext=(0x1000, b"\x01\x01\xaa\x02\x09\x55\x66\x77"), payload=OPUS),
    "ext_other_profile": SUBSCRIBER + RTP_SEEDS["rtp_ext_other_profile"],
    "ext_everything": SUBSCRIBER + RTP_SEEDS["rtp_everything"],
}

# ------------------------------------------------------ key frame rules ---
# input: an RTP payload (VP8 / VP9 / H.264 rules all run on it)

KEYFRAME_SEEDS = {
    "vp8_key": bytes([0x10, 0x00, 0x9D, 0x01, 0x2A]) + bytes(20),
    "vp8_delta": bytes([0x10, 0x01]) + bytes(20),
    "vp8_extended_picture_id": bytes([0x90, 0xE0, 0x81, 0x23, 0x05, 0x40, 0x00]) + bytes(16),
    "vp8_not_start": bytes([0x00, 0x00]) + bytes(20),
    "vp9_key_layers": bytes([0xA8, 0x81, 0x23, 0x00]) + bytes(20),
    "vp9_inter": bytes([0x48]) + bytes(20),
    "vp9_spatial_1": bytes([0x28, 0x02]) + bytes(20),
    "h264_idr": bytes([0x65]) + bytes(30),
    "h264_stap_a_sps": bytes([0x18, 0x00, 0x04, 0x67, 0x42, 0x00, 0x1F, 0x00, 0x02, 0x68, 0xCE]),
    "h264_stap_a_short": bytes([0x18, 0x00, 0x09, 0x67]),
    "h264_fu_a_idr_start": bytes([0x7C, 0x85]) + bytes(30),
    "h264_fu_a_middle": bytes([0x7C, 0x05]) + bytes(30),
    # AV1 aggregation header Z|Y|W W|N: a sequence header OBU then a frame, N=1
    "av1_new_sequence": bytes([0x28, 0x0A, 0x0B, 0x00, 0x00, 0x00]) + bytes(20),
    "av1_continuation": bytes([0x88]) + bytes(20),
    "av1_delta": bytes([0x10, 0x32]) + bytes(20),
    "empty": b"",
}

# ---------------------------------------------------- transport-cc feedback ---
# input: steps: op < 0xE0 records (u16 LE seq, time step in 250 us; op & 1: back, op & 2: us
# as is, else scaled), op >= 0xE0 builds a feedback with cap 64 + (op & 0x1f) * 41


def tcc_rec(seq: int, step: int = 1, op: int = 2) -> bytes:
    return bytes([op]) + struct.pack("<HB", seq & 0xFFFF, step)


def tcc_build(cap_code: int = 0x1F) -> bytes:
    return bytes([0xE0 | cap_code])


TCC_SEEDS = {
    "tcc_run": b"".join(tcc_rec(100 + i) for i in range(10)) + tcc_build(),
    "tcc_gaps_and_reorder": b"".join(tcc_rec(s, 3) for s in (1, 2, 5, 4, 9, 8, 20)) + tcc_build() + tcc_rec(21),
    "tcc_wrap": b"".join(tcc_rec(65530 + i) for i in range(12)) + tcc_build(),
    "tcc_large_deltas": b"".join(tcc_rec(i, 255) for i in range(40)) + tcc_build(0),
    "tcc_back_in_time": b"".join(tcc_rec(i, 200, op=3 if i % 2 else 2) for i in range(16)) + tcc_build(),
    "tcc_far_ahead": tcc_rec(0) + tcc_rec(1) + tcc_rec(3000) + tcc_build(),
    "tcc_small_caps": b"".join(tcc_rec(i, 7) for i in range(200)) + tcc_build(0) + tcc_build(0) + tcc_build(5),
    "tcc_old_after_report": tcc_rec(10) + tcc_rec(11) + tcc_build() + tcc_rec(9) + tcc_rec(12) + tcc_build(),
    "tcc_full_window": tcc_rec(0) + tcc_rec(1023, 100) + tcc_build(3) + tcc_build(3),
}

# ------------------------------------------------ transport-cc feedback parser ---
# input: byte 0 picks the cap (1 + byte * 8 entries), then one RTPFB FMT=15 packet


def twcc(base: int, count: int, ref: int, body: bytes, pad: int = 0) -> bytes:
    """transport-cc feedback: chunks + deltas in `body`, zero-aligned, optional RTCP padding"""
    body += bytes(-len(body) % 4)
    fci = struct.pack("!HH", base, count) + (ref & 0xFFFFFF).to_bytes(3, "big") + b"\x07" + body
    return fb(205, 15, S2, S1, fci, pad)


def run_chunk(symbol: int, length: int) -> bytes:
    return struct.pack("!H", (symbol << 13) | length)


def vector2(syms: list[int]) -> bytes:
    v = 0xC000
    for i, sym in enumerate(syms):
        v |= sym << (12 - 2 * i)
    return struct.pack("!H", v)


def vector1(bits: list[int]) -> bytes:
    v = 0x8000
    for i, bit in enumerate(bits):
        v |= bit << (13 - i)
    return struct.pack("!H", v)


TCC_FEEDBACK_SEEDS = {
    "fb_run_received": b"\xff" + twcc(100, 20, 1000, run_chunk(1, 20) + bytes(range(20))),
    "fb_run_lost": b"\xff" + twcc(65000, 8000, 5, run_chunk(0, 8000)),
    "fb_vector1": b"\xff" + twcc(65530, 14, 0xFFFFFF, vector1([1, 0] * 7) + bytes([3] * 7)),
    "fb_vector2_large": b"\xff" + twcc(7, 7, 2, vector2([1, 2, 0, 2, 1, 0, 2]) + b"\x10\xff\x00\x20\x01\x80\x00\x7f\xff"),
    "fb_mixed": b"\xff" + twcc(1, 30, 77, run_chunk(0, 3) + vector2([1] * 7) + vector1([1] * 14) + run_chunk(1, 6)
                               + bytes(27)),
    "fb_padded": b"\xff" + twcc(9, 1, 3, run_chunk(1, 1) + b"\x04", pad=8),
    "fb_small_cap": b"\x00" + twcc(0, 40, 3, run_chunk(1, 40) + bytes(40)),
    "fb_bad_symbol": b"\xff" + twcc(0, 2, 3, run_chunk(3, 2) + b"\x01\x01"),
    "fb_truncated_deltas": b"\xff" + twcc(0, 4, 3, vector2([2, 2, 2, 2]) + bytes(6)),
    "fb_header_only": b"\xff" + twcc(0, 1, 3, b"")[:20],
}

# ------------------------------------------------ transport-wide sequence number stamp ---
# input: byte 0 picks the id (1 + b % 14), byte 1 the room past the packet, then an RTP packet

TCC_STAMP_SEEDS = {
    "stamp_no_extension": bytes([2, 8]) + RTP_SEEDS["rtp_opus"],
    "stamp_no_room_to_add": bytes([2, 7]) + RTP_SEEDS["rtp_opus"],
    "stamp_overwrite": bytes([4, 0]) + RTP_SEEDS["rtp_ext_one_byte"],           # id 5 holds 2 bytes
    "stamp_into_padding": bytes([6, 0]) + RTP_SEEDS["rtp_ext_one_byte_padded"],
    "stamp_grow_one_byte": bytes([1, 4]) + rtp(ext=one_byte_ext([(1, b"\xaa\xbb"), (4, b"\x01")]), payload=OPUS),
    "stamp_two_byte": bytes([2, 4]) + RTP_SEEDS["rtp_ext_two_byte"],
    "stamp_wrong_length_id": bytes([0, 0]) + rtp(ext=one_byte_ext([(1, b"\x01\x02\x03\x04")]), payload=OPUS),
    "stamp_other_profile": bytes([2, 8]) + RTP_SEEDS["rtp_ext_other_profile"],
    "stamp_csrcs_padding": bytes([9, 255]) + RTP_SEEDS["rtp_everything"],
    "stamp_mtu": bytes([2, 255]) + RTP_SEEDS["rtp_mtu"][:1490],
}

# -------------------------------------------------------- RTCP builders ---
# input: 28 bytes of SR / PLI fields, then 8-byte steps of receive statistics
# (u16 LE seq, u32 LE ts, arrival step ms, ns); first byte 0xFF: an SR arrives


def rx_step(seq: int, ts: int, ms: int = 20, first: int | None = None) -> bytes:
    b = struct.pack("<HIBB", seq & 0xFFFF, ts & 0xFFFFFFFF, ms, 0)
    return bytes([first]) + b[1:] if first is not None else b


FIELDS = bytes(range(1, 29))

RTCP_BUILD_SEEDS = {
    "build_fields_only": FIELDS,
    "build_steady_stream": FIELDS + b"".join(rx_step(100 + i, 3000 * i) for i in range(20)),
    "build_loss_and_wrap": FIELDS + b"".join(rx_step(s, 960 * i) for i, s in enumerate((65533, 65535, 1, 2, 6))),
    "build_sr_then_packets": FIELDS + rx_step(0, 0, 5, first=0xFF) + b"".join(rx_step(i, 90 * i, 1) for i in range(5)),
    "build_big_jump": FIELDS + b"".join(rx_step(s, 0) for s in (10, 11, 9000, 9001, 9002)),
    "build_short": bytes([1, 2, 3]),
}

# ----------------------------------------------------------------- RTX ---
# input: a publisher's RTX packet (RFC 4588): the OSN, then the original payload


RTX_SEEDS = {
    "rtx_vp8": rtp(pt=97, seq=7, ssrc=0x22222222, payload=struct.pack("!H", 4242) + b"\x90\x80\x01" + bytes(40)),
    "rtx_osn_wrap": rtp(pt=97, seq=65535, ssrc=0x22222222, marker=True, payload=b"\xff\xff\x10\x00"),
    "rtx_extension_csrcs": rtp(pt=97, csrcs=(1, 2), ext=one_byte_ext([(3, b"\x01\x02\x03")]),
                               payload=b"\x00\x05" + bytes(20)),
    "rtx_padded": rtp(pt=97, payload=b"\x00\x09" + bytes(10), pad=4),
    "rtx_padding_only": rtp(pt=97, pad=224),
    "rtx_osn_only": rtp(pt=97, payload=b"\x00\x01"),
    "rtx_half_osn": rtp(pt=97, payload=b"\x00"),
}

# ----------------------------------------------------------------- RED ---
# input: a RED payload (RFC 2198): 4-byte headers of earlier blocks, the primary's 1-byte header, the data


def red_block_header(pt: int, ts_offset: int, length: int) -> bytes:
    return struct.pack("!I", 0x80000000 | (pt & 0x7f) << 24 | (ts_offset & 0x3fff) << 10 | (length & 0x3ff))


RED_SEEDS = {
    "red_two_earlier": red_block_header(111, 1920, 3) + red_block_header(111, 960, 4) + bytes([111])
    + b"aaa" + b"bbbb" + b"primary",
    "red_primary_only": bytes([111]) + bytes(60),
    "red_mixed_pt": red_block_header(0, 160, 2) + bytes([111]) + b"xx" + b"opus",
    "red_longest_block": red_block_header(111, 16383, 1023) + bytes([111]) + bytes(1023) + b"p",
    "red_block_runs_past": red_block_header(111, 960, 40) + bytes([111]) + b"short",
    "red_headers_only": red_block_header(111, 960, 0) * 3,
}

# ------------------------------------------------------ NACK generator ---
# input: 4-byte steps (op, u16 LE seq, ms to advance); op % 3: 0 packet, 1 repaired, 2 timer (RTT op ms)


def nack_step(op: int, seq: int = 0, ms: int = 0) -> bytes:
    return struct.pack("<BHB", op, seq & 0xFFFF, ms)


def nack_packets(*seqs: int, ms: int = 5) -> bytes:
    return b"".join(nack_step(0, s, ms) for s in seqs)


NACK_GEN_SEEDS = {
    "nack_holes_and_repairs": nack_packets(100, 101, 104, 105) + nack_step(2) + nack_step(1, 102, 30)
    + nack_step(101, 0, 101) + nack_step(1, 103),
    "nack_wrap": nack_packets(65534, 65535, 2, 3) + nack_step(2, 0, 20) + nack_packets(0, 1),
    "nack_retries_until_lost": nack_packets(10, 12) + b"".join(nack_step(20, 0, 100) for _ in range(12)),
    "nack_window_and_jumps": nack_packets(0, 50, 120, 620, 620 + 3000, 50) + nack_step(2, 0, 255),
    "nack_reorder_and_duplicates": nack_packets(7, 9, 8, 8, 9, 6, 10),
}

# --------------------------------------------------------- RTP padding ---
# input: pt, seq, ts, ssrc (big-endian), pad_len and cap (u16 LE), the transport-cc ext id


def padding_fields(pad_len: int, cap: int, pt: int = 96, seq: int = 0xFFFF, ts: int = 90000, ssrc: int = 0x1234,
                   ext_id: int = 2) -> bytes:
    """the input of fuzz_rtp_padding.c"""
    return struct.pack(">BHII", pt, seq, ts, ssrc) + struct.pack("<HH", pad_len, cap) + bytes([ext_id])


RTP_PADDING_SEEDS = {
    "padding_probe": padding_fields(255, 1500),
    "padding_one_byte": padding_fields(1, 13),
    "padding_no_room": padding_fields(200, 211),
    "padding_too_long": padding_fields(256, 1500),
    "padding_zero": padding_fields(0, 1500),
    "padding_marker_pt": padding_fields(17, 400, pt=0xFF, ext_id=13),
}

# ------------------------------------------------------ scalable video ---
# input: overlapping cuts, each a dependency descriptor or a VP9 payload descriptor


def dd_bits(*fields: tuple[int, int]) -> bytes:
    bits = "".join(format(v, f"0{n}b") for v, n in fields)
    bits += "0" * (-len(bits) % 8)
    return bytes(int(bits[i:i + 8], 2) for i in range(0, len(bits), 8))


_L3T3 = [(i, 2) for s in range(3) for i in (1, 1, 2 if s < 2 else 3)]
SVC_SEEDS = {
    "dd_structure_l3t3": dd_bits((1, 1), (1, 1), (0, 6), (100, 16), (1, 1), (0, 4), (0, 6), (8, 5), *_L3T3,
                                 (0, 24)) + dd_bits((1, 1), (0, 1), (4, 6), (101, 16)) * 6,
    "dd_structure_offset_wrap": dd_bits((1, 1), (1, 1), (62, 6), (7, 16), (1, 1), (0, 4), (62, 6), (1, 5),
                                        (1, 2), (3, 2)) + bytes([0x80, 0x00, 0x08, 0x3f, 0x00, 0x09]),
    "dd_too_many_templates": dd_bits((1, 1), (1, 1), (0, 6), (1, 16), (1, 1), (0, 4), (0, 6), (0, 5),
                                     *[(0, 2)] * 80),
    "vp9_l3t3_picture": b"".join(bytes([0xA8 | (0x04 if sid == 2 else 0), 0x80 | 0x12, 0x34, (1 << 5) | (sid << 1),
                                        0, 0]) for sid in range(3)),
    "vp9_key_non_flexible": bytes([0xBC, 0x05, 0x00, 0x07, 0x9D, 0x01, 0x2A]) * 4,
    "short": b"\x80\x00",
}

# ------------------------------------------------------------- output ---

def tcp_framed(*frames: bytes) -> bytes:
    return b"".join(struct.pack("!H", len(f)) + f for f in frames)


# first byte: the read sizes; then an RFC 4571 stream
TCP_FRAMING_SEEDS = {
    "tcp_stun_rtp": bytes([1]) + tcp_framed(STUN_SEEDS["stun_binding_request"] if "stun_binding_request" in STUN_SEEDS
                                            else next(iter(STUN_SEEDS.values())), RTP_SEEDS["rtp_opus"]),
    "tcp_empty_and_mtu": bytes([200]) + b"\0\0" + tcp_framed(RTP_SEEDS["rtp_mtu"][:1400]) + b"\0\0",
    "tcp_oversized_truncated": bytes([7]) + tcp_framed(b"abc") + struct.pack("!H", 4000) + b"x" * 500,
    "tcp_half_frame": bytes([3]) + tcp_framed(RTP_SEEDS["rtp_opus"])[:-5],
    "tcp_many_small": bytes([255]) + tcp_framed(*[bytes([i]) * (i % 7 + 1) for i in range(150)]),
}

TARGETS = {
    "rtp": RTP_SEEDS,
    "rtcp": RTCP_SEEDS,
    "stun": STUN_SEEDS,
    "demux": {**RTP_SEEDS, **RTCP_SEEDS, **STUN_SEEDS, **DTLS_SEEDS},
    "ring": RING_SEEDS,
    "loadtest": LT_SEEDS,
    "header_ext_rewrite": EXT_REWRITE_SEEDS,
    "keyframe": KEYFRAME_SEEDS,
    "tcc": TCC_SEEDS,
    "tcc_feedback": TCC_FEEDBACK_SEEDS,
    "tcc_seq_stamp": TCC_STAMP_SEEDS,
    "rtcp_build": RTCP_BUILD_SEEDS,
    "rtx": RTX_SEEDS,
    "red": RED_SEEDS,
    "nack_generator": NACK_GEN_SEEDS,
    "rtp_padding": RTP_PADDING_SEEDS,
    "tcp_framing": TCP_FRAMING_SEEDS,
    "svc_layers": SVC_SEEDS,
}


def write_all(root: str = CORPUS) -> int:
    n = 0
    for target, seeds in TARGETS.items():
        d = os.path.join(root, target)
        os.makedirs(d, exist_ok=True)
        wanted = {f"seed-{name}" for name in seeds}
        for f in os.listdir(d):
            if f.startswith("seed-") and f not in wanted:
                os.remove(os.path.join(d, f))
        for name, data in seeds.items():
            assert len(data) <= 1500, (target, name, len(data))
            with open(os.path.join(d, f"seed-{name}"), "wb") as fh:
                fh.write(data)
            n += 1
    return n


if __name__ == "__main__":
    root = sys.argv[1] if len(sys.argv) > 1 else CORPUS
    print(f"wrote {write_all(root)} seeds under {root}")
