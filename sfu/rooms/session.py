"""A participant's signal session: join (or refusal), resume after a lost signal connection,
the request loop with its ping watchdog and token refresh, and leaving.  The signal layer
(sfu.signaling) hands every verified join to `Sessions.run_session`, once per connection.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from typing import Any, Callable, Sequence

from google.protobuf import json_format
from livekit.protocol import models, rtc
from livekit.protocol import room as room_pb

from .. import auth, errors, limits
from ..protocol.common import ProtocolError as WireError
from ..signaling.connection import Connection, leave_response, pong, read_requests
from ..signaling.join import JoinError, JoinParams
from ..signaling.prepared_response import join_response
from .events import ParticipantEvents
from .participant import Participant
from .room import Room, RoomManager, RoomOptions
from .server_info import LIVEKIT_FEATURE_LEVEL, server_info

log = logging.getLogger("sfu.rooms")

REFRESH_INTERVAL = 300
PING_INTERVAL = 5
PING_TIMEOUT = 15
RESUME_WINDOW = 15.0          # a participant whose signal dropped may resume this long


class Sessions:
    """The signal sessions of this node's participants (sfu.signaling.server.SessionHost)."""

    def __init__(self, manager: RoomManager, events: ParticipantEvents, node_id: str,
                 keys: auth.KeyProvider | None = None) -> None:
        self.manager = manager
        self.events = events          # given to every participant created here
        self.node_id = node_id
        self.keys = keys
        self._lost_tasks: dict[str, asyncio.Task] = {}
        # identity -> the ICE servers (objects with urls, username, credential) its JoinResponse and
        # ReconnectResponse hand out; set by the server's wiring (sfu.ice_servers)
        self.ice_servers_for: Callable[[str], Sequence[Any]] | None = None

    def ice_servers(self, identity: str) -> list[rtc.ICEServer]:
        if self.ice_servers_for is None:
            return []
        return [rtc.ICEServer(urls=list(s.urls), username=s.username, credential=s.credential)
                for s in self.ice_servers_for(identity)]

    def server_info(self) -> models.ServerInfo:
        return server_info(self.node_id)

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
    def check_join(self, params: JoinParams, placed_here: bool = True) -> None:
        room = self.manager.get(params.room)
        if room is None and not (self.manager.auto_create or params.claims.video.roomCreate):
            # LiveKit's words: livekit-client reads a 404 from validate without them as "no /rtc/v1"
            raise JoinError(404, f"requested room does not exist: {params.room}")
        if room is None and placed_here and self.manager.draining:
            raise JoinError(503, f"this node is draining: room {params.room} cannot start here")
        if room is not None:
            try:
                room.check_can_join(params.identity)
            except errors.LimitReachedError as e:
                raise JoinError(503, str(e)) from None
        if params.reconnect:
            p = room.participants.get(params.identity) if room else None
            if p is None or p.closed or (params.participant_sid and p.sid != params.participant_sid):
                return  # handled on the socket: leave(RECONNECT)

    async def run_session(self, params: JoinParams, conn: Connection) -> None:
        room = self.manager.get(params.room)
        if params.reconnect:
            p = room.participants.get(params.identity) if room else None
            if p is None or p.closed or (params.participant_sid and p.sid != params.participant_sid):
                await conn.send(leave_response(models.DisconnectReason.STATE_MISMATCH, rtc.LeaveRequest.RECONNECT))
                await conn.close(1000, "state mismatch")
                return
            await self._resume(p, conn)
            if params.sync_state is not None:      # /rtc/v1: it rides in the join request
                await self.sync_state(p, params.sync_state)
        else:
            try:
                if room is None:
                    room, _ = self.manager.create(params.room, self.options_from_token(params.claims))
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

    async def _join(self, room: Room, params: JoinParams, conn: Connection) -> Participant | None:
        old = room.participants.get(params.identity)
        if old is not None:
            await old.disconnect(models.DisconnectReason.DUPLICATE_IDENTITY)
        p = Participant(room, params, conn, self.events)
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
        # the others' infos as their owners encoded them: a join into a room of N costs N
        # lookups, not N messages built, copied and serialized
        others = [q.encoded_info() for q in room.others(p) if not q.hidden]
        join = rtc.JoinResponse(
            room=room.to_proto(), participant=p.to_proto(),
            server_version=LIVEKIT_FEATURE_LEVEL, server_info=self.server_info(),
            subscriber_primary=p.subscriber_primary, ping_interval=PING_INTERVAL, ping_timeout=PING_TIMEOUT,
            client_configuration=models.ClientConfiguration(resume_connection=models.ClientConfigSetting.ENABLED),
            sif_trailer=os.urandom(8), ice_servers=self.ice_servers(p.identity))
        join.enabled_publish_codecs.extend([
            models.Codec(mime="audio/opus"), models.Codec(mime="audio/red"), models.Codec(mime="video/VP8"),
            models.Codec(mime="video/H264"), models.Codec(mime="video/VP9"), models.Codec(mime="video/AV1")])
        await p.send(join_response(join, others))
        log.info("%s joined %s as %s (protocol %d)", p.identity, room.name, p.sid, p.protocol)
        if not p.hidden:
            await room.broadcast_participant(p, exclude=p)
        if p.subscriber_primary and p.subscriber is not None:
            p.subscriber.needs_negotiation = True
            p.schedule_negotiation()
        if params.publisher_offer is not None:
            await p.handle_offer(params.publisher_offer)

    async def _resume(self, p: Participant, conn: Connection) -> None:
        self.cancel_expiry(p)
        old = p.conn
        p.conn = conn
        p.last_ping = time.monotonic()
        if old is not None and old is not conn:
            await old.close(1000, "resumed elsewhere")
        await p.send(rtc.SignalResponse(reconnect=rtc.ReconnectResponse(
            server_info=self.server_info(), ice_servers=self.ice_servers(p.identity),
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
    async def _serve(self, p: Participant, conn: Connection) -> None:
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

    async def _watch_signal(self, p: Participant, conn: Connection) -> None:
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
        elif which in ("publish_data_track_request", "unpublish_data_track_request"):
            # data tracks are not implemented: say so at once (the client surfaces the error
            # instead of timing out), echoing the request as LiveKit's RequestResponse does
            field = "publish_data_track" if which.startswith("publish") else "unpublish_data_track"
            await p.request_response(rtc.RequestResponse.UNSUPPORTED_TYPE, "data tracks are not supported by this server",
                                     **{field: getattr(req, which)})
        elif which == "subscription_permission":
            await p.set_subscription_permission(req.subscription_permission)
        elif which == "sync_state":
            await self.sync_state(p, req.sync_state)
        elif which in ("update_layers", "simulate", "update_audio_track", "update_video_track"):
            log.debug("%s: %s not acted on", p.identity, which)
        else:
            log.debug("%s: unsupported request %s", p.identity, which)

    async def sync_state(self, p: Participant, state: rtc.SyncState) -> None:
        """a resuming client's view of its session, as LiveKit's onSyncState takes it: a track it
        says it publishes that we do not know (published or pending) means the resume cannot
        work, so it is asked to join again; else the tracks it disabled and its subscriptions
        are applied (the answer, offer and data channels in it need nothing of an ICE-lite
        server that keeps its transports)"""
        for t in state.publish_tracks:
            if not t.HasField("track") or t.track.sid not in p.tracks:
                log.info("%s/%s: resumed with a track we do not know (%s): full reconnect", p.room.name, p.identity,
                         t.track.sid if t.HasField("track") else "no TrackInfo")
                await p.disconnect(models.DisconnectReason.STATE_MISMATCH, action=rtc.LeaveRequest.RECONNECT)
                return
        if state.track_sids_disabled:
            await p.update_track_settings(rtc.UpdateTrackSettings(track_sids=list(state.track_sids_disabled),
                                                                  disabled=True))
        sub = state.subscription
        if sub.track_sids or sub.participant_tracks:
            await p.update_subscription(sub)

    async def update_metadata(self, p: Participant, req: rtc.UpdateParticipantMetadata) -> None:
        if not p.grants.canUpdateOwnMetadata:
            await p.request_response(rtc.RequestResponse.NOT_ALLOWED, "no permission to update metadata",
                                     request_id=req.request_id)
            return
        problem = limits.participant_fields_problem(req.metadata, req.name, dict(req.attributes))
        if problem:      # as the server API refuses it; nothing of it is applied
            await p.request_response(rtc.RequestResponse.LIMIT_EXCEEDED, problem, request_id=req.request_id)
            return
        if req.metadata:
            p.metadata = req.metadata
        if req.name:
            p.name = req.name
        p.attributes.update({k: v for k, v in req.attributes.items()})
        for k in [k for k, v in req.attributes.items() if v == ""]:
            p.attributes.pop(k, None)
        p.bump()
        await self.events.participant_changed(p)

    def cancel_expiry(self, p: Participant) -> None:
        """stop waiting for `p` to resume (it resumed, or it left)"""
        task = self._lost_tasks.pop(p.sid, None)
        if task is not None:
            task.cancel()
