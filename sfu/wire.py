"""Protobuf over WebSocket, as LiveKit frames it: binary frames carry protobuf;
a text frame carries protobuf JSON and switches that connection's replies to
JSON (the signal and agent endpoints share this)."""

from __future__ import annotations

from typing import Any, TypeVar

from aiohttp import WSMsgType
from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message

from . import errors

M = TypeVar("M", bound=Message)


def decode_frame(msg: Any, cls: type[M]) -> tuple[M, bool]:
    """(message, was JSON); ProtocolError for anything malformed or empty"""
    m = cls()
    name = cls.DESCRIPTOR.name
    if msg.type == WSMsgType.BINARY:
        is_json = False
        try:
            m.ParseFromString(msg.data)
        except DecodeError:
            raise errors.ProtocolError(f"malformed {name}") from None
    elif msg.type == WSMsgType.TEXT:
        is_json = True
        try:
            json_format.Parse(msg.data, m)
        except json_format.ParseError as e:
            raise errors.ProtocolError(f"malformed {name} JSON: {e}") from None
    else:
        raise errors.ProtocolError(f"unexpected WebSocket frame {msg.type}")
    if m.WhichOneof("message") is None:
        raise errors.ProtocolError(f"empty {name}")
    return m, is_json

