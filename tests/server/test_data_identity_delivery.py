"""What a room delivers of the data packets a participant sends, by sender kind (the rooms' data
path with stand-in data channels): an agent's transcription and on-behalf text stream, a
standard participant's transcription (dropped, as LiveKit does) and spoofed identity (stamped)."""

from __future__ import annotations

from types import SimpleNamespace

from livekit.protocol import models

from helpers.app_server import server_fixture
from helpers.data_peer import DataPeer, RecordingWorker
from helpers.net import http_port
from sfu.api import RoomClient
from sfu.rooms.data import receive_data
from sfu.rooms.data_identity import StreamsOnBehalf

server = server_fixture()


def person(identity: str, kind: int, worker: RecordingWorker) -> SimpleNamespace:
    return SimpleNamespace(identity=identity, sid="PA_" + identity, closed=False, hidden=False, kind=kind,
                           data_pc=DataPeer(worker), grants=SimpleNamespace(canPublishData=True),
                           streams_on_behalf=StreamsOnBehalf())


async def test_what_reaches_the_others(server):
    async with RoomClient(f"http://127.0.0.1:{http_port(server)}", "devkey", "secret") as api:
        await api.create_room("d")
    room = server.rooms.manager.get("d")
    worker = RecordingWorker()
    agent = person("agent", models.ParticipantInfo.AGENT, worker)
    alice = person("alice", models.ParticipantInfo.STANDARD, worker)
    bob = person("bob", models.ParticipantInfo.STANDARD, worker)
    for p in (agent, alice, bob):
        p.room = room
        room.participants[p.identity] = p
    try:
        t = models.DataPacket(participant_identity="agent")
        t.transcription.transcribed_participant_identity = "alice"
        t.transcription.segments.add(id="1", text="hello", final=True)
        await receive_data(agent, "_reliable", t.SerializeToString())
        [(_, got)] = bob.data_pc.sent
        assert got.transcription.segments[0].text == "hello" and got.participant_identity == "agent"
        bob.data_pc.sent.clear()
        await receive_data(alice, "_reliable", t.SerializeToString())       # not an agent: dropped
        assert bob.data_pc.sent == []
        h = models.DataPacket(participant_identity="alice")
        h.stream_header.stream_id = "s1"
        h.stream_header.text_header.operation_type = models.DataStream.CREATE
        await receive_data(agent, "_reliable", h.SerializeToString())
        c = models.DataPacket(participant_identity="alice")
        c.stream_chunk.stream_id = "s1"
        c.stream_chunk.content = b"hi"
        await receive_data(agent, "_reliable", c.SerializeToString())
        (_, gh), (_, gc) = bob.data_pc.sent
        assert (gh.participant_identity, gc.participant_identity) == ("alice", "alice")
        assert gh.participant_sid == "PA_agent" and gh.stream_header.text_header.generated
        bob.data_pc.sent.clear()
        h.participant_identity = "bob"                                      # alice posing as bob
        await receive_data(alice, "_reliable", h.SerializeToString())
        [(_, got)] = bob.data_pc.sent
        assert got.participant_identity == "alice" and not got.stream_header.text_header.generated
    finally:
        for p in (agent, alice, bob):
            room.participants.pop(p.identity, None)
