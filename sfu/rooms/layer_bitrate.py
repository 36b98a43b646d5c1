"""The bitrate of each simulcast layer, from its producer's byte and packet counters (pure:
time is an argument): sampled at most once per INTERVAL, the rate is the difference of two
samples, counted as the subscriber's link carries it: each RTP packet with PACKET_OVERHEAD.
A key is a producer id, or (producer id, spatial layer) for the layers of a scalable stream
(sfu.rooms.svc_layers)."""

from __future__ import annotations

from typing import Hashable

INTERVAL = 1.0     # s between two samples of one producer
# what a forwarded RTP packet carries on the wire beyond its bytes: the SRTP tag (10), the
# transport-wide sequence number element (4, with padding up to 8), UDP (8) and IPv4 (20).
# At 50 packets/s that is 18 kbit/s: a quarter of an Opus track, and what made a layer that
# fits on paper overflow a link that had exactly that much room.
PACKET_OVERHEAD = 10 + 8 + 8 + 20
# an audio packet's RTP header as libwebrtc sends it: 12 bytes and the extension block (audio
# level, mid, abs-send-time); not measured, only used to tell what a RED block repeats
RTP_HEADER = 12 + 12


class BitrateMeter:
    def __init__(self) -> None:
        self._sample: dict[Hashable, tuple[float, int, int]] = {}    # key -> (time, bytes, packets)
        self._rate: dict[Hashable, int] = {}
        self._payload_rate: dict[Hashable, int] = {}

    def due(self, producer_id: Hashable, now: float) -> bool:
        """whether to sample this producer now"""
        last = self._sample.get(producer_id)
        return last is None or now - last[0] >= INTERVAL

    def sample(self, producer_id: Hashable, total_bytes: int, now: float, total_packets: int = 0) -> None:
        last = self._sample.get(producer_id)
        if last is not None and now > last[0]:
            # a counter that went back (a new producer with the same id) starts over
            if total_bytes >= last[1] and total_packets >= last[2]:
                packets = total_packets - last[2]
                wire = total_bytes - last[1] + packets * PACKET_OVERHEAD
                self._rate[producer_id] = int(wire * 8 / (now - last[0]))
                payload = max(0, total_bytes - last[1] - packets * RTP_HEADER)
                self._payload_rate[producer_id] = int(payload * 8 / (now - last[0]))
            else:
                self._rate.pop(producer_id, None)
                self._payload_rate.pop(producer_id, None)
        self._sample[producer_id] = (now, total_bytes, total_packets)

    def rate(self, producer_id: Hashable) -> int:
        """bits/s, 0 while unknown"""
        return self._rate.get(producer_id, 0)

    def payload_rate(self, producer_id: Hashable) -> int:
        """bits/s of RTP payload (each packet's RTP_HEADER off), 0 while unknown: what a RED
        block repeats"""
        return self._payload_rate.get(producer_id, 0)

    def keep(self, producer_ids: set[int]) -> None:
        """forget the producers not listed (and their spatial layers)"""
        for pid in [p for p in self._sample
                    if (p[0] if isinstance(p, tuple) else p) not in producer_ids]:
            self._sample.pop(pid, None)
            self._rate.pop(pid, None)
            self._payload_rate.pop(pid, None)
