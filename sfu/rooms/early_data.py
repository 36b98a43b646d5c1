"""Data for a participant whose data channel is not open yet.

A client's connect() resolves when its PeerConnection is connected (DTLS done); the data
channels open a little later (SCTP association, then DCEP: the client's own channels in
one-PeerConnection mode, the server's `_reliable`/`_lossy` on the subscriber PC in
two-PeerConnection mode).  Packets other participants send it in that window (0.05-0.3 s)
would be lost, so they wait here, per channel label, in order, and go out when the channel
opens.  Bounded: at most MAX_PACKETS and MAX_BYTES in all, none older than MAX_AGE seconds;
a packet that does not fit is dropped (counted), as it was before this buffer.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

MAX_PACKETS = 128
MAX_BYTES = 256 * 1024
MAX_AGE = 10.0


@dataclass
class EarlyData:
    packets: dict[str, deque[tuple[float, bytes]]] = field(default_factory=dict)
    size: int = 0
    count: int = 0
    dropped: int = 0

    def push(self, label: str, data: bytes, now: float) -> bool:
        """keep a packet for `label`; False (dropped) when the buffer is full"""
        self.expire(now)
        if self.count >= MAX_PACKETS or self.size + len(data) > MAX_BYTES:
            self.dropped += 1
            return False
        self.packets.setdefault(label, deque()).append((now, data))
        self.size += len(data)
        self.count += 1
        return True

    def pending(self, label: str) -> bool:
        return bool(self.packets.get(label))

    def pop(self, label: str, now: float) -> bytes | None:
        """the oldest packet kept for `label` (None when there is none left)"""
        self.expire(now)
        q = self.packets.get(label)
        if not q:
            return None
        _, data = q.popleft()
        self.size -= len(data)
        self.count -= 1
        return data

    def expire(self, now: float) -> None:
        for q in self.packets.values():
            while q and now - q[0][0] > MAX_AGE:
                _, data = q.popleft()
                self.size -= len(data)
                self.count -= 1
                self.dropped += 1
