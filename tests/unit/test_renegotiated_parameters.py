"""Every offer's parameters reach the worker, not just the first one's: a publisher PC first
negotiated for media gets its SCTP association when a renegotiation adds the data channel
m-line, and the header-extension ids of the latest offer."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace

import pytest

from sfu.protocol.dtls import DtlsState
from sfu.protocol.sdp import EXT_TWCC
from sfu.rooms.peer_transport import PeerTransport
from sfu.worker.webrtc import WebRtcSession

OFFER = (Path(__file__).parents[1] / "data" / "sdp" / "chrome_sendonly_simulcast_offer.sdp").read_text()


def without_data(offer: str) -> str:
    media_only = offer[:offer.index("m=application")]
    return media_only.replace("a=group:BUNDLE 0 1 2 3", "a=group:BUNDLE 0 1 2")


class FakeWorker:
    def __init__(self) -> None:
        self.requests: list[tuple[str, dict]] = []

    async def request(self, method: str, data: dict) -> dict:
        self.requests.append((method, data))
        return {}


def publisher_pc() -> tuple[PeerTransport, FakeWorker]:
    worker = FakeWorker()
    t = SimpleNamespace(id=7, worker=worker, listeners=[], fingerprint="sha-256 " + ":".join(["AB"] * 32),
                        ip="10.0.0.1", ips=["10.0.0.1"], port=7882, tcp_port=7881,
                        set_ice_ufrag=lambda ufrag: None)
    return PeerTransport("publisher", t, "abcd", "a" * 22), worker


@pytest.mark.parametrize("first,then", [("media", "media+data"), ("data", "media+data"), ("media+data", "media")])
async def test_each_offer_sets_the_remote_parameters(first, then):
    offers = {"media": without_data(OFFER), "media+data": OFFER,
              "data": OFFER[:OFFER.index("m=audio")].replace("BUNDLE 0 1 2 3", "BUNDLE 3") +
              OFFER[OFFER.index("m=application"):]}
    pc, worker = publisher_pc()
    await pc.answer_offer(offers[first])
    await pc.answer_offer(offers[then])
    sent = [d for m, d in worker.requests if m == "TRANSPORT_SET_REMOTE_PARAMS"]
    assert [d["sctp"] for d in sent] == ["data" in first, "data" in then]
    assert [bool(d["extmap"].get(EXT_TWCC)) for d in sent] == ["media" in first, "media" in then]


class FakeDtls:
    def __init__(self, state: DtlsState) -> None:
        self.state, self.role = state, None


async def test_worker_starts_sctp_when_a_later_description_adds_data(monkeypatch):
    started: list[int] = []
    monkeypatch.setattr(WebRtcSession, "_start_sctp", lambda self: started.append(self.id))
    s = WebRtcSession(3, "abcd", "a" * 22, send=lambda d, a: None, set_remote=lambda a: None,
                      add_addr=lambda a: None, set_srtp=lambda p, r, l: None, emit=lambda e, d: None)
    fp = ["sha-256 " + ":".join(["AB"] * 32)]
    s.set_remote_params("efgh", "b" * 22, fp, "client", False, [])
    assert s.dtls is not None and not started
    s.set_remote_params("efgh", "b" * 22, fp, "client", True, [])      # DTLS not up: at DtlsConnected
    assert started == [] and s.want_sctp
    s.dtls = FakeDtls(DtlsState.CONNECTED)
    s.set_remote_params("efgh", "b" * 22, fp, "client", False, [])     # wanted once: still wanted
    assert started == [3]
    s.sctp = object()
    s.set_remote_params("efgh", "b" * 22, fp, "client", True, [])      # one association only
    assert started == [3]
    await asyncio.sleep(0)
    s.abort()
