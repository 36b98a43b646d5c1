"""The rooms service of this node: it owns the rooms (RoomManager), the participants' signal
sessions (Sessions), the simulcast layer tracker, the stream allocator, the connection quality
and active speaker reports, and what happens when a participant changes (ParticipantEvents:
broadcasts, auto-subscribe, teardown); and it serves the room operations of the server API
(sfu.api.twirp).
"""

from __future__ import annotations

import logging
import secrets

from livekit.protocol import models, rtc

from .. import auth, errors
from ..media import MediaService
from . import data
from .allocator import Allocator
from .layer_tracker import LayerTracker
from .participant import WORKER_DIED, Participant
from .dynacast_reporter import DynacastReporter
from .quality_reporter import QualityReporter
from .speaker_reporter import SpeakerReporter
from .room import Room, RoomManager, RoomOptions
from .server_rpc import ServerRpc
from .session import Sessions
from .track import TrackPublication

log = logging.getLogger("sfu.rooms")


class RoomService:
    def __init__(self, media: MediaService, node_id: str = "", auto_create: bool = True,
                 defaults: RoomOptions | None = None, keys: auth.KeyProvider | None = None,
                 congestion_control: bool = False) -> None:
        self.media = media
        self.congestion_control = congestion_control   # the allocator follows the estimates
        self.keys = keys
        self.node_id = node_id or "ND_" + secrets.token_hex(6)
        self.manager = RoomManager(media, auto_create=auto_create, defaults=defaults)
        self.sessions = Sessions(self.manager, self, self.node_id, keys)
        self.layers = LayerTracker()
        self.allocator = Allocator()
        self.rpc = ServerRpc()           # PerformRpc: calls from the server to a participant
        self.quality = QualityReporter(self.open_rooms)
        self.speakers = SpeakerReporter(self.open_rooms)
        self.dynacast = DynacastReporter(self.open_rooms)

    def start(self) -> None:
        self.manager.start()
        self.allocator.start()
        self.quality.start()
        self.speakers.start()
        self.dynacast.start()

    def open_rooms(self) -> list[Room]:
        return [r for r in self.manager.rooms.values() if not r.closed]

    async def stop(self) -> None:
        await self.dynacast.stop()
        await self.speakers.stop()
        await self.quality.stop()
        await self.allocator.stop()
        await self.manager.stop()

    def server_info(self) -> models.ServerInfo:
        return self.sessions.server_info()

    # -- the server API ------------------------------------------------------------------------
    async def update_room_metadata(self, room: Room, metadata: str) -> None:
        room.metadata = metadata
        room.version += 1
        update = rtc.SignalResponse(room_update=rtc.RoomUpdate(room=room.to_proto()))
        for q in list(room.participants.values()):
            if not q.closed:
                await q.send(update)

    async def admin_update_participant(self, p: Participant, metadata: str | None = None, name: str | None = None,
                                       attributes: dict[str, str] | None = None,
                                       permission: models.ParticipantPermission | None = None) -> None:
        """the server API's UpdateParticipant: identity fields, then permissions (revoking
        publish unpublishes, revoking subscribe unsubscribes), then one ParticipantUpdate"""
        if metadata is not None:
            p.metadata = metadata
        if name is not None:
            p.name = name
        for k, v in (attributes or {}).items():
            if v == "":
                p.attributes.pop(k, None)
            else:
                p.attributes[k] = v
        if permission is not None:
            await p.set_permission(permission)
            if self.keys is not None and p.conn is not None:
                try:   # the client's token carries the new grants from now on
                    await p.send(rtc.SignalResponse(refresh_token=auth.refreshed(self.keys, p.claims)))
                except auth.AuthError as e:
                    log.warning("%s: cannot refresh token: %s", p.identity, e)
        p.bump()
        await self.participant_changed(p)
        if permission is not None and p.grants.canSubscribe and p.auto_subscribe and \
                p.state == models.ParticipantInfo.ACTIVE:
            for pub in p.room.all_tracks():
                if pub.participant is not p and pub.published:
                    await p.subscribe(pub)

    async def deliver_data(self, room: Room, pkt: models.DataPacket, sender: Participant | None = None,
                           label: str | None = None) -> int:
        return await data.deliver_data(room, pkt, sender, label)

    # -- participant events (sfu.rooms.events.ParticipantEvents) -------------------------------------
    async def participant_changed(self, p: Participant) -> None:
        if not p.hidden:
            await p.room.broadcast_participant(p)
        else:
            await p.send_participant_update([p.to_proto()])

    async def participant_active(self, p: Participant) -> None:
        p.room.emit("participant_active", p)
        await self.participant_changed(p)
        if p.auto_subscribe:
            for pub in p.room.all_tracks():
                if pub.participant is not p and pub.published:
                    await p.subscribe(pub)
        if self.congestion_control:
            # its downlink is paced and probed from the start (the allocator says how much it
            # wants once there is an estimate); after the subscriptions, which must not wait
            try:
                await p.set_wanted_bitrate(0)
            except errors.SfuError as e:
                log.debug("%s: congestion control: %s", p.identity, e)

    async def track_published(self, p: Participant, pub: TrackPublication) -> None:
        log.info("%s/%s published %s %s (%s)", p.room.name, p.identity, pub.kind, pub.sid, pub.info.mime_type)
        await self.participant_changed(p)
        p.room.emit("track_published", pub)
        for q in list(p.room.participants.values()):
            if q is not p and q.auto_subscribe and q.state == models.ParticipantInfo.ACTIVE:
                await q.subscribe(pub)

    async def track_unpublished(self, p: Participant, pub: TrackPublication) -> None:
        if pub.published:
            p.room.emit("track_unpublished", pub)
        for sub in list(pub.subscriptions.values()):
            await sub.subscriber.unsubscribe(pub)
        await self.participant_changed(p)

    async def participant_lost(self, p: Participant, why: str) -> None:
        if p.closed:
            return
        log.info("%s/%s lost: %s", p.room.name, p.identity, why)
        if why == WORKER_DIED:
            # its transports' keys died with the worker, so its PeerConnections cannot be resumed:
            # it joins again at once, on a live worker, and republishes
            await p.disconnect(models.DisconnectReason.MEDIA_FAILURE, action=rtc.LeaveRequest.RECONNECT)
            return
        await p.disconnect(models.DisconnectReason.MEDIA_FAILURE if "failed" in why
                           else models.DisconnectReason.UNKNOWN_REASON)

    async def remove_participant(self, p: Participant, reason: int) -> None:
        if p.closed:
            return
        p.closed = True
        p.state = models.ParticipantInfo.DISCONNECTED
        p.disconnect_reason = reason
        p.bump()
        self.sessions.cancel_expiry(p)
        self.allocator.forget(p)
        room = p.room
        for pub in list(p.tracks.values()):
            if pub.published:       # its tracks end with it (webhooks say so, as LiveKit's do)
                room.emit("track_unpublished", pub)
            for sub in list(pub.subscriptions.values()):
                await sub.subscriber.unsubscribe(pub)
        for pub in room.all_tracks():
            pub.subscriptions.pop(p.identity, None)
        await p.close_transports()
        room.remove(p)
        if not p.hidden:
            await room.broadcast_participant(p)     # DISCONNECTED: at once
        log.info("%s left %s (%s)", p.identity, room.name, models.DisconnectReason.Name(reason))

    async def layer_added(self, p: Participant, pub: TrackPublication) -> None:
        await self.layers.layer_added(pub)

    async def layer_activity(self, p: Participant, pub: TrackPublication, producer_id: int, active: bool) -> None:
        await self.layers.activity_changed(pub, producer_id, active)

    def downlink_estimate(self, p: Participant, bitrate: int | None) -> None:
        if self.congestion_control:
            self.allocator.set_estimate(p, bitrate)

    async def on_data(self, p: Participant, label: str, payload: bytes) -> None:
        await data.receive_data(p, label, payload, taken=self.rpc.take)
