"""A SignalResponse encoded once for many connections.

A room's broadcast sends the same ParticipantUpdate to every participant: building a
message per recipient copies every ParticipantInfo into it again (protobuf messages are
copied into a repeated field), which makes a join storm O(N^2) in message copies.
Prepared holds the encoding once; a batch of updates, where every recipient gets all but
its own info, is assembled from the infos' encodings by concatenation -- protobuf's wire
format is a sequence of fields, so the bytes equal what the message would serialize to.
A JoinResponse lists every other participant: their infos, encoded once per change by
their owners, are appended to the rest of the response the same way (a parser takes a
message's fields in any order).  The message itself is built only for a connection that
speaks JSON.
"""

from __future__ import annotations

from typing import Callable

from livekit.protocol import models, rtc

_UPDATE = rtc.SignalResponse.DESCRIPTOR.fields_by_name["update"].number
_JOIN = rtc.SignalResponse.DESCRIPTOR.fields_by_name["join"].number
_OTHERS = rtc.JoinResponse.DESCRIPTOR.fields_by_name["other_participants"].number
_PARTICIPANTS = rtc.ParticipantUpdate.DESCRIPTOR.fields_by_name["participants"].number
_LEN = 2                         # wire type of a length-delimited field


def _varint(n: int) -> bytes:
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _wrap(tag: bytes, body: bytes) -> bytes:
    n = len(body)
    return tag + (bytes((n,)) if n < 0x80 else _varint(n)) + body


def _field(number: int, body: bytes) -> bytes:
    return _wrap(_varint(number << 3 | _LEN), body)


def _fields(number: int, bodies: list[bytes]) -> bytes:
    """the encodings of many fields of the same number (a repeated field)"""
    tag = _varint(number << 3 | _LEN)
    return b"".join(_wrap(tag, b) for b in bodies)


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


def wire_bytes(msg: rtc.SignalResponse | Prepared) -> bytes:
    """what a connection sends for `msg` in binary mode"""
    return msg.binary if isinstance(msg, Prepared) else msg.SerializeToString()


def as_message(msg: rtc.SignalResponse | Prepared) -> rtc.SignalResponse:
    """`msg` as a message (for a connection that speaks JSON)"""
    return msg.message() if isinstance(msg, Prepared) else msg


class UpdateParts:
    """ParticipantInfos encoded once, for ParticipantUpdates of any subset of them"""

    def __init__(self, infos: list[models.ParticipantInfo]) -> None:
        self.infos = infos
        tag = _varint(_PARTICIPANTS << 3 | _LEN)
        self._parts = [_wrap(tag, i.SerializeToString()) for i in infos]
        self._all: Prepared | None = None
        self._where: dict[str, list[int]] = {}       # identity -> its infos' positions
        for k, i in enumerate(infos):
            self._where.setdefault(i.identity, []).append(k)

    def update(self, skip_identity: str | None = None) -> Prepared | None:
        """the ParticipantUpdate of every info but the one of `skip_identity` (None: nothing left).
        A recipient the batch does not name shares one message; one it names costs a join
        of the others' bytes (no loop in Python: a batch flush to N is not O(N x batch))"""
        skip = self._where.get(skip_identity) if skip_identity is not None else None
        if not skip:
            if self._all is None:
                self._all = self._prepare(range(len(self.infos)))
            return self._all
        if len(skip) == len(self.infos):
            return None
        if len(skip) == 1:
            k = skip[0]
            return self._prepare(range(k), range(k + 1, len(self.infos)))
        return self._prepare([k for k in range(len(self.infos)) if k not in skip])

    def _prepare(self, *spans: range | list[int]) -> Prepared:
        parts = self._parts
        body = b"".join(b"".join(parts[k.start:k.stop]) if isinstance(k, range) else b"".join(parts[j] for j in k)
                        for k in spans)     # (a range is a slice: joined in C)
        return Prepared(_field(_UPDATE, body), "update",
                        lambda: rtc.SignalResponse(update=rtc.ParticipantUpdate(
                            participants=[self.infos[j] for k in spans for j in k])))


def join_response(join: rtc.JoinResponse, others: list[bytes]) -> Prepared:
    """SignalResponse(join=...) with `others` (encoded ParticipantInfos) as its
    other_participants, appended to `join`'s own encoding"""
    body = join.SerializeToString() + _fields(_OTHERS, others)

    def build() -> rtc.SignalResponse:
        msg = rtc.SignalResponse(join=join)
        msg.join.other_participants.extend(models.ParticipantInfo.FromString(b) for b in others)
        return msg
    return Prepared(_field(_JOIN, body), "join", build)
