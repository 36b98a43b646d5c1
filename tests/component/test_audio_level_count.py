"""The RFC 6464 levels of an audio producer's packets, counted in the data plane with the
transport's negotiated audio-level id (PRODUCER_AUDIO_LEVEL).  A worker in process, real UDP
and SRTP on loopback."""

from __future__ import annotations

import asyncio
import struct

import pytest

from helpers.in_process_worker import in_process_worker
from sfu.native import lib
from sfu.protocol.sdp.extensions import EXT_AUDIO_LEVEL, EXT_MID
from sfu.worker import messages

from .test_unknown_ssrc_event import Events, _webrtc_publisher, one_byte

SSRC = 0x5151


def opus(seq: int, level: int | None) -> bytes:
    ext = one_byte([(1, b"0")] if level is None else [(4, bytes([0x80 | level])), (1, b"0")])
    return struct.pack("!BBHII", 0x90, 111, seq, 960 * seq, SSRC) + ext + b"\xfc" + b"o" * 60


async def read(w, want_packets: int) -> dict:
    for _ in range(200):
        got = w.on_producer_audio_level({"id": 10})
        messages.check_reply("PRODUCER_AUDIO_LEVEL", got)
        if got["packets"] >= want_packets:
            return got
        await asyncio.sleep(0.01)
    return got


@pytest.mark.parametrize("negotiated", [True, False])
async def test_levels_are_counted_with_the_negotiated_id(negotiated):
    with in_process_worker() as w:
        w.channel = Events()
        send = _webrtc_publisher(w)
        extmap = {EXT_MID: 1, **({EXT_AUDIO_LEVEL: 4} if negotiated else {})}
        w.on_transport_set_header_extensions({"id": 1, "extmap": extmap})
        w.on_producer_create({"id": 10, "transport_id": 1, "ssrc": SSRC, "payload_type": 111, "kind": "audio",
                              "remote_workers": []})
        levels = [10, 20, 35, 36, 60, 127, None, 30]
        for i, level in enumerate(levels):
            send(opus(i + 1, level))
        got = await read(w, 7 if negotiated else 1)
        assert w.on_producer_stats({"id": 10})["packets"] == len(levels)        # all arrived
        if not negotiated:
            assert got == {"packets": 0, "loud": 0, "loud_dbov_sum": 0}
            return
        loud = [x for x in levels if x is not None and x <= lib.SFU_AUDIO_LOUD_DBOV]
        assert got == {"packets": 7, "loud": len(loud), "loud_dbov_sum": sum(loud)}
