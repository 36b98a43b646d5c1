"""Whose identity a data packet carries (pure).  The server stamps the sender's on everything
a participant sends, except what an agent sends on behalf of a participant, as LiveKit does:
a chat message or a text stream (a user's transcript) naming that participant keeps its
identity and is marked generated; the chunks and trailer of such a stream follow its header.
"""

from __future__ import annotations

from livekit.protocol import models


def on_behalf_of(sender_is_agent: bool, sender_identity: str, pkt: models.DataPacket) -> str:
    """the identity an agent's packet keeps instead of the agent's own ("" when the sender's is
    stamped, as for everything else), as LiveKit does: an agent may send a chat message or a
    text stream on behalf of a participant (a user's transcript), named in the packet's
    participant_identity; such packets are marked generated"""
    named = pkt.participant_identity
    if not sender_is_agent or not named or named == sender_identity:
        return ""
    which = pkt.WhichOneof("value")
    if which == "chat_message":
        pkt.chat_message.generated = True
        return named
    if which == "stream_header" and pkt.stream_header.WhichOneof("content_header") == "text_header":
        pkt.stream_header.text_header.generated = True
        return named
    return ""


class StreamsOnBehalf:
    """an agent's open text streams sent on someone's behalf (stream id -> that identity), so that
    their chunks and trailer carry the same identity as their header: a receiver keeps a stream's
    parts together by sender (bounded: the oldest is forgotten past MAX)"""

    MAX = 64

    def __init__(self) -> None:
        self._open: dict[str, str] = {}

    def follow(self, pkt: models.DataPacket, kept: str) -> str:
        which = pkt.WhichOneof("value")
        if which == "stream_header":
            if kept:
                if len(self._open) >= self.MAX:
                    self._open.pop(next(iter(self._open)))
                self._open[pkt.stream_header.stream_id] = kept
            return kept
        if which == "stream_chunk":
            return self._open.get(pkt.stream_chunk.stream_id, "")
        return self._open.pop(pkt.stream_trailer.stream_id, "")
