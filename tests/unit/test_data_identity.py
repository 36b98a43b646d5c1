"""Whose identity a data packet carries (sfu.rooms.data_identity): LiveKit's rule for packets an
agent sends on behalf of a participant."""

from __future__ import annotations

from livekit.protocol import models

from sfu.rooms.data_identity import StreamsOnBehalf, on_behalf_of


def header(named: str, stream_id: str = "s1", text: bool = True) -> models.DataPacket:
    pkt = models.DataPacket(participant_identity=named)
    pkt.stream_header.stream_id = stream_id
    if text:
        pkt.stream_header.text_header.operation_type = models.DataStream.CREATE
    else:
        pkt.stream_header.byte_header.name = "file.bin"
    return pkt


def test_an_agents_text_stream_or_chat_for_someone_keeps_that_identity_and_is_generated():
    pkt = header("alice")
    assert on_behalf_of(True, "agent", pkt) == "alice" and pkt.stream_header.text_header.generated
    chat = models.DataPacket(participant_identity="alice")
    chat.chat_message.message = "hi"
    assert on_behalf_of(True, "agent", chat) == "alice" and chat.chat_message.generated


def test_everything_else_gets_the_senders_identity():
    assert on_behalf_of(False, "bob", header("alice")) == ""            # not an agent
    assert on_behalf_of(True, "agent", header("agent")) == ""           # its own
    assert on_behalf_of(True, "agent", header("")) == ""                # nobody named
    assert on_behalf_of(True, "agent", header("alice", text=False)) == ""   # a byte stream
    user = models.DataPacket(participant_identity="alice")
    user.user.payload = b"x"
    assert on_behalf_of(True, "agent", user) == ""                      # a plain data packet
    t = models.DataPacket(participant_identity="alice")
    t.transcription.transcribed_participant_identity = "alice"
    assert on_behalf_of(True, "agent", t) == ""


def test_chunks_and_trailer_follow_their_header():
    s = StreamsOnBehalf()
    assert s.follow(header("alice", "s1"), "alice") == "alice"
    assert s.follow(header("", "s2"), "") == ""                         # the agent's own stream
    chunk = models.DataPacket()
    chunk.stream_chunk.stream_id = "s1"
    assert s.follow(chunk, "") == "alice"
    chunk.stream_chunk.stream_id = "s2"
    assert s.follow(chunk, "") == ""
    trailer = models.DataPacket()
    trailer.stream_trailer.stream_id = "s1"
    assert s.follow(trailer, "") == "alice"
    chunk.stream_chunk.stream_id = "s1"
    assert s.follow(chunk, "") == ""                                     # closed by its trailer
    for i in range(StreamsOnBehalf.MAX + 5):                             # bounded
        s.follow(header("alice", f"x{i}"), "alice")
    assert len(s._open) == StreamsOnBehalf.MAX
