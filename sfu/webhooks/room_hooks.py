"""Which room events become which webhooks (LiveKit's choices: a participant has joined when
it became active; one that leaves before that is participant_connection_aborted).

`RoomEvents` names them; the webhooks and the Python API (sfu.control) both take their
events from it."""

from __future__ import annotations

from typing import Any, Callable

from livekit.protocol import models

from ..rooms.room import Room, RoomManager
from . import events
from .notifier import WebhookNotifier

DATA_RECEIVED = "data_received"      # not a webhook: the Python API's event for a data packet

# a sink gets (room, event name, fields): participant, track, room_end_reason, data_packet, label
Sink = Callable[[Room, str, dict[str, Any]], None]


class RoomEvents:
    """The room lifecycle of a RoomManager, named as LiveKit's webhooks name it, given to
    `sink` in each room's order.  With `data`, the data packets the room's participants
    send are given too (as `data_received`)."""

    def __init__(self, manager: RoomManager, sink: Sink, data: bool = False) -> None:
        self.sink = sink
        self.data = data
        self.active: set[str] = set()      # sids of participants that became active
        manager.on_created(self._created)

    def _created(self, room: Room) -> None:
        self.sink(room, events.ROOM_STARTED, {})
        room.on(lambda name, arg: self._room_event(room, name, arg))

    def _room_event(self, room: Room, name: str, arg: Any) -> None:
        if name == "participant_active":
            self.active.add(arg.sid)
            self.sink(room, events.PARTICIPANT_JOINED, {"participant": arg.to_proto()})
        elif name == "participant_left":
            joined = arg.sid in self.active
            self.active.discard(arg.sid)
            self.sink(room, events.PARTICIPANT_LEFT if joined else events.PARTICIPANT_CONNECTION_ABORTED,
                      {"participant": arg.to_proto()})
        elif name in ("track_published", "track_unpublished"):
            who = models.ParticipantInfo(sid=arg.participant.sid, identity=arg.participant.identity)
            self.sink(room, events.TRACK_PUBLISHED if name == "track_published" else events.TRACK_UNPUBLISHED,
                      {"participant": who, "track": arg.info})
        elif name == "closed":
            self.sink(room, events.ROOM_FINISHED, {"room_end_reason": events.ROOM_END_REASONS.get(arg, 0)})
        elif name == "data_received" and self.data:
            sender, pkt, label = arg
            self.sink(room, DATA_RECEIVED, {"participant": sender.to_proto(), "data_packet": pkt, "label": label})


class RoomWebhooks:
    def __init__(self, manager: RoomManager, notifier: WebhookNotifier) -> None:
        self.notifier = notifier
        self.source = RoomEvents(manager, self._send)

    def _send(self, room: Room, name: str, fields: dict[str, Any]) -> None:
        self.notifier.notify(room.sid, events.event(name, room.to_proto(), **fields))
