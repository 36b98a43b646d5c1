"""Helpers of the send-side estimation tests: our receive side
(csrc/rtc/tcc_server.c) building real transport-cc feedback, the parser
that reads it, and a simulated bottleneck between them."""

from __future__ import annotations

from sfu._units import ffi, lib

FEEDBACK_CAP = lib.SFU_MTU - lib.SFU_SRTP_TRAILER_MAX
PARSE_CAP = lib.SFU_TCC_HISTORY_SLOTS


class Receiver:
    """the subscriber's side: arrivals recorded, feedback packets built as tcc_server.c builds them"""

    def __init__(self) -> None:
        self.t = ffi.new("sfu_tcc_server_t *")
        lib.sfu_tcc_server_init(self.t)
        self._buf = ffi.new("uint8_t[]", FEEDBACK_CAP)

    def record(self, seq: int, arrival_us: int) -> None:
        lib.sfu_tcc_server_record(self.t, seq & 0xFFFF, arrival_us)

    def build(self) -> bytes:
        n = lib.sfu_tcc_server_build(self.t, 5, 6, self._buf, FEEDBACK_CAP)
        return bytes(ffi.buffer(self._buf, n))


def parse_feedback(pkt: bytes):
    """(sfu_tcc_feedback_t *, sfu_tcc_feedback_packet_t[]) of a feedback that must parse"""
    fb = ffi.new("sfu_tcc_feedback_t *")
    pkts = ffi.new("sfu_tcc_feedback_packet_t[]", PARSE_CAP)
    r = lib.sfu_tcc_feedback_parse(ffi.from_buffer("uint8_t[]", pkt), len(pkt), fb, pkts, PARSE_CAP)
    assert r == lib.SFU_TCC_FB_OK, ffi.string(lib.sfu_tcc_feedback_reject_name(r))
    return fb, pkts
