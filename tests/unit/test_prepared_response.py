"""A SignalResponse encoded once: the bytes a connection sends equal the message's own
serialization, for the whole batch and for every recipient's "all but mine" subset."""

from __future__ import annotations

from livekit.protocol import models, rtc

from sfu.signaling.prepared_response import Prepared, UpdateParts, as_message, join_response, wire_bytes


def info(identity: str, n: int) -> models.ParticipantInfo:
    return models.ParticipantInfo(
        sid=f"PA_{identity}", identity=identity, name=identity * n, metadata="m" * (n * 50),
        state=models.ParticipantInfo.ACTIVE, version=n, attributes={"k": "v" * n},
        tracks=[models.TrackInfo(sid=f"TR_{identity}", name="cam", width=1280, height=720)])


def expected(infos: list[models.ParticipantInfo]) -> bytes:
    return rtc.SignalResponse(update=rtc.ParticipantUpdate(participants=infos)).SerializeToString()


def test_every_subset_encodes_as_the_message_would():
    # sizes around the 1-byte/2-byte/3-byte length varint boundaries
    infos = [info(f"p{i}", n) for i, n in enumerate((1, 2, 3, 40, 400))]
    parts = UpdateParts(infos)
    assert parts.update().binary == expected(infos)
    for skip in infos:
        got = parts.update(skip.identity)
        assert got is not None and got.which == "update"
        assert got.binary == expected([i for i in infos if i.identity != skip.identity])
        assert rtc.SignalResponse.FromString(got.binary) == got.message()


def test_nothing_left_is_no_message():
    parts = UpdateParts([info("solo", 1)])
    assert parts.update("solo") is None
    assert parts.update("other") is not None


def test_the_whole_batch_is_encoded_once():
    parts = UpdateParts([info("a", 1), info("b", 2)])
    assert parts.update() is parts.update()          # shared by every recipient


def test_prepared_of_a_message():
    msg = rtc.SignalResponse(pong=123)
    p = Prepared.of(msg)
    assert p.binary == msg.SerializeToString() and p.which == "pong" and p.message() is msg


def test_a_join_response_with_appended_others_parses_as_the_full_message():
    others = [info(f"o{i}", i + 1) for i in range(3)]
    join = rtc.JoinResponse(participant=info("me", 2), server_version="1.9.0", ping_interval=5)
    p = join_response(join, [o.SerializeToString() for o in others])
    full = rtc.SignalResponse(join=rtc.JoinResponse(participant=info("me", 2), server_version="1.9.0",
                                                    ping_interval=5, other_participants=others))
    assert p.which == "join"
    assert rtc.SignalResponse.FromString(p.binary) == full
    assert p.message() == full                     # what a JSON connection gets
    assert join_response(join, []).binary == rtc.SignalResponse(join=join).SerializeToString()


def test_an_identity_named_twice_is_skipped_both_times():
    infos = [info("a", 1), info("b", 2), info("a", 3)]
    got = UpdateParts(infos).update("a")
    assert got is not None and got.binary == expected([infos[1]])
    assert got.message() == rtc.SignalResponse(update=rtc.ParticipantUpdate(participants=[infos[1]]))


def test_a_connection_sends_the_same_bytes_for_a_message_and_its_prepared_form():
    msg = rtc.SignalResponse(update=rtc.ParticipantUpdate(participants=[info("a", 3)]))
    p = UpdateParts([info("a", 3)]).update()
    assert wire_bytes(msg) == wire_bytes(p) == msg.SerializeToString()
    assert as_message(msg) is msg and as_message(p) == msg
