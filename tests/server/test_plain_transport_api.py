"""The server's HTTP side: health, plain-transport API, auth and bad input."""

from __future__ import annotations

import asyncio
import os
import struct

import aiohttp
import pylibsrtp
import pytest

from helpers.app_server import server_fixture
from helpers.net import udp_socket
from helpers.packets import rtp_packet
from helpers import tokens
from helpers.tokens import KEYS
from sfu import srtp
from sfu.auth import KeyProvider, VideoGrant
from sfu.control import RemoteServer, TwirpError

server = server_fixture(workers=2)


def token(room: str = "r", **grant) -> str:
    return tokens.token("admin", room=room, **grant)


async def call(server, method, path, body=None, tok=None, raw=None):
    url = f"http://127.0.0.1:{server.settings.port}{path}"
    headers = {"Authorization": f"Bearer {tok}"} if tok else {}
    async with aiohttp.ClientSession() as s:
        async with s.request(method, url, json=body if raw is None else None, data=raw, headers=headers) as r:
            return r.status, (await r.json() if r.content_type == "application/json" else await r.text())


async def test_plain_rtp_through_the_http_api(server):
    tok = token("r", roomAdmin=True)
    pub, sub = udp_socket(), udp_socket()
    st, t1 = await call(server, "POST", "/sfu/v1/plain/transports", {"room": "r", "comedia": True}, tok)
    assert st == 200 and t1["port"] > 0
    st, p = await call(server, "POST", f"/sfu/v1/plain/transports/{t1['id']}/produce",
                       {"kind": "video", "ssrc": 4242, "payload_type": 96}, tok)
    assert st == 200
    st, t2 = await call(server, "POST", "/sfu/v1/plain/transports", {"room": "r", "worker": 1}, tok)
    st, _ = await call(server, "POST", f"/sfu/v1/plain/transports/{t2['id']}/connect",
                       {"ip": "127.0.0.1", "port": sub.getsockname()[1]}, tok)
    assert st == 200
    st, c = await call(server, "POST", f"/sfu/v1/plain/transports/{t2['id']}/consume",
                       {"producer_id": p["producer_id"], "payload_type": 100}, tok)
    assert st == 200 and c["payload_type"] == 100
    for i in range(5):
        pub.sendto(rtp_packet(i, i * 3000, 4242), (t1["ip"], t1["port"]))
    for i in range(5):
        d = await asyncio.to_thread(sub.recv, 2048)
        assert d[1] & 0x7F == 100 and struct.unpack("!I", d[8:12])[0] == c["ssrc"]
    st, stats = await call(server, "GET", "/sfu/v1/stats", tok=token("", roomList=True))
    # the 5 RTP packets, plus any key frame request the new video consumer caused
    sent = sum(w["stats"]["tx_packets"] - w["stats"]["rtcp_sent"] for w in stats["workers"])
    assert st == 200 and sent == 5
    st, _ = await call(server, "DELETE", f"/sfu/v1/plain/transports/{t1['id']}", tok=tok)
    assert st == 200
    st, _ = await call(server, "DELETE", f"/sfu/v1/plain/transports/{t1['id']}", tok=tok)
    assert st == 404


