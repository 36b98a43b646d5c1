"""Data packets (LiveKit DataPacket) on the `_reliable` and `_lossy` data channels: received
from a participant or sent through the server API, stamped with the sender, and delivered to
the participants they are for.
"""

from __future__ import annotations

import logging
from typing import Callable

from google.protobuf.message import DecodeError
from livekit.protocol import models

from ..protocol import sdp
from .data_identity import on_behalf_of
from .participant import Participant
from .peer_transport import send_data_to_many
from .room import Room

log = logging.getLogger("sfu.rooms")

DATA_LABELS = ("_reliable", "_lossy")


def too_large(pkt: models.DataPacket) -> str:
    """why `pkt` cannot go out on a data channel ("" if it can): one SCTP message carries one
    DataPacket, at most our SDP's a=max-message-size"""
    size = pkt.ByteSize()
    if size > sdp.DEFAULT_MAX_MESSAGE_SIZE:
        return (f"data packet of {size} bytes exceeds the data channel's "
                f"{sdp.DEFAULT_MAX_MESSAGE_SIZE}-byte message limit")
    return ""


def decode_data_packet(data: bytes) -> models.DataPacket | None:
    pkt = models.DataPacket()
    try:
        pkt.ParseFromString(data)
    except DecodeError:
        return None
    return pkt


async def receive_data(p: Participant, label: str, data: bytes,
                       taken: Callable[[models.DataPacket], bool] | None = None) -> None:
    """a DataPacket from a client: stamp the sender, forward to the others (unless `taken`
    takes it: answers to the server's own RPC calls)"""
    if label not in DATA_LABELS:
        return
    pkt = decode_data_packet(data)
    if pkt is None:
        log.debug("%s: undecodable data packet dropped", p.identity)
        return
    if taken is not None and taken(pkt):
        return
    if not p.grants.canPublishData:
        return
    agent = p.kind == models.ParticipantInfo.AGENT
    if pkt.HasField("transcription") and not agent:
        return          # transcriptions come from agents only (LiveKit drops the others)
    keep = on_behalf_of(agent, p.identity, pkt)
    which = pkt.WhichOneof("value")
    if agent and which in ("stream_header", "stream_chunk", "stream_trailer"):
        keep = p.streams_on_behalf.follow(pkt, keep)
    await deliver_data(p.room, pkt, sender=p, label=label, keep_identity=keep)
    p.room.emit("data_received", (p, pkt, label))     # stamped with the sender by now


async def deliver_data(room: Room, pkt: models.DataPacket, sender: Participant | None = None,
                       label: str | None = None, keep_identity: str = "") -> int:
    """send a DataPacket to the participants it is for: everyone but the sender, or
    only its destination identities/sids.  The sender's identity is stamped on the
    packet (empty for the server API, or for a hidden sender), unless `keep_identity`
    (an agent's packet on behalf of that participant: on_behalf_of).  Returns how many
    data channels took it."""
    if label is None:
        label = DATA_LABELS[1] if pkt.kind == models.DataPacket.LOSSY else DATA_LABELS[0]
    visible = sender is not None and not sender.hidden
    if keep_identity:      # the sid stays the sender's (with the named one's, the rtc SDK lost that one's next stream)
        pkt.participant_identity = keep_identity
        pkt.participant_sid = sender.sid if sender is not None else ""
    else:
        pkt.participant_identity = sender.identity if visible else ""
        pkt.participant_sid = sender.sid if visible else ""
    if pkt.HasField("user"):
        pkt.user.participant_identity = pkt.participant_identity
        pkt.user.participant_sid = pkt.participant_sid
    payload = pkt.SerializeToString()
    if visible:
        await room.announce_now(sender)     # a viewer still in the update batch: known first
    peers = [q.data_pc for q in data_recipients(room, pkt, sender)]
    return await send_data_to_many([peer for peer in peers if peer is not None], label, payload)


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
