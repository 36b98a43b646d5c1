"""The Python API (sfu.control): an in-process server, its events, the RoomService operations
without HTTP, and plain transports in and out of a room (a producer published as an ingress
participant's track, seen by a signalling client)."""

from __future__ import annotations

import asyncio
import struct

import pytest
from livekit.protocol import models

import sfu.control
from helpers.data_participant import DataParticipant
from helpers.net import free_port, udp_socket
from helpers.packets import rtp_packet
from helpers.signal_client import SignalClient


async def next_event(stream, name: str, timeout: float = 5.0) -> sfu.control.Event:
    async def wait() -> sfu.control.Event:
        async for ev in stream:
            if ev.name == name:
                return ev
        raise AssertionError(f"stream ended before {name}")
    return await asyncio.wait_for(wait(), timeout)


async def rtp_received(sock, pt: int, seconds: float) -> int:
    """RTP packets of payload type `pt` that reach `sock` within `seconds` (RTCP aside)"""
    def count() -> int:
        n = 0
        sock.settimeout(seconds)
        try:
            while True:
                d = sock.recv(2048)
                n += d[1] & 0x7F == pt
        except TimeoutError:
            return n
    return await asyncio.to_thread(count)


@pytest.fixture
async def server():
    async with sfu.control.embed(port=free_port(), udp_port=0, tcp_port=free_port(), workers=2) as s:
        yield s


async def test_room_operations_and_their_events(server):
    events = server.events()
    seen: list[str] = []
    server.on(None, lambda ev: seen.append(ev.name))
    room = await server.rooms.create_room("demo", empty_timeout=30, metadata="m1")
    assert room.name == "demo" and room.metadata == "m1"
    assert (await next_event(events, "room_started")).room.name == "demo"
    assert [r.name for r in await server.rooms.list_rooms()] == ["demo"]
    assert (await server.rooms.update_room_metadata("demo", "m2")).metadata == "m2"
    assert await server.rooms.list_participants("demo") == []
    with pytest.raises(sfu.control.TwirpError) as e:
        await server.rooms.get_participant("demo", "nobody")
    assert e.value.code == "not_found" and e.value.status == 404
    await server.rooms.delete_room("demo")
    finished = await next_event(events, "room_finished")
    assert finished.room_end_reason == models.RoomEndReason.ROOM_END_API_DELETE
    assert await server.rooms.list_rooms() == []
    assert seen[:2] == ["room_started", "room_finished"]
    with pytest.raises(ValueError):
        server.on("no_such_event", print)
    with pytest.raises(ValueError, match="room_strated"):     # a misspelt name would never match
        server.events("room_started", "room_strated")


async def test_agent_dispatch(server):
    d = await server.dispatch.create_dispatch("agents-room", "bot", metadata="m")
    assert d.agent_name == "bot" and d.id.startswith("AD_") and d.room == "agents-room"
    assert d.id in [x.id for x in await server.dispatch.list_dispatch("agents-room")]
    assert (await server.dispatch.delete_dispatch(d.id, "agents-room")).id == d.id
    with pytest.raises(sfu.control.TwirpError) as e:
        await server.dispatch.delete_dispatch(d.id, "agents-room")
    assert e.value.code == "not_found"


async def test_participant_events_data_and_admin_calls(server):
    events = server.events()
    url = f"{server.url}/rtc?protocol=16&sdk=python"
    async with SignalClient(url, server.token("alice", "r")) as alice:
        await alice.next("join")
        joined = await next_event(events, "room_started")
        assert joined.room.name == "r"
        p = await server.rooms.get_participant("r", "alice")
        assert p.identity == "alice"
        info = await server.rooms.update_participant("r", "alice", name="Alice", metadata="x",
                                                     attributes={"k": "v"})
        assert (info.name, info.metadata, dict(info.attributes)) == ("Alice", "x", {"k": "v"})
        await server.rooms.send_data("r", b"hello", topic="t")
        await server.rooms.remove_participant("r", "alice")
        left = await next_event(events, "participant_connection_aborted")     # never connected media
        assert left.participant.identity == "alice"
        assert await alice.closed(5.0)


