"""Every `sfu` server-API verb against a running server (sfu.control.embed), as `lk` users
reach for them: LIVEKIT_URL / LIVEKIT_API_KEY / LIVEKIT_API_SECRET from the environment,
`--json` on every verb, a table or `field: value` lines without it."""

from __future__ import annotations

import asyncio
import json
import os
import sys

import pytest
from livekit.protocol import models

import sfu.control
from helpers.commands import run
from helpers.data_participant import DataParticipant
from helpers.net import free_port, udp_socket
from helpers.signal_client import SignalClient
from helpers.tokens import kp


@pytest.fixture
async def server():
    async with sfu.control.embed(port=free_port(), udp_port=0, tcp_port=free_port(), workers=1,
                                 room={"enable_remote_unmute": True}) as s:
        yield s


async def sfu_cli(server, *args: str, ok: bool = True) -> tuple[int, str, str]:
    env = dict(os.environ, LIVEKIT_URL=server.url, LIVEKIT_API_KEY="devkey", LIVEKIT_API_SECRET="secret")
    rc, out, err = await run(sys.executable, "-m", "sfu.cli", *args, env=env)
    if ok:
        assert rc == 0, (args, out, err)
    return rc, out, err


async def js(server, *args: str):
    _, out, _ = await sfu_cli(server, *args, "--json")
    return json.loads(out)


async def test_token_create_with_every_grant(server):
    _, out, _ = await sfu_cli(server, "token", "create", "--identity", "ann", "--room", "r", "--grant",
                              "roomJoin,roomAdmin,roomList,roomCreate,roomRecord,ingressAdmin,canPublish,"
                              "canSubscribe,canPublishData,canUpdateOwnMetadata,hidden,recorder,agent,"
                              "canSubscribeMetrics,canManageAgentSession", "--can-publish-sources",
                              "camera,microphone", "--destination-room", "r2", "--name", "Ann", "--metadata", "m",
                              "--attribute", "team=blue", "--kind", "agent", "--room-config",
                              '{"agents": [{"agent_name": "bot"}]}', "--ttl", "1h")
    c = kp.verify(out.strip())
    v = c.video
    assert all((v.roomJoin, v.roomAdmin, v.roomList, v.roomCreate, v.roomRecord, v.ingressAdmin, v.canPublish,
                v.canSubscribe, v.canPublishData, v.canUpdateOwnMetadata, v.hidden, v.recorder, v.agent,
                v.canSubscribeMetrics, v.canManageAgentSession))
    assert v.canPublishSources == ["camera", "microphone"] and v.destinationRoom == "r2" and v.room == "r"
    assert (c.name, c.metadata, c.attributes, c.kind) == ("Ann", "m", {"team": "blue"}, "agent")
    assert c.room_config == {"agents": [{"agent_name": "bot"}]}
    assert 3500 < c.expires_at - c.raw["nbf"] <= 3600
    j = await js(server, "token", "create", "--identity", "bob", "--room", "r")
    assert kp.verify(j["token"]).identity == "bob" and j["grants"]["roomJoin"] is True
    rc, _, err = await sfu_cli(server, "token", "create", "--grant", "canFly", ok=False)
    assert rc == 2 and "canFly" in err


async def test_room_verbs(server):
    room = await js(server, "room", "create", "demo", "--empty-timeout", "60", "--max-participants", "5",
                    "--metadata", "m1")
    assert room["name"] == "demo" and room["max_participants"] == 5
    _, out, _ = await sfu_cli(server, "room", "list")
    assert out.splitlines()[0].split()[:2] == ["name", "sid"] and "demo" in out.splitlines()[1]
    assert [r["name"] for r in await js(server, "room", "list")] == ["demo"]
    assert (await js(server, "room", "update-metadata", "demo", "m2"))["metadata"] == "m2"
    _, out, _ = await sfu_cli(server, "room", "update-metadata", "demo", "m3")
    assert "metadata: m3" in out.splitlines()
    assert await js(server, "room", "delete", "demo") == {}
    rc, _, err = await sfu_cli(server, "room", "delete", "demo", ok=False)
    assert rc == 1 and "not_found" in err
    rc, _, err = await sfu_cli(server, "room", "list", "--api-secret", "wrong", ok=False)
    assert rc == 1 and "unauthenticated" in err


