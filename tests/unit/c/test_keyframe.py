"""Key frame detection per codec (csrc/rtp/codecs/): what a simulcast layer switch waits for."""

from __future__ import annotations

import struct

import pytest

from sfu._units import ffi, lib


def is_keyframe(payload: bytes, codec: int) -> int:
    pkt = struct.pack("!BBHII", 0x80, 96, 1, 0, 0x1234) + payload
    rtp = ffi.new("sfu_rtp_t *")
    assert lib.sfu_rtp_parse(pkt, len(pkt), rtp) == 0
    return lib.sfu_rtp_is_keyframe(pkt, rtp, codec)


CASES = [
    ("vp8 key", lib.SFU_CODEC_VP8, bytes([0x10, 0x00, 0x00, 0x00, 0x9D, 0x01, 0x2A]) + bytes(8), 1),
    ("vp8 delta", lib.SFU_CODEC_VP8, bytes([0x10, 0x01]) + bytes(8), 0),
    ("vp9 key", lib.SFU_CODEC_VP9, bytes([0x08]) + bytes(8), 1),
    ("vp9 inter", lib.SFU_CODEC_VP9, bytes([0x48]) + bytes(8), 0),
    ("h264 idr", lib.SFU_CODEC_H264, bytes([0x65]) + bytes(8), 1),
    ("h264 non-idr", lib.SFU_CODEC_H264, bytes([0x41]) + bytes(8), 0),
    # AV1 aggregation header Z|Y|W W|N|0 0 0: N=1 starts a coded video sequence (a key frame)
    ("av1 new coded video sequence, W=2", lib.SFU_CODEC_AV1, bytes([0x28, 0x0A, 0x0B]) + bytes(8), 1),
    ("av1 new sequence, W=0 (sizes given)", lib.SFU_CODEC_AV1, bytes([0x08, 0x03, 0x0A, 0x01, 0x00]) + bytes(8), 1),
    ("av1 delta frame", lib.SFU_CODEC_AV1, bytes([0x10, 0x32]) + bytes(8), 0),
    ("av1 continuation of an OBU (Z=1) with N", lib.SFU_CODEC_AV1, bytes([0x88]) + bytes(8), 0),
    ("av1 header without OBU data", lib.SFU_CODEC_AV1, bytes([0x08]), 0),
    ("unknown codec", lib.SFU_CODEC_OTHER, bytes([0x10, 0x00]) + bytes(8), -1),
]


@pytest.mark.parametrize("name,codec,payload,want", CASES, ids=[c[0] for c in CASES])
def test_keyframe(name, codec, payload, want):
    assert is_keyframe(payload, codec) == want
