"""Compact snapshots of the SDK's WebRTC statistics (`Room.get_rtc_stats()`, livekit 1.2).

One snapshot: {"t": seconds since the client's t0, "in": {...}, "out": {...}, "pair": {...}}
with inbound-rtp streams keyed "audio"/"video" (plus ":ssrc" when there are several of a
kind), outbound-rtp streams keyed by rid ("q", "h", "f"; "audio"), and the nominated ICE
candidate pair.  Counters are cumulative, as in the W3C stats."""

from __future__ import annotations

INBOUND = ("frames_decoded", "key_frames_decoded", "frames_dropped", "frames_received", "frame_width",
           "frame_height", "frames_per_second", "freeze_count", "total_freeze_duration", "pause_count",
           "total_pause_duration", "bytes_received", "header_bytes_received", "nack_count", "pli_count",
           "fir_count", "retransmitted_packets_received", "jitter_buffer_delay", "jitter_buffer_emitted_count",
           "total_samples_received", "concealed_samples", "silent_concealed_samples", "concealment_events",
           "inserted_samples_for_deceleration", "removed_samples_for_acceleration", "audio_level")
OUTBOUND = ("frames_encoded", "frames_sent", "key_frames_encoded", "frame_width", "frame_height",
            "frames_per_second", "header_bytes_sent", "retransmitted_packets_sent", "target_bitrate",
            "quality_limitation_reason", "nack_count", "pli_count", "fir_count", "active", "total_encode_time")
PAIR = ("current_round_trip_time", "available_outgoing_bitrate", "available_incoming_bitrate", "bytes_sent",
        "bytes_received")


def _pick(msg, names) -> dict:
    out = {}
    for name in names:
        f = msg.DESCRIPTOR.fields_by_name.get(name)
        if f is None:
            continue
        v = getattr(msg, name)
        if f.enum_type is not None:
            v = f.enum_type.values_by_number[v].name if v in f.enum_type.values_by_number else v
        elif isinstance(v, float):
            v = round(v, 4)
        out[name] = v
    return out


def snapshot(stats, t: float) -> dict:
    """stats: the `RtcStats` of `Room.get_rtc_stats()` (publisher and subscriber PCs)"""
    snap: dict = {"t": round(t, 3), "in": {}, "out": {}, "pair": {}}
    for pc, entries in (("pub", stats.publisher_stats), ("sub", stats.subscriber_stats)):
        for s in entries:
            which = s.WhichOneof("stats")
            if which == "inbound_rtp":
                r = s.inbound_rtp
                d = {"ssrc": r.stream.ssrc, "packets_received": r.received.packets_received,
                     "packets_lost": r.received.packets_lost, "jitter": round(r.received.jitter, 4),
                     **_pick(r.inbound, INBOUND)}
                key = r.stream.kind
                snap["in"][key if key not in snap["in"] else f"{key}:{r.stream.ssrc}"] = d
            elif which == "outbound_rtp":
                r = s.outbound_rtp
                key = r.outbound.rid or r.stream.kind
                snap["out"][key] = {"ssrc": r.stream.ssrc, "kind": r.stream.kind,
                                    "packets_sent": r.sent.packets_sent, "bytes_sent": r.sent.bytes_sent,
                                    **_pick(r.outbound, OUTBOUND)}
            elif which == "candidate_pair" and s.candidate_pair.candidate_pair.nominated:
                snap["pair"][pc] = _pick(s.candidate_pair.candidate_pair, PAIR)
    return snap
