"""A real PeerTransport with both data channels open over a stand-in worker that records what
it was asked to send, per transport: for tests of data delivery without WebRTC."""

from __future__ import annotations

import base64
import itertools
from types import SimpleNamespace

from livekit.protocol import models

from sfu.rooms.peer_transport import PeerTransport

_ids = itertools.count(1000)


class RecordingWorker:
    def __init__(self) -> None:
        self.sent: dict[int, list[tuple[str, models.DataPacket]]] = {}
        self.requests = 0

    async def request(self, method: str, data: dict) -> dict:
        assert method == "TRANSPORT_SEND_DATA", method
        self.requests += 1
        pkt = models.DataPacket.FromString(base64.b64decode(data["data"]))
        for tid in data["ids"]:
            self.sent.setdefault(tid, []).append((data["label"], pkt))
        return {"sent": list(data["ids"])}


class DataPeer(PeerTransport):
    """`sent`: (label, DataPacket) this peer's channels were given, in order"""

    def __init__(self, worker: RecordingWorker | None = None) -> None:
        self.worker = worker or RecordingWorker()
        t = SimpleNamespace(id=next(_ids), worker=self.worker, listeners=[], fingerprint="", ip="10.0.0.1",
                            ips=["10.0.0.1"], port=7882)
        super().__init__("subscriber", t, "abcd", "a" * 22)
        event = t.listeners[0]
        event("webrtc_state", {"id": t.id, "state": "connected", "reason": ""})
        for label, ordered in (("_reliable", True), ("_lossy", False)):
            event("data_channel", {"id": t.id, "label": label, "ordered": ordered, "max_retransmits": None})

    @property
    def sent(self) -> list[tuple[str, models.DataPacket]]:
        return self.worker.sent.setdefault(self.t.id, [])
