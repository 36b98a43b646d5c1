"""Data packets (LiveKit DataPacket) on the `_reliable` and `_lossy` data channels: received
from a participant or sent through the server API, stamped with the sender, and delivered to
the participants they are for.
"""

from __future__ import annotations

import logging

from google.protobuf.message import DecodeError
from livekit.protocol import models

from .participant import Participant
from .room import Room

log = logging.getLogger("sfu.rooms")

DATA_LABELS = ("_reliable", "_lossy")


def decode_data_packet(data: bytes) -> models.DataPacket | None:
    pkt = models.DataPacket()
    try:
        pkt.ParseFromString(data)
    except DecodeError:
        return None
    return pkt


async def receive_data(p: Participant, label: str, data: bytes) -> None:
    """a DataPacket from a client: stamp the sender, forward to the others"""
    if label not in DATA_LABELS:
        return
    if not p.grants.canPublishData:
        return
    pkt = decode_data_packet(data)
    if pkt is None:
        log.debug("%s: undecodable data packet dropped", p.identity)
        return
    await deliver_data(p.room, pkt, sender=p, label=label)


async def deliver_data(room: Room, pkt: models.DataPacket, sender: Participant | None = None,
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