async def test_participant_verbs_and_send_data(server):
    # an ingress participant with a track, and a signalling client
    src = udp_socket()
    t = await server.media.create_plain_transport("r", comedia=True)
    sid = await t.publish(await t.produce("video", 4242, 96, "vp8"), identity="cam", codec="vp8")
    async with SignalClient(f"{server.url}/rtc?protocol=16&sdk=python", server.token("bob", "r")) as bob:
        await bob.next("join")
        listed = await js(server, "participant", "list", "--room", "r")
        assert sorted(p["identity"] for p in listed) == ["bob", "cam"]
        _, out, _ = await sfu_cli(server, "room", "participants", "r")
        assert out.splitlines()[0].split()[0] == "identity" and len(out.splitlines()) == 3
        got = await js(server, "participant", "get", "--room", "r", "--identity", "cam")
        assert got["kind"] == "INGRESS" and got["tracks"][0]["sid"] == sid
        upd = await js(server, "participant", "update", "--room", "r", "--identity", "bob", "--name", "Bob",
                       "--metadata", "x", "--attribute", "k=v", "--permission", "can_subscribe,can_publish_data")
        assert (upd["name"], upd["metadata"], upd["attributes"]) == ("Bob", "x", {"k": "v"})
        perm = upd["permission"]
        assert perm.get("can_subscribe") and perm.get("can_publish_data") and not perm.get("can_publish")
        muted = await js(server, "participant", "mute-track", "--room", "r", "--identity", "cam", "--track", sid)
        assert muted["muted"] is True
        assert (await js(server, "participant", "mute-track", "--room", "r", "--identity", "cam", "--track", sid,
                         "--unmute")).get("muted", False) is False
        pub = server._server.rooms.manager.get("r").participants["cam"].tracks[sid]
        async with DataParticipant(server.url, server.token("dora", "r"), "dora", auto_subscribe=False) as dora:
            assert "dora" not in pub.subscriptions
            _, out, _ = await sfu_cli(server, "participant", "update-subscriptions", "--room", "r", "--identity",
                                      "dora", "--track", sid)
            assert out.strip() == f"subscribed dora: {sid}" and "dora" in pub.subscriptions
            for _ in range(100):            # and her client is offered the track
                if sid in dora.offered_tracks():
                    break
                await asyncio.sleep(0.05)
            assert sid in dora.offered_tracks()
            assert await js(server, "participant", "update-subscriptions", "--room", "r", "--identity", "dora",
                            "--track", sid, "--unsubscribe") == {}
            assert "dora" not in pub.subscriptions
            _, out, _ = await sfu_cli(server, "room", "send-data", "--room", "r", "--data", "hello", "--topic", "t",
                                      "--identity", "dora")
            assert out.strip() == "sent 5 bytes to r"
            pkt = await dora.next_packet()
            assert (pkt.user.payload, pkt.user.topic, pkt.kind) == (b"hello", "t", models.DataPacket.RELIABLE)
        assert await js(server, "participant", "remove", "--room", "r", "--identity", "bob") == {}
        assert await bob.closed(5.0)
        rc, _, err = await sfu_cli(server, "participant", "get", "--room", "r", "--identity", "bob", ok=False)
        assert rc == 1 and "not_found" in err
        rc, _, err = await sfu_cli(server, "participant", "update", "--room", "r", "--identity", "cam",
                                   "--permission", "can_fly", ok=False)
        assert rc == 1 and "can_fly" in err
    src.close()
    info = await server.rooms.get_participant("r", "cam")
    assert info.kind == models.ParticipantInfo.INGRESS


async def test_participant_update_changes_only_what_its_flags_name(server):
    """UpdateParticipant replaces the whole permission: the CLI starts from the current one"""
    async with SignalClient(f"{server.url}/rtc?protocol=16&sdk=python",
                            server.token("bob", "r", canPublish=True, canSubscribe=True, canPublishData=True,
                                         canUpdateOwnMetadata=True)) as bob:
        await bob.next("join")
        await sfu_cli(server, "participant", "update", "--room", "r", "--identity", "bob",
                      "--can-publish-sources", "microphone,camera")
        perm = (await server.rooms.get_participant("r", "bob")).permission
        assert perm.can_subscribe and perm.can_publish and perm.can_publish_data and perm.can_update_metadata
        assert list(perm.can_publish_sources) == [models.TrackSource.MICROPHONE, models.TrackSource.CAMERA]
        # --permission alone: exactly those booleans, the sources kept
        await sfu_cli(server, "participant", "update", "--room", "r", "--identity", "bob",
                      "--permission", "can_subscribe")
        perm = (await server.rooms.get_participant("r", "bob")).permission
        assert perm.can_subscribe and not (perm.can_publish or perm.can_publish_data or perm.can_update_metadata)
        assert list(perm.can_publish_sources) == [models.TrackSource.MICROPHONE, models.TrackSource.CAMERA]
        # a name only: the permission untouched
        await sfu_cli(server, "participant", "update", "--room", "r", "--identity", "bob", "--name", "Bob")
        info = await server.rooms.get_participant("r", "bob")
        assert info.name == "Bob" and info.permission == perm
        rc, _, err = await sfu_cli(server, "participant", "update", "--room", "r", "--identity", "bob",
                                   "--can-publish-sources", "hologram", ok=False)
        assert rc == 1 and "hologram" in err
        assert (await server.rooms.get_participant("r", "bob")).permission == perm


async def test_dispatch_verbs(server):
    await server.rooms.create_room("r")
    d = await js(server, "dispatch", "create", "--room", "r", "--agent-name", "bot", "--metadata", "m")
    assert d["agent_name"] == "bot" and d["id"].startswith("AD_")
    ids = [x["id"] for x in await js(server, "dispatch", "list", "--room", "r")]
    assert d["id"] in ids
    _, out, _ = await sfu_cli(server, "dispatch", "list", "--room", "r")
    assert out.splitlines()[0].split()[:2] == ["id", "agent_name"]
    assert (await js(server, "dispatch", "delete", "--room", "r", "--id", d["id"]))["id"] == d["id"]
    assert d["id"] not in [x["id"] for x in await js(server, "dispatch", "list", "--room", "r")]
