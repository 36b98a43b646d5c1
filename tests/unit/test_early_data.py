"""Data for a participant whose data channel has not opened yet waits for it, in order and
bounded, instead of being lost."""

from __future__ import annotations

import asyncio
import base64
from types import SimpleNamespace

from sfu.rooms import early_data
from sfu.rooms.early_data import EarlyData
from sfu.rooms.peer_transport import PeerTransport


def test_kept_in_order_per_label_and_bounded():
    b = EarlyData()
    assert b.push("_reliable", b"a", 0.0) and b.push("_lossy", b"x", 0.0) and b.push("_reliable", b"b", 0.1)
    assert b.pending("_reliable") and not b.pending("other")
    assert [b.pop("_reliable", 0.2), b.pop("_reliable", 0.2), b.pop("_reliable", 0.2)] == [b"a", b"b", None]
    assert (b.count, b.size) == (1, 1)
    for i in range(early_data.MAX_PACKETS - 1):
        assert b.push("_reliable", b"p", 1.0)
    assert not b.push("_reliable", b"p", 1.0) and b.dropped == 1          # full: dropped, counted
    big = EarlyData()
    assert not big.push("_reliable", b"z" * (early_data.MAX_BYTES + 1), 0.0)


def test_old_packets_expire():
    b = EarlyData()
    b.push("_reliable", b"old", 0.0)
    b.push("_reliable", b"new", early_data.MAX_AGE)
    assert b.pop("_reliable", early_data.MAX_AGE + 0.5) == b"new"
    assert b.dropped == 1 and (b.count, b.size) == (0, 0)


class FakeWorker:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes]] = []

    async def request(self, method: str, data: dict) -> dict:
        assert method == "TRANSPORT_SEND_DATA"
        await asyncio.sleep(0)
        self.sent.append((data["label"], base64.b64decode(data["data"])))
        return {"sent": data["ids"]}


async def test_peer_transport_sends_what_waited_when_the_channel_opens():
    worker = FakeWorker()
    t = SimpleNamespace(id=1, worker=worker, listeners=[], fingerprint="", ip="10.0.0.1", ips=["10.0.0.1"],
                        port=7882)
    pc = PeerTransport("subscriber", t, "abcd", "a" * 22)
    event = t.listeners[0]
    event("webrtc_state", {"id": 1, "state": "connected", "reason": ""})
    assert await pc.send_data("_reliable", b"1") and await pc.send_data("_reliable", b"2")
    assert await pc.send_data("_lossy", b"L")
    assert worker.sent == []                                   # connected, channel not open yet
    event("data_channel", {"id": 1, "label": "_reliable", "ordered": True, "max_retransmits": None})
    assert await pc.send_data("_reliable", b"3")              # while the backlog goes out: behind it
    for _ in range(10):
        await asyncio.sleep(0)
    assert await pc.send_data("_reliable", b"4")
    assert worker.sent == [("_reliable", b"1"), ("_reliable", b"2"), ("_reliable", b"3"), ("_reliable", b"4")]
    pc.closed = True                                           # closed: nothing waits any more
    assert not await pc.send_data("_lossy", b"after close")


async def test_a_message_to_many_costs_one_request_per_worker():
    """a chat message to N participants: one TRANSPORT_SEND_DATA per worker carrying every
    open channel's transport id; the peers whose channel is not open keep it (no request)"""
    from sfu.rooms.peer_transport import send_data_to_many

    class CountingWorker(FakeWorker):
        def __init__(self) -> None:
            super().__init__()
            self.ids: list[list[int]] = []

        async def request(self, method: str, data: dict) -> dict:
            self.ids.append(list(data["ids"]))
            r = await super().request(method, data)
            return {"sent": r["sent"][:-1] if 13 in data["ids"] else r["sent"]}   # 13: closed meanwhile

    workers = [CountingWorker(), CountingWorker()]
    peers = []
    for i in range(10):
        t = SimpleNamespace(id=10 + i, worker=workers[i % 2], listeners=[], fingerprint="", ip="10.0.0.1",
                            ips=["10.0.0.1"], port=7882)
        pc = PeerTransport("subscriber", t, "abcd", "a" * 22)
        t.listeners[0]("webrtc_state", {"id": t.id, "state": "connected", "reason": ""})
        if i != 4:                                   # peer 14's channel is not open yet
            t.listeners[0]("data_channel", {"id": t.id, "label": "_reliable", "ordered": True,
                                            "max_retransmits": None})
        peers.append(pc)
    for _ in range(10):
        await asyncio.sleep(0)
    assert await send_data_to_many(peers, "_reliable", b"chat") == 9     # 8 sent + 1 kept; 13 did not take it
    assert workers[0].ids == [[10, 12, 16, 18]] and workers[1].ids == [[11, 13, 15, 17, 19]]
    assert peers[4].early.pending("_reliable")