async def test_plain_transport_published_into_a_room_and_consumed_out(server):
    events = server.events("track_published", "participant_joined")
    async with SignalClient(f"{server.url}/rtc?protocol=16&sdk=python", server.token("bob", "r")) as bob:
        await bob.next("join")
        src = udp_socket()
        tin = await server.media.create_plain_transport("r", comedia=True)
        assert tin.port > 0 and tin.room == "r"
        producer = await tin.produce("video", ssrc=4242, payload_type=100, codec="vp8")
        sid = await tin.publish(producer, identity="camera", codec="vp8", name="cam", participant_name="Camera")
        assert (await next_event(events, "participant_joined")).participant.identity == "camera"
        ev = await next_event(events, "track_published")
        assert ev.track.sid == sid and ev.track.mime_type == "video/VP8" and ev.participant.identity == "camera"
        # bob's client is told of the ingress participant and its track
        for _ in range(10):
            upd = await bob.next("update")
            cams = [x for x in upd.update.participants if x.identity == "camera" and x.tracks]
            if cams:
                break
        assert cams[0].kind == models.ParticipantInfo.INGRESS and cams[0].tracks[0].sid == sid
        listed = await server.rooms.get_participant("r", "camera")
        assert [t.sid for t in listed.tracks] == [sid]
        # no downlink to measure: its connection quality is not reported as lost to the others
        from sfu.rooms.connection_quality import rate
        camera = server._server.rooms.manager.get("r").participants["camera"]
        assert rate(camera.link_state())[0] == models.ConnectionQuality.EXCELLENT

        # out of the room: the track onto a plain transport toward a socket
        sink = udp_socket()
        tout = await server.media.create_plain_transport("r", worker=1 - tin.worker)
        await tout.connect("127.0.0.1", sink.getsockname()[1])
        consumer = await tout.consume(sid)
        assert consumer.kind == "video" and consumer.payload_type == 100
        assert consumer.codec == sfu.control.Codec("VP8", 90000)
        for i in range(5):
            src.sendto(rtp_packet(i, i * 3000, 4242, pt=100), (tin.ip, tin.port))
        for i in range(5):
            d = await asyncio.wait_for(asyncio.to_thread(sink.recv, 2048), 5)
            assert d[1] & 0x7F == 100 and struct.unpack("!I", d[8:12])[0] == consumer.ssrc
        await consumer.pause()
        assert consumer.paused
        for i in range(5, 10):
            src.sendto(rtp_packet(i, i * 3000, 4242, pt=100), (tin.ip, tin.port))
        assert await rtp_received(sink, 100, 0.5) == 0          # paused: nothing forwarded
        await consumer.resume()
        for i in range(10, 15):
            src.sendto(rtp_packet(i, i * 3000, 4242, pt=100), (tin.ip, tin.port))
        assert await rtp_received(sink, 100, 1.0) > 0
        assert (await producer.stats())["packets"] >= 5
        assert consumer.id in (await tout.stats())["consumers"]
        # the ingress participant leaves: its transport closes, its track is unpublished
        await server.rooms.remove_participant("r", "camera")
        for _ in range(50):
            if tin.closed:
                break
            await asyncio.sleep(0.05)
        assert tin.closed and producer.closed
        await tout.close()


async def test_rpc_and_data_with_a_participant_on_real_data_channels(server):
    events = server.events("data_received")
    async with DataParticipant(server.url, server.token("bob", "r"), "bob") as bob:
        bob.methods["echo"] = lambda payload: f"echo: {payload}"
        assert await server.rooms.perform_rpc("r", "bob", "echo", "hi", response_timeout_ms=3000) == "echo: hi"
        [req] = bob.rpc_requests
        assert (req.method, req.payload, req.response_timeout_ms) == ("echo", "hi", 3000)
        with pytest.raises(sfu.control.TwirpError) as e:          # the SDK's answer to an unknown method
            await server.rooms.perform_rpc("r", "bob", "nope")
        assert e.value.code == "unknown" and e.value.meta["rpc_code"] == "1400"
        with pytest.raises(sfu.control.TwirpError) as e:
            await server.rooms.perform_rpc("r", "zed", "echo")
        assert e.value.code == "not_found"

        # the server's data reaches the participant; the participant's reaches the events
        await server.rooms.send_data("r", b"from the server", topic="news")
        pkt = await bob.next_packet(lambda p: p.user.payload == b"from the server")
        assert pkt.user.topic == "news" and pkt.participant_identity == ""
        bob.send(models.DataPacket(kind=models.DataPacket.RELIABLE,
                                   user=models.UserPacket(payload=b"from bob", topic="chat")))
        ev = await next_event(events, "data_received")
        assert (ev.data, ev.topic, ev.participant.identity, ev.room.name) == (b"from bob", "chat", "bob", "r")


async def test_mute_and_subscription_calls_change_what_clients_get(server):
    events = server.events("track_unpublished")
    async with SignalClient(f"{server.url}/rtc?protocol=16&sdk=python", server.token("watcher", "r")) as watcher, \
            DataParticipant(server.url, server.token("carol", "r"), "carol", auto_subscribe=False) as carol:
        await watcher.next("join")
        tin = await server.media.create_plain_transport("r", comedia=True)
        sid = await tin.publish(await tin.produce("video", 4242, 96, "vp8"), identity="cam", codec="vp8")
        pub = server._server.rooms.manager.get("r").participants["cam"].tracks[sid]

        # mute: the other clients are told the track is muted
        assert (await server.rooms.mute_published_track("r", "cam", sid)).muted
        for _ in range(10):
            upd = await watcher.next("update")
            if any(t.sid == sid and t.muted for x in upd.update.participants for t in x.tracks):
                break
        else:
            raise AssertionError("no ParticipantUpdate with the track muted")
        assert (await server.rooms.get_participant("r", "cam")).tracks[0].muted

        # carol does not subscribe by herself; the server API subscribes her: the track is offered
        assert "carol" not in pub.subscriptions and sid not in carol.offered_tracks()
        await server.rooms.update_subscriptions("r", "carol", [sid])
        for _ in range(100):
            if sid in carol.offered_tracks():
                break
            await asyncio.sleep(0.05)
        assert sid in carol.offered_tracks() and "carol" in pub.subscriptions
        await server.rooms.update_subscriptions("r", "carol", [sid], subscribe=False)
        for _ in range(100):
            if "carol" not in pub.subscriptions:
                break
            await asyncio.sleep(0.05)
        assert "carol" not in pub.subscriptions

        # the ingress participant leaves: its track is unpublished
        await server.rooms.remove_participant("r", "cam")
        ev = await next_event(events, "track_unpublished")
        assert ev.track.sid == sid and ev.participant.identity == "cam"
