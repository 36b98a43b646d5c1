"""The layers of a scalable track (VP9 or AV1 SVC: one RTP stream carrying every spatial and
temporal layer, livekit-client's default for those codecs is L3T3_KEY) as the stream allocator
sees them: each spatial layer a layer of the track, counted with the ones below it (a subscriber
of layer s gets layers 0..s), and below the lowest one the lowest at fewer frames a second (its
temporal layers 0, then 0 and 1: a subscriber too narrow for the lowest layer keeps some video
instead of none), measured from its producer's per-layer byte counters.  Pure: no IO.

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
SPATIAL_MAX = 4            # layers counted by the data plane (SFU_SVC_SPATIAL_MAX, SFU_SVC_TEMPORAL_MAX)
TEMPORAL_MAX = 4


@dataclass(frozen=True)
class SpatialLayer:
    spatial: int           # 0 = the lowest
    quality: int           # models.VideoQuality
    temporal: int = -1     # its highest temporal layer forwarded; -1 = every one


def is_scalable(pub: TrackPublication) -> bool:
    """a VP9/AV1 video track on one RTP stream (not rid simulcast)"""
    return (pub.kind == "video" and pub.codec is not None and pub.codec.name.lower() in SCALABLE_CODECS
            and list(pub.layers) == [""])


def meter_key(producer_id: int, spatial: int, temporal: int) -> tuple[int, int, int]:
    """the bitrate meter's key for one layer of a producer (its own bytes only)"""
    return (producer_id, spatial, temporal)


def sample(meter: BitrateMeter, producer_id: int, stats: dict, now: float) -> None:
    """sample each layer's bytes (packets shared out by bytes, for the per-packet overhead)"""
    rows = list(stats.get("layer_bytes") or [])[:SPATIAL_MAX]
    total, packets = int(stats.get("bytes", 0)), int(stats.get("packets", 0))
    for s, row in enumerate(rows):
        for t, b in enumerate(list(row)[:TEMPORAL_MAX]):
            meter.sample(meter_key(producer_id, s, t), int(b), now, packets * int(b) // total if total else 0)


def _sent(meter: BitrateMeter, producer_id: int, spatial: int, temporal: int) -> bool:
    return meter.rate(meter_key(producer_id, spatial, temporal)) > 0


def spatial_layers(pub: TrackPublication, meter: BitrateMeter, producer_id: int) -> list[SpatialLayer]:
    """the layers the producer sends (some bytes in the last sample), lowest first: the lowest
    spatial layer at each of its temporal layers but the top, then each spatial layer whole; the
    top one gets the track's best announced quality"""
    sent = [s for s in range(SPATIAL_MAX) if any(_sent(meter, producer_id, s, t) for t in range(TEMPORAL_MAX))]
    if not sent:
        return []
    n = max(sent) + 1
    top = max((x.quality for x in pub.info.layers), default=models.VideoQuality.HIGH)
    quality = [max(models.VideoQuality.LOW, top - (n - 1 - s)) for s in range(n)]
    temporal = [t for t in range(TEMPORAL_MAX) if _sent(meter, producer_id, 0, t)]
    fewer = [SpatialLayer(0, quality[0], t) for t in range(max(temporal, default=0))]
    return fewer + [SpatialLayer(s, quality[s]) for s in range(n)]


def cumulative_rate(meter: BitrateMeter, producer_id: int, spatial: int, temporal: int = -1) -> tuple[int, int]:
    """(wire, payload) bits/s of spatial layers 0..spatial at temporal layers 0..temporal (-1: all)"""
    top = TEMPORAL_MAX - 1 if temporal < 0 else temporal
    keys = [meter_key(producer_id, s, t) for s in range(spatial + 1) for t in range(top + 1)]
    return sum(meter.rate(k) for k in keys), sum(meter.payload_rate(k) for k in keys)


def target(layers: list[SpatialLayer], quality: int, temporal: int = -1) -> tuple[int, int]:
    """the (spatial, temporal) layers to forward for a decision of `quality` at `temporal`
    (-1: every one; the top spatial layer whole is every layer)"""
    fit = [x for x in layers if x.quality <= quality and (temporal < 0 or x.temporal == temporal)]
    if not fit:
        fit = [x for x in layers if x.quality <= quality] or layers[:1]
    if not fit:
        return -1, -1
    chosen = fit[-1] if temporal < 0 else fit[0]
    if chosen is layers[-1]:
        return -1, -1
    return chosen.spatial, chosen.temporal
