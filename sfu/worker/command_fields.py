"""Channel request fields -> the values of the data plane's command fields (sfu_cmd_t).

The worker channel speaks names: codecs ("vp8"), header extension URIs from
the remote description, worker indexes.  The C commands take numbers:
SFU_CODEC_*, RFC 8285 extension ids, a bitmask of workers.
"""

from __future__ import annotations

from typing import Any, Iterable

from ..native import lib
from ..protocol.sdp.extensions import EXT_AUDIO_LEVEL, EXT_MID, EXT_REPAIRED_RID, EXT_RID, EXT_TWCC
from . import messages

# header extensions the data plane reads in incoming media: URI -> (sfu_header_ext_ids_t field, highest id)
DATA_PLANE_EXTENSIONS = {EXT_TWCC: ("transport_cc", 14), EXT_MID: ("mid", 255), EXT_RID: ("rid", 255),
                         EXT_REPAIRED_RID: ("repaired_rid", 255), EXT_AUDIO_LEVEL: ("audio_level", 255)}

CODECS = {"vp8": lib.SFU_CODEC_VP8, "vp9": lib.SFU_CODEC_VP9, "h264": lib.SFU_CODEC_H264,
          "av1": lib.SFU_CODEC_AV1}


def header_extension_ids(extmap: dict[str, int]) -> dict[str, int]:
    """the sfu_header_ext_ids_t fields for a remote description's extmap (0 = not negotiated)"""
    ids = {}
    for uri, (field, highest) in DATA_PLANE_EXTENSIONS.items():
        eid = int(extmap.get(uri, 0))
        ids[field] = eid if 1 <= eid <= highest else 0
    return ids


def kind(name: Any) -> int:
    """SFU_KIND_* of a media kind ("audio" | "video")"""
    return lib.SFU_KIND_VIDEO if name == "video" else lib.SFU_KIND_AUDIO


def codec(name: Any) -> int:
    """SFU_CODEC_* of a codec name (SFU_CODEC_OTHER when its key frames are not recognised)"""
    return CODECS.get(str(name or "").lower(), lib.SFU_CODEC_OTHER)


def rtx(data: dict) -> tuple[int, int]:
    """(rtx_ssrc, rtx_payload_type) of a request (0, 0 when it has no RTX stream)"""
    ssrc, pt = int(data.get("rtx_ssrc") or 0), int(data.get("rtx_payload_type") or 0)
    if not 0 <= ssrc <= 0xFFFFFFFF or not 0 <= pt <= 127:
        raise messages.SchemaError("rtx_ssrc must fit 32 bits and rtx_payload_type 7")
    return (ssrc, pt) if ssrc else (0, 0)


def payload_type(data: dict, key: str) -> int:
    """a 7-bit payload type field of a request (0 when absent)"""
    pt = int(data.get(key) or 0)
    if not 0 <= pt <= 127:
        raise messages.SchemaError(f"{key} must fit 7 bits")
    return pt


def extension_id(data: dict, key: str) -> int:
    """a one-byte header extension id field (RFC 8285: 1..14; 0 when absent)"""
    eid = int(data.get(key) or 0)
    if not 0 <= eid <= 14:
        raise messages.SchemaError(f"{key} must be 1..14 (0: none)")
    return eid


def layer(data: dict, key: str) -> int:
    """an SVC layer index field: 0..7, or -1 for every layer"""
    v = int(data[key])
    if not -1 <= v <= 7:
        raise messages.SchemaError(f"{key} must be -1..7")
    return v


def remote_workers(workers: Iterable[int], n_workers: int, me: int) -> int:
    """the `remote_workers` bitmask of worker indexes (this worker left out)"""
    m = 0
    for w in workers:
        if not 0 <= int(w) < n_workers:
            raise messages.SchemaError(f"no worker {w}")
        if int(w) != me:
            m |= 1 << int(w)
    return m