async def test_auth_and_bad_input(server):
    st, body = await call(server, "POST", "/sfu/v1/plain/transports", {"room": "r"})
    assert st == 401 and body["code"] == "unauthenticated"
    st, body = await call(server, "POST", "/sfu/v1/plain/transports", {"room": "r"}, "not.a.jwt")
    assert st == 401
    wrong_secret = KeyProvider({"devkey": "other"}).create("devkey", video=VideoGrant(roomAdmin=True, room="r"))
    st, _ = await call(server, "POST", "/sfu/v1/plain/transports", {"room": "r"}, wrong_secret)
    assert st == 401
    expired = KeyProvider(KEYS).create("devkey", video=VideoGrant(roomAdmin=True, room="r"), ttl=-3600)
    st, body = await call(server, "POST", "/sfu/v1/plain/transports", {"room": "r"}, expired)
    assert st == 401 and "expired" in body["msg"]
    st, _ = await call(server, "POST", "/sfu/v1/plain/transports", {"room": "other"}, token("r", roomAdmin=True))
    assert st == 403
    st, _ = await call(server, "POST", "/sfu/v1/plain/transports", {"room": "r"}, token("r", roomJoin=True))
    assert st == 403
    # roomAdmin is for one room, as in the Twirp API: an empty room in the grant is no wildcard
    st, body = await call(server, "POST", "/sfu/v1/plain/transports", {"room": "r"}, token("", roomAdmin=True))
    assert st == 403 and body["code"] == "permission_denied"
    # every room's transports and client addresses need roomList, not a room's admin grant
    st, _ = await call(server, "GET", "/sfu/v1/stats", tok=token("r", roomAdmin=True))
    assert st == 403
    st, _ = await call(server, "GET", "/sfu/v1/stats", tok=token("", roomAdmin=True))
    assert st == 403
    tok = token("r", roomAdmin=True)
    st, body = await call(server, "POST", "/sfu/v1/plain/transports", tok=tok, raw=b"{not json")
    assert st == 400 and body["code"] == "invalid_argument"
    st, body = await call(server, "POST", "/sfu/v1/plain/transports", {"room": "r", "worker": 7}, tok)
    assert st == 400
    st, t = await call(server, "POST", "/sfu/v1/plain/transports", {"room": "r"}, tok)
    st, body = await call(server, "POST", f"/sfu/v1/plain/transports/{t['id']}/produce",
                          {"kind": "smell", "ssrc": 1, "payload_type": 96}, tok)
    assert st == 400
    st, body = await call(server, "POST", f"/sfu/v1/plain/transports/{t['id']}/consume", {"producer_id": 999}, tok)
    assert st == 404
    st, body = await call(server, "POST", f"/sfu/v1/plain/transports/{t['id']}/srtp",
                          {"profile": "SRTP_AEAD_AES_128_GCM", "recv_key": "00", "send_key": "00"}, tok)
    assert st == 400
    st, _ = await call(server, "POST", "/sfu/v1/plain/transports/abc/connect", {"ip": "1.2.3.4", "port": 1}, tok)
    assert st == 404
    # the server still works after all of that
    st, text = await call(server, "GET", "/")
    assert st == 200 and text == "OK"


async def test_publish_a_producer_and_consume_the_track_by_sid(server):
    tok = token("r", roomAdmin=True)
    st, t1 = await call(server, "POST", "/sfu/v1/plain/transports", {"room": "r", "comedia": True}, tok)
    st, p = await call(server, "POST", f"/sfu/v1/plain/transports/{t1['id']}/produce",
                       {"kind": "audio", "ssrc": 77, "payload_type": 111}, tok)
    st, pub = await call(server, "POST", f"/sfu/v1/plain/transports/{t1['id']}/publish",
                         {"producer_id": p["producer_id"], "identity": "radio", "codec": "opus", "name": "mic"}, tok)
    assert st == 200 and pub["track_sid"].startswith("TR_")
    room = server.rooms.manager.get("r")
    assert [t.sid for t in room.participants["radio"].tracks.values()] == [pub["track_sid"]]
    st, t2 = await call(server, "POST", "/sfu/v1/plain/transports", {"room": "r"}, tok)
    st, c = await call(server, "POST", f"/sfu/v1/plain/transports/{t2['id']}/consume",
                       {"track_sid": pub["track_sid"], "paused": True}, tok)
    assert st == 200 and c["kind"] == "audio" and c["payload_type"] == 111
    assert c["codec"] == {"name": "opus", "clock_rate": 48000, "channels": 2,
                          "fmtp": "minptime=10;useinbandfec=1"}
    for action in ("resume", "pause", "key_frame"):
        st, _ = await call(server, "POST", f"/sfu/v1/plain/consumers/{c['consumer_id']}/{action}", tok=tok)
        assert st == 200, action
    st, stats = await call(server, "GET", f"/sfu/v1/plain/transports/{t2['id']}/stats", tok=tok)
    assert st == 200 and list(stats["consumers"]) == [str(c["consumer_id"])]
    # errors: neither a producer nor a track, an unknown track, consumer, codec; another room's admin
    st, body = await call(server, "POST", f"/sfu/v1/plain/transports/{t2['id']}/consume", {}, tok)
    assert st == 400 and body["code"] == "invalid_argument"
    st, _ = await call(server, "POST", f"/sfu/v1/plain/transports/{t2['id']}/consume", {"track_sid": "TR_x"}, tok)
    assert st == 404
    st, _ = await call(server, "POST", "/sfu/v1/plain/consumers/999999/pause", tok=tok)
    assert st == 404
    st, _ = await call(server, "POST", f"/sfu/v1/plain/consumers/{c['consumer_id']}/pause",
                       tok=token("other", roomAdmin=True))
    assert st == 403
    st, p2 = await call(server, "POST", f"/sfu/v1/plain/transports/{t1['id']}/produce",
                        {"kind": "audio", "ssrc": 78, "payload_type": 111}, tok)
    st, body = await call(server, "POST", f"/sfu/v1/plain/transports/{t1['id']}/publish",
                          {"producer_id": p2["producer_id"], "identity": "radio", "codec": "mp3"}, tok)
    assert st == 400 and "codec" in body["msg"]
    st, _ = await call(server, "POST", f"/sfu/v1/plain/transports/{t1['id']}/publish",
                       {"producer_id": p["producer_id"], "identity": "radio2", "codec": "opus"}, tok)
    assert st == 409 and "radio2" not in room.participants      # one track per producer
    # the ingress participant removed: its transport is closed
    await room.participants["radio"].disconnect(0)
    st, _ = await call(server, "GET", f"/sfu/v1/plain/transports/{t1['id']}/stats", tok=tok)
    assert st == 404


