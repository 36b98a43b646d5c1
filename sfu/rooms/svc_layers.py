"""The spatial layers of a scalable track (VP9 or AV1 SVC: one RTP stream carrying every
spatial and temporal layer, livekit-client's default for those codecs is L3T3_KEY) as the
stream allocator sees them: each spatial layer a layer of the track, counted with the ones
below it (a subscriber of layer s gets layers 0..s), measured from its producer's per-layer
byte counters.  Pure: no IO.

Which spatial layers there are is measured, not announced: libwebrtc sends fewer than the
scalability mode names when the picture is small (L3T3_KEY at 640x360 goes out as
L2T3_KEY, dropping the lowest), so the top spatial layer sent is the track's best quality
and each one below is a quality lower.
"""

from __future__ import annotations

from dataclasses import dataclass

from livekit.protocol import models

from .layer_bitrate import BitrateMeter
from .track import TrackPublication

SCALABLE_CODECS = frozenset({"vp9", "av1"})
SPATIAL_MAX = 4            # spatial layers counted by the data plane (SFU_SVC_SPATIAL_MAX)


@dataclass(frozen=True)
class SpatialLayer:
    spatial: int           # 0 = the lowest
    quality: int           # models.VideoQuality


def is_scalable(pub: TrackPublication) -> bool:
    """a VP9/AV1 video track on one RTP stream (not rid simulcast)"""
    return (pub.kind == "video" and pub.codec is not None and pub.codec.name.lower() in SCALABLE_CODECS
            and list(pub.layers) == [""])


def meter_key(producer_id: int, spatial: int) -> tuple[int, int]:
    """the bitrate meter's key for one spatial layer of a producer (its own bytes only)"""
    return (producer_id, spatial)


def sample(meter: BitrateMeter, producer_id: int, stats: dict, now: float) -> None:
    """sample each spatial layer's bytes (packets shared out by bytes, for the per-packet overhead)"""
    per_layer = list(stats.get("spatial_bytes") or [])[:SPATIAL_MAX]
    total, packets = int(stats.get("bytes", 0)), int(stats.get("packets", 0))
    for s, b in enumerate(per_layer):
        meter.sample(meter_key(producer_id, s), int(b), now, packets * int(b) // total if total else 0)


def spatial_layers(pub: TrackPublication, meter: BitrateMeter, producer_id: int) -> list[SpatialLayer]:
    """the spatial layers the producer sends (some bytes in the last sample), lowest first; the
    top one gets the track's best announced quality"""
    sent = [s for s in range(SPATIAL_MAX) if meter.rate(meter_key(producer_id, s)) > 0]
    if not sent:
        return []
    n = max(sent) + 1
    top = max((x.quality for x in pub.info.layers), default=models.VideoQuality.HIGH)
    return [SpatialLayer(s, max(models.VideoQuality.LOW, top - (n - 1 - s))) for s in range(n)]


def cumulative_rate(meter: BitrateMeter, producer_id: int, spatial: int) -> tuple[int, int]:
    """(wire, payload) bits/s of spatial layers 0..spatial"""
    keys = [meter_key(producer_id, s) for s in range(spatial + 1)]
    return sum(meter.rate(k) for k in keys), sum(meter.payload_rate(k) for k in keys)


def target(layers: list[SpatialLayer], quality: int) -> int:
    """the spatial layer to forward for a quality (-1: every layer, the top one included)"""
    fit = [x for x in layers if x.quality <= quality]
    if not fit:
        return layers[0].spatial if layers else -1
    return -1 if fit[-1] is layers[-1] else fit[-1].spatial
