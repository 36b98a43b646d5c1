"""A SignalResponse encoded once for many connections.

A room's broadcast sends the same ParticipantUpdate to every participant: building a
message per recipient copies every ParticipantInfo into it again (protobuf messages are
copied into a repeated field), which makes a join storm O(N^2) in message copies.
Prepared holds the encoding once; a batch of updates, where every recipient gets all but
its own info, is assembled from the infos' encodings by concatenation -- protobuf's wire
format is a sequence of fields, so the bytes equal what the message would serialize to.
The message itself is built only for a connection that speaks JSON.
"""

from __future__ import annotations

from typing import Callable

from livekit.protocol import models, rtc

_UPDATE = rtc.SignalResponse.DESCRIPTOR.fields_by_name["update"].number
_PARTICIPANTS = rtc.ParticipantUpdate.DESCRIPTOR.fields_by_name["participants"].number
_LEN = 2                         # wire type of a length-delimited field


def _varint(n: int) -> bytes:
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _field(number: int, body: bytes) -> bytes:
    return _varint(number << 3 | _LEN) + _varint(len(body)) + body


class Prepared:
    """an encoded SignalResponse; `message()` builds the message (for JSON) on demand"""

    __slots__ = ("binary", "which", "_build", "_msg")

    def __init__(self, binary: bytes, which: str, build: Callable[[], rtc.SignalResponse]) -> None:
        self.binary = binary
        self.which = which
        self._build = build
        self._msg: rtc.SignalResponse | None = None

    @classmethod
    def of(cls, msg: rtc.SignalResponse) -> "Prepared":
        return cls(msg.SerializeToString(), msg.WhichOneof("message") or "", lambda: msg)

    def message(self) -> rtc.SignalResponse:
        if self._msg is None:
            self._msg = self._build()
        return self._msg


class UpdateParts:
    """ParticipantInfos encoded once, for ParticipantUpdates of any subset of them"""

    def __init__(self, infos: list[models.ParticipantInfo]) -> None:
        self.infos = infos
        self._parts = [_field(_PARTICIPANTS, i.SerializeToString()) for i in infos]
        self._all: Prepared | None = None

    def update(self, skip_identity: str | None = None) -> Prepared | None:
        """the ParticipantUpdate of every info but the one of `skip_identity` (None: nothing left)"""
        keep = [k for k, i in enumerate(self.infos) if i.identity != skip_identity]
        if not keep:
            return None
        if len(keep) == len(self.infos):
            if self._all is None:
                self._all = self._prepare(keep)
            return self._all
        return self._prepare(keep)

    def _prepare(self, keep: list[int]) -> Prepared:
        infos = [self.infos[k] for k in keep]
        body = b"".join(self._parts[k] for k in keep)
        return Prepared(_field(_UPDATE, body), "update",
                        lambda: rtc.SignalResponse(update=rtc.ParticipantUpdate(participants=infos)))
