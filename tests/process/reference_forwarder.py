"""A small pure-Python reference of the C fan-out's rewrite rules.

Used by the differential test: identical input must give byte-identical
output per consumer.  Deliberately written from the rules, not from the C:
  - the first forwarded packet maps its sequence number to seq_start;
  - out_seq = in_seq + offset (mod 2^16), out_ts = in_ts + ts_offset;
  - SSRC and payload type are replaced, the marker bit kept, the rest copied;
  - a paused consumer forwards nothing; on resume the next packet continues
    right after the last sequence number sent (no gap), then the offset holds;
  - an input jump of 3000 or more ahead, or more than 100 back (RFC 3550 A.1),
    is a discontinuity, handled like a resume.
"""

from __future__ import annotations

import struct


def _newer(a: int, b: int) -> bool:
    return a != b and ((a - b) & 0xFFFF) < 0x8000


class RefConsumer:
    def __init__(self, ssrc: int, payload_type: int, seq_start: int, ts_offset: int, paused: bool = False):
        self.ssrc = ssrc
        self.pt = payload_type
        self.seq_start = seq_start
        self.ts_offset = ts_offset
        self.paused = paused
        self.started = False
        self.resync = False
        self.offset = 0
        self.last_out = 0
        self.sent = 0

    def pause(self) -> None:
        self.paused = True

    def resume(self) -> None:
        if self.paused:
            self.resync = True
        self.paused = False

    def forward(self, pkt: bytes) -> bytes | None:
        b0, b1, seq, ts, _ssrc = struct.unpack("!BBHII", pkt[:12])
        if self.paused:
            self.resync = True
            return None
        if not self.started:
            self.offset = (self.seq_start - seq) & 0xFFFF
            self.started = True
            self.resync = False
        elif self.resync:
            self.offset = (self.last_out + 1 - seq) & 0xFFFF
            self.resync = False
        elif self.sent:
            jump = (seq - ((self.last_out - self.offset) & 0xFFFF)) & 0xFFFF
            if 3000 <= jump <= 0x10000 - 100:
                self.offset = (self.last_out + 1 - seq) & 0xFFFF
        out_seq = (seq + self.offset) & 0xFFFF
        out_ts = (ts + self.ts_offset) & 0xFFFFFFFF
        if self.sent == 0 or _newer(out_seq, self.last_out):
            self.last_out = out_seq
        self.sent += 1
        return struct.pack("!BBHII", b0, (b1 & 0x80) | self.pt, out_seq, out_ts, self.ssrc) + pkt[12:]
