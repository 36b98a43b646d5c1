"""Bad or oversized input over signalling gets a clear answer and costs the sender only: an
SDP with a malformed fingerprint or too many m-lines, metadata/name/attributes over the limits
(the same as the server API's)."""

from __future__ import annotations

import pathlib
import time

from livekit.protocol import rtc

from helpers.app_server import server_fixture
from helpers.signal_client import Client
from helpers.tokens import join_token
from sfu import limits

server = server_fixture()
OFFER = (pathlib.Path(__file__).parents[1] / "data" / "sdp" / "livekit_publisher_offer.sdp").read_text()


async def rejected(c: Client, req: rtc.SignalRequest, reason: int = rtc.RequestResponse.INVALID_REQUEST) -> str:
    await c.send(req)
    r = (await c.next("request_response", timeout=5)).request_response
    assert r.reason == reason, r
    # the connection is still served
    await c.send(rtc.SignalRequest(ping_req=rtc.Ping(timestamp=7)))
    assert (await c.next("pong_resp")).pong_resp.last_ping_timestamp == 7
    return r.message


def offer(sdp: str) -> rtc.SignalRequest:
    return rtc.SignalRequest(offer=rtc.SessionDescription(type="offer", sdp=sdp, id=1))


async def test_a_malformed_fingerprint_is_an_invalid_request(server):
    bad = "\r\n".join(ln if not ln.startswith("a=fingerprint:") else "a=fingerprint:sha-256 ZZ:not:hex"
                      for ln in OFFER.splitlines()) + "\r\n"
    assert bad != OFFER.replace("\n", "\r\n")
    async with Client(server, join_token("alice", "r")) as c:
        await c.next("join")
        assert "fingerprint" in await rejected(c, offer(bad))


async def test_an_offer_with_too_many_media_sections_is_refused_at_once(server):
    lines = OFFER.splitlines()
    head = lines[:next(i for i, ln in enumerate(lines) if ln.startswith("m="))]
    small = [x for i in range(10_000) for x in ("m=audio 9 UDP/TLS/RTP/SAVPF 111", f"a=mid:{i}")]
    huge = "\r\n".join(head + small) + "\r\n"          # ~400 kB: within the message and SDP size limits
    async with Client(server, join_token("alice", "r")) as c:
        await c.next("join")
        t0 = time.monotonic()
        msg = await rejected(c, offer(huge))
        assert "too" in msg and time.monotonic() - t0 < 5


async def test_metadata_name_and_attributes_have_the_server_apis_limits(server):
    async with Client(server, join_token("alice", "r", canUpdateOwnMetadata=True)) as c:
        await c.next("join")
        big = "x" * (limits.MAX_METADATA + 1)
        for req in (rtc.UpdateParticipantMetadata(metadata=big, request_id=1),
                    rtc.UpdateParticipantMetadata(name="n" * (limits.MAX_NAME + 1), request_id=2),
                    rtc.UpdateParticipantMetadata(attributes={"k": "v" * limits.MAX_ATTRIBUTES}, request_id=3)):
            await rejected(c, rtc.SignalRequest(update_metadata=req), rtc.RequestResponse.LIMIT_EXCEEDED)
        assert server.rooms.manager.get("r").participants["alice"].metadata == ""
        # within the limits it is applied
        await c.send(rtc.SignalRequest(update_metadata=rtc.UpdateParticipantMetadata(metadata="ok", request_id=4)))
        upd = await c.next("update")
        assert any(p.metadata == "ok" for p in upd.update.participants)


async def test_data_track_requests_are_refused_at_once(server):
    async with Client(server, join_token("alice", "r")) as c:
        await c.next("join")
        await c.send(rtc.SignalRequest(publish_data_track_request=rtc.PublishDataTrackRequest(pub_handle=7, name="t")))
        r = (await c.next("request_response", timeout=5)).request_response
        assert r.reason == rtc.RequestResponse.UNSUPPORTED_TYPE and r.publish_data_track.pub_handle == 7
        await c.send(rtc.SignalRequest(unpublish_data_track_request=rtc.UnpublishDataTrackRequest(pub_handle=7)))
        r = (await c.next("request_response", timeout=5)).request_response
        assert r.reason == rtc.RequestResponse.UNSUPPORTED_TYPE and r.unpublish_data_track.pub_handle == 7
