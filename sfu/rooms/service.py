"""Room-level behaviour: joining, broadcasting updates, auto-subscribe, data
forwarding, leaving, resuming.  The signal layer calls run_session() once per
WebSocket; everything a participant does goes through here.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import time
from typing import Any

from google.protobuf import json_format
from livekit.protocol import models, rtc
from livekit.protocol import room as room_pb

from .. import __version__, auth, errors
from ..protocol.common import ProtocolError as WireError
from ..signaling.join import JoinError, JoinParams
from ..signaling.server import SignalConnection, leave_response, pong, read_requests
from .participant import Participant, TrackPublication, decode_data_packet
from .room import Room, RoomManager, RoomOptions

log = logging.getLogger("sfu.rooms")

LAYER_TRACK_INTERVAL = 1.0
REFRESH_INTERVAL = 300
PING_INTERVAL = 5
PING_TIMEOUT = 15
RESUME_WINDOW = 15.0          # a participant whose signal dropped may resume this long
PROTOCOL_VERSION = 16
DATA_LABELS = ("_reliable", "_lossy")


class RoomService:
    def __init__(self, media: Any, node_id: str = "", auto_create: bool = True,
                 defaults: RoomOptions | None = None, keys: Any = None) -> None:
        self.media = media
        self.keys = keys
        self.node_id = node_id or "ND_" + secrets.token_hex(6)
        self.manager = RoomManager(media, auto_create=auto_create, defaults=defaults)
        self.manager.service = self  # type: ignore[attr-defined]
        self._lost_tasks: dict[str, asyncio.Task] = {}

    def start(self) -> None:
        self.manager.start()
        self._tracker = asyncio.get_running_loop().create_task(self._track_layers())

    async def stop(self) -> None:
        self._tracker.cancel()
        await self.manager.stop()

    async def _track_layers(self) -> None:
        """once a second: which simulcast layers carry packets; subscribers on a
        layer that stopped (or below one that came back) move to the best one"""
        while True:
            await asyncio.sleep(LAYER_TRACK_INTERVAL)
            for room in list(self.manager.rooms.values()):
                for pub in room.all_tracks():
                    if len(pub.layers) < 2:
                        continue
                    try:
                        await self._update_layers(pub)
                    except errors.SfuError as e:
                        log.debug("layer tracking for %s: %s", pub.sid, e)

    async def _update_layers(self, pub: TrackPublication) -> None:
        for layer in list(pub.layers.values()):
            packets = int((await layer.producer.stats())["packets"])
            layer.active = packets > layer.packets
            layer.packets = packets
        for sub in list(pub.subscriptions.values()):
            best = pub.best_layer(sub.quality)
            if sub.consumer is None or sub.consumer.closed or best is None or best is sub.layer:
                continue
            log.info("%s: %s layer %r -> %r (layer activity)", sub.subscriber.identity, pub.sid,
                     sub.layer.rid if sub.layer else None, best.rid)
            await sub.consumer.set_producer(best.producer)
            sub.layer = best

    def server_info(self) -> models.ServerInfo:
        return models.ServerInfo(edition=models.ServerInfo.Standard, version=__version__,
                                 protocol=PROTOCOL_VERSION, node_id=self.node_id, agent_protocol=1)

    def options_from_token(self, claims: auth.Claims) -> RoomOptions | None:
        """the room options a joining token's `roomConfig` asks for (agents, timeouts ...), if any"""
        cfg = claims.room_config
        if not isinstance(cfg, dict) or not cfg:
            return None
        try:
            rc = json_format.ParseDict(cfg, room_pb.RoomConfiguration(), ignore_unknown_fields=True)
        except json_format.ParseError as e:
            log.warning("ignoring the token's roomConfig: %s", e)
            return None
        d = self.manager.defaults
        return RoomOptions(empty_timeout=rc.empty_timeout or d.empty_timeout,
                           departure_timeout=rc.departure_timeout or d.departure_timeout,
                           max_participants=rc.max_participants or d.max_participants,
                           metadata=rc.metadata, agents=list(rc.agents))

    # -- join ----------------------------------------------------------------------------------
    def check_join(self, params: JoinParams) -> None:
        room = self.manager.get(params.room)
        if room is None and not (self.manager.auto_create or params.claims.video.roomCreate):
            raise JoinError(404, f"room {params.room} does not exist")
        if room is not None:
            try:
                room.check_can_join(params.identity)
            except errors.LimitReachedError as e:
                raise JoinError(503, str(e)) from None
        if params.reconnect:
            p = room.participants.get(params.identity) if room else None
            if p is None or p.closed or (params.participant_sid and p.sid != params.participant_sid):
                return  # handled on the socket: leave(RECONNECT)

    async def run_session(self, params: JoinParams, conn: SignalConnection) -> None:
        room = self.manager.get(params.room)
        if params.reconnect:
            p = room.participants.get(params.identity) if room else None
            if p is None or p.closed or (params.participant_sid and p.sid != params.participant_sid):
                await conn.send(leave_response(models.DisconnectReason.STATE_MISMATCH, rtc.LeaveRequest.RECONNECT))
                await conn.close(1000, "state mismatch")
                return
            await self._resume(p, conn)
        else:
            if room is None:
                room, _ = self.manager.create(params.room, self.options_from_token(params.claims))
            try:
                room.check_can_join(params.identity)
            except errors.SfuError as e:
                await conn.send(leave_response(models.DisconnectReason.JOIN_FAILURE))
                await conn.close(1008, str(e))
                return
            p = await self._join(room, params, conn)
            if p is None:
                return
        try:
            await self._serve(p, conn)
        except BaseException:
            await p.disconnect(models.DisconnectReason.UNKNOWN_REASON, send_leave=False)
            raise

    async def _join(self, room: Room, params: JoinParams, conn: SignalConnection) -> Participant | None:
        old = room.participants.get(params.identity)
        if old is not None:
            await old.disconnect(models.DisconnectReason.DUPLICATE_IDENTITY)
        p = Participant(room, params, conn)
        try:
            await p.setup_transports()
        except errors.SfuError as e:
            log.error("join of %s to %s failed: %s", p.identity, room.name, e)
            await conn.send(leave_response(models.DisconnectReason.JOIN_FAILURE))
            await conn.close(1011, "no media worker")
            return None
        room.add(p)
        try:
            await self._send_join(room, p, params)
        except BaseException:
            await p.disconnect(models.DisconnectReason.JOIN_FAILURE, send_leave=False)
            raise
        return p

    async def _send_join(self, room: Room, p: Participant, params: JoinParams) -> None:
        p.state = models.ParticipantInfo.JOINED
        others = [q.to_proto() for q in room.others(p) if not q.hidden]
        join = rtc.JoinResponse(
            room=room.to_proto(), participant=p.to_proto(), other_participants=others,
            server_version=__version__, server_info=self.server_info(),
            subscriber_primary=p.subscriber_primary, ping_interval=PING_INTERVAL, ping_timeout=PING_TIMEOUT,
            client_configuration=models.ClientConfiguration(resume_connection=models.ClientConfigSetting.ENABLED),
            sif_trailer=os.urandom(8))
        join.enabled_publish_codecs.extend([
            models.Codec(mime="audio/opus"), models.Codec(mime="audio/red"), models.Codec(mime="video/VP8"),
            models.Codec(mime="video/H264"), models.Codec(mime="video/VP9"), models.Codec(mime="video/AV1")])
        await p.send(rtc.SignalResponse(join=join))
        log.info("%s joined %s as %s (protocol %d)", p.identity, room.name, p.sid, p.protocol)
        if not p.hidden:
            await self.broadcast(room, [p.to_proto()], exclude=p)
        if p.subscriber_primary and p.subscriber is not None:
            p.subscriber.needs_negotiation = True
            p.schedule_negotiation()
        if params.publisher_offer is not None:
            await p.handle_offer(params.publisher_offer)

    async def _resume(self, p: Participant, conn: SignalConnection) -> None:
        task = self._lost_tasks.pop(p.sid, None)
        if task is not None:
            task.cancel()
        old = p.conn
        p.conn = conn
        p.last_ping = time.monotonic()
        if old is not None and old is not conn:
            await old.close(1000, "resumed elsewhere")
        await p.send(rtc.SignalResponse(reconnect=rtc.ReconnectResponse(
            server_info=self.server_info(),
            client_configuration=models.ClientConfiguration(resume_connection=models.ClientConfigSetting.ENABLED))))
        await p.send_participant_update([q.to_proto() for q in p.room.participants.values() if not q.hidden])
        await p.send(rtc.SignalResponse(room_update=rtc.RoomUpdate(room=p.room.to_proto())))
        log.info("%s resumed in %s", p.identity, p.room.name)
        if p.subscriber is not None and p.subscriber.remote_set and not p.single_pc:
            # the client completes a resume when the subscriber PC renegotiates (ICE restart)
            await p.subscriber.restart_ice()
            p.subscriber.needs_negotiation = True
            p.schedule_negotiation()

    # -- the signal loop -------------------------------------------------------------------------
    async def _serve(self, p: Participant, conn: SignalConnection) -> None:
        async def on_request(req: rtc.SignalRequest) -> None:
            try:
                await self.handle_request(p, req)
            except (errors.ProtocolError, WireError, ValueError) as e:  # SDP, DTLS params, content
                log.warning("%s/%s: bad request: %s", p.room.name, p.identity, e)
                await p.request_response(rtc.RequestResponse.INVALID_REQUEST, str(e))

        async def on_bad(reason: str) -> None:
            log.warning("%s/%s: closing signal connection: %s", p.room.name, p.identity, reason)
            await conn.send(leave_response(models.DisconnectReason.STATE_MISMATCH))

        watchdog = asyncio.get_running_loop().create_task(self._watch_signal(p, conn))
        try:
            why = await read_requests(conn, on_request, on_bad)
        finally:
            watchdog.cancel()
        if p.closed or p.conn is not conn:
            return
        if why.startswith("bad message"):
            await conn.close(1003, why[:100])
            await p.disconnect(models.DisconnectReason.STATE_MISMATCH, send_leave=False)
            return
        # signal lost without a leave: keep the participant for a resume
        p.conn = None
        self._lost_tasks[p.sid] = asyncio.get_running_loop().create_task(self._expire(p))

    async def _watch_signal(self, p: Participant, conn: SignalConnection) -> None:
        """refresh the access token now and every REFRESH_INTERVAL; drop a
        connection whose client stopped pinging (it may resume)"""
        next_refresh = time.monotonic()
        while not p.closed and p.conn is conn:
            now = time.monotonic()
            if self.keys is not None and now >= next_refresh:
                next_refresh = now + REFRESH_INTERVAL
                try:
                    await p.send(rtc.SignalResponse(refresh_token=auth.refreshed(self.keys, p.claims)))
                except auth.AuthError as e:
                    log.warning("%s: cannot refresh token: %s", p.identity, e)
            if now - p.last_ping > PING_TIMEOUT:
                log.info("%s/%s: no ping for %d s, closing the signal connection", p.room.name, p.identity,
                         PING_TIMEOUT)
                await conn.close(1000, "ping timeout")
                return
            await asyncio.sleep(1.0)

    async def _expire(self, p: Participant) -> None:
        await asyncio.sleep(RESUME_WINDOW)
        self._lost_tasks.pop(p.sid, None)
        if p.conn is None and not p.closed:
            log.info("%s/%s: signal not resumed, removing", p.room.name, p.identity)
            await p.disconnect(models.DisconnectReason.SIGNAL_CLOSE, send_leave=False)

    async def handle_request(self, p: Participant, req: rtc.SignalRequest) -> None:
        which = req.WhichOneof("message")
        if which in ("ping", "ping_req"):
            p.last_ping = time.monotonic()
        else:
            log.debug("%s/%s < %s", p.room.name, p.identity, which)
        reply = pong(req)
        if reply is not None:
            await p.send(reply)
        elif which == "offer":
            await p.handle_offer(req.offer)
        elif which == "answer":
            await p.handle_answer(req.answer)
        elif which == "trickle":
            pass   # ICE-lite: the client's checks reveal its addresses
        elif which == "add_track":
            await p.add_track(req.add_track)
        elif which == "mute":
            await p.mute_track(req.mute)
        elif which == "subscription":
            await p.update_subscription(req.subscription)
        elif which == "track_setting":
            await p.update_track_settings(req.track_setting)
        elif which == "leave":
            await p.disconnect(models.DisconnectReason.CLIENT_INITIATED, send_leave=False)
            if p.conn is not None:
                await p.conn.close(1000, "left")
        elif which == "update_metadata":
            await self.update_metadata(p, req.update_metadata)
        elif which in ("sync_state", "update_layers", "subscription_permission", "simulate",
                       "update_audio_track", "update_video_track"):
            log.debug("%s: %s not acted on", p.identity, which)
        else:
            log.debug("%s: unsupported request %s", p.identity, which)

    async def update_metadata(self, p: Participant, req: rtc.UpdateParticipantMetadata) -> None:
        if not p.grants.canUpdateOwnMetadata:
            await p.request_response(rtc.RequestResponse.NOT_ALLOWED, "no permission to update metadata",
                                     request_id=req.request_id)
            return
        if req.metadata:
            p.metadata = req.metadata
        if req.name:
            p.name = req.name
        p.attributes.update({k: v for k, v in req.attributes.items()})
        for k in [k for k, v in req.attributes.items() if v == ""]:
            p.attributes.pop(k, None)
        p.bump()
        await self.participant_changed(p)

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

    # -- room events -------------------------------------------------------------------------------
    async def broadcast(self, room: Room, infos: list[models.ParticipantInfo],
                        exclude: Participant | None = None) -> None:
        for q in list(room.participants.values()):
            if q is not exclude and not q.closed:
                await q.send_participant_update(infos)

    async def participant_changed(self, p: Participant) -> None:
        if not p.hidden:
            await self.broadcast(p.room, [p.to_proto()])
        else:
            await p.send_participant_update([p.to_proto()])

    async def participant_active(self, p: Participant) -> None:
        await self.participant_changed(p)
        if p.auto_subscribe:
            for pub in p.room.all_tracks():
                if pub.participant is not p and pub.published:
                    await p.subscribe(pub)

    async def track_published(self, p: Participant, pub: TrackPublication) -> None:
        log.info("%s/%s published %s %s (%s)", p.room.name, p.identity, pub.kind, pub.sid, pub.info.mime_type)
        await self.participant_changed(p)
        p.room.emit("track_published", pub)
        for q in list(p.room.participants.values()):
            if q is not p and q.auto_subscribe and q.state == models.ParticipantInfo.ACTIVE:
                await q.subscribe(pub)

    async def layer_added(self, p: Participant, pub: TrackPublication) -> None:
        # subscribers waiting for a better layer move up
        for sub in list(pub.subscriptions.values()):
            best = pub.best_layer(sub.quality)
            if sub.consumer is not None and best is not None and sub.layer is not None and \
                    best.quality > sub.layer.quality:
                await sub.consumer.set_producer(best.producer)
                sub.layer = best

    async def track_unpublished(self, p: Participant, pub: TrackPublication) -> None:
        for sub in list(pub.subscriptions.values()):
            await sub.subscriber.unsubscribe(pub)
        await self.participant_changed(p)

    async def on_data(self, p: Participant, label: str, data: bytes) -> None:
        """a DataPacket from a client: stamp the sender, forward to the others"""
        if label not in DATA_LABELS:
            return
        if not p.grants.canPublishData:
            return
        pkt = decode_data_packet(data)
        if pkt is None:
            log.debug("%s: undecodable data packet dropped", p.identity)
            return
        await self.deliver_data(p.room, pkt, sender=p, label=label)

    async def deliver_data(self, room: Room, pkt: models.DataPacket, sender: Participant | None = None,
                           label: str | None = None) -> int:
        """send a DataPacket to the participants it is for: everyone but the sender, or
        only its destination identities/sids.  The sender's identity is stamped on the
        packet (empty for the server API, or for a hidden sender).  Returns how many
        data channels took it."""
        if label is None:
            label = DATA_LABELS[1] if pkt.kind == models.DataPacket.LOSSY else DATA_LABELS[0]
        visible = sender is not None and not sender.hidden
        pkt.participant_identity = sender.identity if visible else ""
        pkt.participant_sid = sender.sid if visible else ""
        if pkt.HasField("user"):
            pkt.user.participant_identity = pkt.participant_identity
            pkt.user.participant_sid = pkt.participant_sid
        payload = pkt.SerializeToString()
        sent = 0
        for q in data_recipients(room, pkt, sender):
            peer = q.data_pc
            if peer is not None and await peer.send_data(label, payload):
                sent += 1
        return sent

    async def participant_lost(self, p: Participant, why: str) -> None:
        if p.closed:
            return
        log.info("%s/%s lost: %s", p.room.name, p.identity, why)
        await p.disconnect(models.DisconnectReason.MEDIA_FAILURE if "failed" in why
                           else models.DisconnectReason.UNKNOWN_REASON)

    async def remove_participant(self, p: Participant, reason: int) -> None:
        if p.closed:
            return
        p.closed = True
        p.state = models.ParticipantInfo.DISCONNECTED
        p.disconnect_reason = reason
        p.bump()
        task = self._lost_tasks.pop(p.sid, None)
        if task is not None:
            task.cancel()
        room = p.room
        for pub in list(p.tracks.values()):
            for sub in list(pub.subscriptions.values()):
                await sub.subscriber.unsubscribe(pub)
        for pub in room.all_tracks():
            pub.subscriptions.pop(p.identity, None)
        await p.close_transports()
        room.remove(p)
        if not p.hidden:
            await self.broadcast(room, [p.to_proto()])
        log.info("%s left %s (%s)", p.identity, room.name, models.DisconnectReason.Name(reason))


def data_recipients(room: Room, pkt: models.DataPacket, sender: Participant | None = None) -> list[Participant]:
    """who receives a DataPacket: every open participant but the sender, narrowed to
    the packet's destination identities (or the user packet's destination sids)"""
    identities = set(pkt.destination_identities) or set(pkt.user.destination_identities)
    sids = set(pkt.user.destination_sids)
    out = []
    for q in list(room.participants.values()):
        if q is sender or q.closed:
            continue
        if (identities or sids) and q.identity not in identities and q.sid not in sids:
            continue
        out.append(q)
    return out
