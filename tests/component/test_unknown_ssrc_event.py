"""unknown_ssrc from the data plane: RTP on a WebRTC transport for an SSRC no
producer owns is reported once (per SSRC change, at most once a second) with
the payload type, mid, rid and repaired rid the C parser read with the
transport's negotiated header extension ids.  A worker in process, real
UDP and SRTP on loopback."""

from __future__ import annotations

import asyncio
import os
import struct
import time

import pylibsrtp
import pytest

from helpers.in_process_worker import in_process_worker
from helpers.net import udp_socket
from sfu import srtp
from sfu.native import lib
from sfu.worker import messages
from sfu.protocol.sdp.extensions import EXT_AUDIO_LEVEL, EXT_MID as MID_URI, EXT_REPAIRED_RID as RRID_URI, EXT_RID as RID_URI, EXT_TWCC as TWCC_URI
from sfu.worker.command_fields import header_extension_ids
from sfu.worker.main import Worker

KEY = os.urandom(28)


class Events:
    def __init__(self) -> None:
        self.got: list[tuple[str, dict]] = []

    def emit(self, event: str, data: dict) -> None:
        messages.check_event(event, data)
        self.got.append((event, data))


def one_byte(elems: list[tuple[int, bytes]]) -> bytes:
    body = b"".join(bytes([(i << 4) | (len(v) - 1)]) + v for i, v in elems)
    body += bytes(-len(body) % 4)
    return struct.pack("!HH", 0xBEDE, len(body) // 4) + body


def two_byte(elems: list[tuple[int, bytes]]) -> bytes:
    body = b"".join(bytes([i, len(v)]) + v for i, v in elems)
    body += bytes(-len(body) % 4)
    return struct.pack("!HH", 0x1000, len(body) // 4) + body


def rtp(ssrc: int, pt: int, seq: int, ext: bytes) -> bytes:
    return struct.pack("!BBHII", 0x90, pt, seq, 3000 * seq, ssrc) + ext + b"\x10\x00" + b"v" * 40


@pytest.fixture
async def setup():
    with in_process_worker() as w:
        w.channel = Events()
        yield w, _webrtc_publisher(w)


def _webrtc_publisher(w: Worker):
    """transport 1: WebRTC, SRTP keys set, connected to a local socket; returns send(plain RTP)"""
    pub = udp_socket()
    info = w.on_transport_create({"id": 1, "kind": "webrtc", "ice_ufrag": "uf00", "ice_pwd": "p" * 24})
    w.on_transport_connect({"id": 1, "ip": pub.getsockname()[0], "port": pub.getsockname()[1]})
    w.on_transport_set_srtp({"id": 1, "profile": srtp.AEAD_AES_128_GCM, "recv_key": KEY.hex(),
                             "send_key": os.urandom(28).hex()})
    tx = pylibsrtp.Session(pylibsrtp.Policy(key=KEY, ssrc_type=pylibsrtp.Policy.SSRC_ANY_OUTBOUND,
                                            srtp_profile=pylibsrtp.Policy.SRTP_PROFILE_AEAD_AES_128_GCM))

    def send(pkt: bytes) -> None:
        pub.sendto(tx.protect(pkt), (info["ip"], info["port"]))

    return send


async def events(w: Worker, count: int, timeout: float = 2.0) -> list[dict]:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        w.on_queue_readable()
        if len(w.channel.got) >= count:
            break
        await asyncio.sleep(0.01)
    assert all(e == "unknown_ssrc" for e, _ in w.channel.got), w.channel.got
    return [d for _, d in w.channel.got]


def test_extension_ids_from_the_remote_extmap():
    extmap = {MID_URI: 4, RID_URI: 10, RRID_URI: 11, TWCC_URI: 3, EXT_AUDIO_LEVEL: 1}
    assert header_extension_ids(extmap) == {"transport_cc": 3, "mid": 4, "rid": 10, "repaired_rid": 11,
                                            "audio_level": 1}
    # transport-cc feedback needs a one-byte id; mid/rid may use two-byte ids
    assert header_extension_ids({TWCC_URI: 20, MID_URI: 20}) == {"transport_cc": 0, "mid": 20, "rid": 0,
                                                                 "repaired_rid": 0, "audio_level": 0}
    assert header_extension_ids({}) == {"transport_cc": 0, "mid": 0, "rid": 0, "repaired_rid": 0,
                                        "audio_level": 0}


async def test_mid_rid_and_payload_type_read_in_c(setup):
    w, send = setup
    w.nl.transport_set_header_extensions(1, header_extension_ids({MID_URI: 4, RID_URI: 10, RRID_URI: 11}))
    send(rtp(0x1111, 96, 1, one_byte([(4, b"0"), (10, b"h")])))
    send(rtp(0x1111, 96, 2, one_byte([(4, b"0"), (10, b"h")])))          # same SSRC within 1 s: once
    send(rtp(0x2222, 97, 3, two_byte([(4, b"video-1"), (11, b"f")])))    # two-byte form, repaired rid
    send(rtp(0x3333, 111, 4, one_byte([(3, b"\x00\x01")])))               # nothing we know
    got = await events(w, 3)
    assert got == [
        {"id": 1, "ssrc": 0x1111, "payload_type": 96, "mid": "0", "rid": "h", "rrid": ""},
        {"id": 1, "ssrc": 0x2222, "payload_type": 97, "mid": "video-1", "rid": "", "rrid": "f"},
        {"id": 1, "ssrc": 0x3333, "payload_type": 111, "mid": "", "rid": "", "rrid": ""},
    ]
    st = w.on_worker_stats({})["stats"]
    assert st["drops"].get("unknown_ssrc") == 4


async def test_without_negotiated_ids_nothing_is_read(setup):
    w, send = setup
    send(rtp(0x1111, 96, 1, one_byte([(4, b"0"), (10, b"h")])))
    assert await events(w, 1) == [{"id": 1, "ssrc": 0x1111, "payload_type": 96, "mid": "", "rid": "", "rrid": ""}]
