"""ParticipantUpdate batching (sfu.rooms.participant_updates): publishers and departures at
once, subscriber-only participants in the next batch, the newest info of each only."""

from __future__ import annotations

from livekit.protocol import models

from sfu.rooms.participant_updates import UpdateBatch

JOINED, ACTIVE, GONE = models.ParticipantInfo.JOINED, models.ParticipantInfo.ACTIVE, models.ParticipantInfo.DISCONNECTED


def info(identity: str, version: int = 1, state: int = ACTIVE, publisher: bool = False, sid: str = "") -> models.ParticipantInfo:
    return models.ParticipantInfo(identity=identity, sid=sid or f"PA_{identity}", version=version, state=state,
                                  is_publisher=publisher)


def test_viewers_wait_for_the_batch_publishers_do_not():
    b = UpdateBatch()
    assert b.push(info("v1", state=JOINED)) == []
    assert b.push(info("v2")) == []
    now = b.push(info("pub", publisher=True))
    assert [i.identity for i in now] == ["pub"]
    assert sorted(i.identity for i in b.take()) == ["v1", "v2"]
    assert b.take() == []                                  # sent once


def test_newest_info_of_a_viewer_replaces_the_queued_one():
    b = UpdateBatch()
    b.push(info("v", version=1, state=JOINED))
    b.push(info("v", version=2, state=ACTIVE))
    b.push(info("v", version=1, state=JOINED))             # late, older: ignored
    [only] = b.take()
    assert (only.version, only.state) == (2, ACTIVE)


def test_leaving_is_at_once_and_drops_what_was_queued():
    b = UpdateBatch()
    b.push(info("v", state=JOINED))
    now = b.push(info("v", version=2, state=GONE))
    assert [(i.identity, i.state) for i in now] == [("v", GONE)]
    assert b.take() == []


def test_a_publisher_that_unpublished_everything_stays_immediate():
    b = UpdateBatch()
    assert b.push(info("p", publisher=True))
    assert [i.version for i in b.push(info("p", version=2, publisher=False))] == [2]   # its last track went
    # a new session of the same identity starts as a viewer again
    assert b.push(info("p", version=1, sid="PA_p2")) == []


def test_a_join_storm_is_one_batch():
    b = UpdateBatch()
    assert all(b.push(info(f"v{i}", state=JOINED)) == [] for i in range(1000))
    assert all(b.push(info(f"v{i}", version=2)) == [] for i in range(1000))
    batch = b.take()
    assert len(batch) == 1000 and {i.version for i in batch} == {2}


def test_who_may_publish_is_announced_at_once():
    b = UpdateBatch()
    may = info("conf", state=JOINED)
    may.permission.can_publish = True
    assert b.push(may) == [may]


def test_take_one_sends_a_viewer_ahead_of_the_batch():
    b = UpdateBatch()
    b.push(info("v1"))
    b.push(info("v2"))
    assert b.take_one("v1").identity == "v1" and b.take_one("v1") is None
    assert [i.identity for i in b.take()] == ["v2"]


async def test_a_viewer_sending_data_is_announced_before_its_packet():
    from types import SimpleNamespace

    from sfu.rooms.data import deliver_data

    from helpers.data_peer import DataPeer, RecordingWorker

    order = []

    class Worker(RecordingWorker):
        async def request(self, method, data):
            order.append(("data", data["label"]))
            return await super().request(method, data)

    sender = SimpleNamespace(identity="v", sid="PA_v", hidden=False, closed=False, data_pc=None)
    other = SimpleNamespace(identity="host", sid="PA_h", hidden=False, closed=False, data_pc=DataPeer(Worker()))

    async def announce_now(p):
        order.append(("announce", p.identity))

    room = SimpleNamespace(participants={"v": sender, "host": other}, announce_now=announce_now)
    pkt = models.DataPacket(kind=models.DataPacket.RELIABLE, user=models.UserPacket(payload=b"hi"))
    assert await deliver_data(room, pkt, sender) == 1
    assert order == [("announce", "v"), ("data", "_reliable")]