async def test_remote_server_media_through_the_http_api(server):
    """sfu.control.RemoteServer's media: the same calls as an in-process server's, over HTTP"""
    key = os.urandom(28)
    gcm = pylibsrtp.Policy.SRTP_PROFILE_AEAD_AES_128_GCM
    src, sink = udp_socket(), udp_socket()
    async with RemoteServer(f"http://127.0.0.1:{server.settings.port}", "devkey", "secret") as remote:
        tin = await remote.media.create_plain_transport("r", comedia=True)
        await tin.set_srtp(srtp.AEAD_AES_128_GCM, key, os.urandom(28))
        producer = await tin.produce("video", 4242, 96, codec="VP8")
        # the codec reaches the server's producer, which gives it to the data plane
        assert server.media.transports[tin.id].producers[producer.id].codec == "vp8"
        tout = await remote.media.create_plain_transport("r", rtcp=True, worker=1 - tin.worker)
        await tout.connect("127.0.0.1", sink.getsockname()[1])
        consumer = await tout.consume(producer)
        tx = pylibsrtp.Session(pylibsrtp.Policy(key=key, ssrc_type=pylibsrtp.Policy.SSRC_ANY_OUTBOUND,
                                                srtp_profile=gcm))
        for i in range(5):
            src.sendto(tx.protect(rtp_packet(i, i * 3000, 4242, payload=b"media" * 20)), (tin.ip, tin.port))
        for _ in range(5):
            d = await asyncio.to_thread(sink.recv, 2048)
            while d[1] & 0x7F != 96:                     # an RTCP report of the rtcp transport
                d = await asyncio.to_thread(sink.recv, 2048)
            assert d[12:] == b"media" * 20 and struct.unpack("!I", d[8:12])[0] == consumer.ssrc   # decrypted
        src.sendto(rtp_packet(5, 15000, 4242), (tin.ip, tin.port))         # in the clear: refused
        await asyncio.sleep(0.2)
        assert (await producer.stats())["packets"] == 5
        assert (await consumer.stats())["packets"] == 5
        await consumer.close()
        assert consumer.closed and not server.media.transports[tout.id].consumers
        with pytest.raises(TwirpError) as e:
            await consumer.stats()
        assert e.value.status == 404
        st, _ = await call(server, "GET", f"/sfu/v1/plain/producers/{producer.id}/stats",
                           tok=token("other", roomAdmin=True))
        assert st == 403                                   # another room's admin
        st, body = await call(server, "POST", f"/sfu/v1/plain/transports/{tin.id}/produce",
                              {"kind": "audio", "ssrc": 5, "payload_type": 111, "codec": 7}, token("r", roomAdmin=True))
        assert st == 400 and "codec" in body["msg"]
        await producer.close()
        assert producer.closed and not server.media.transports[tin.id].producers
        with pytest.raises(TwirpError) as e:
            await producer.close()
        assert e.value.status == 404
        await tin.close()
        await tout.close()
