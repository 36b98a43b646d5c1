"""Per-phase measurements of one scenario run (the data netrun.run returns).

Sources, per subscriber and phase [start, end):
  frames   arrival time and size of every decoded video frame the SDK handed to Python;
           fps, layer (the frame height mapped to the publisher's nearest rid), layer
           switches, freezes (> 0.5 s between frames, also before the first and after the
           last frame); 100 ms audio windows, intact when pitch, spectral purity and level
           match the sine sent.
  rtc      the SDK's WebRTC stats, every second: framesDecoded, keyFramesDecoded,
           freezeCount, pliCount, nackCount, packetsLost, bytesReceived (video);
           concealedSamples / totalSamplesReceived (audio intact = 1 - their ratio).
  link     the emulator's counters on the subscriber's downlink: what the server sent into
           the link (offered) and what came out (delivered), queue and loss drops.
  lag      how long the client's own event loop was starved of CPU (machine load).
Publisher per phase: per-rid encoded fps, wire bitrate (payload + RTP header + 28 B
IP/UDP per packet), frame height, target bitrate, quality limitation; captured fps.
"""

from __future__ import annotations

import bisect

FREEZE_S = 0.5
ADAPT_S = 5.0           # the targets allow this long to adapt after a change
RIDS = ("q", "h", "f")  # lowest to highest
AUDIO_HZ = 440
AUDIO_RMS = 8000 / 2 ** 0.5    # the publisher's sine: amplitude 8000


def snaps(client: dict) -> list[tuple[float, dict]]:
    t0 = client.get("t0_mono", 0.0)
    return [(t0 + s["t"], s) for s in client.get("rtc", []) if "error" not in s]


def counter(ss: list[tuple[float, dict]], a: float, b: float, side: str, key: str, field: str
            ) -> tuple[float | None, float]:
    """(increase of a cumulative counter over the snapshots inside [a, b], their span)"""
    inside = [(t, s[side][key]) for t, s in ss if a <= t <= b and key in s[side] and field in s[side][key]]
    if len(inside) < 2:
        return None, 0.0
    return inside[-1][1][field] - inside[0][1][field], inside[-1][0] - inside[0][0]


def last(ss: list[tuple[float, dict]], a: float, b: float, side: str, key: str, field: str):
    vals = [s[side][key][field] for t, s in ss if a <= t <= b and key in s[side] and field in s[side][key]]
    return vals[-1] if vals else None


def layer_heights(pub: dict) -> dict[str, int]:
    """rid -> frame height the publisher encodes (from its last stats with all layers)"""
    for _, s in reversed(snaps(pub)):
        h = {rid: s["out"][rid].get("frame_height", 0) for rid in RIDS if rid in s["out"]}
        if len(h) == len(RIDS) and all(h.values()):
            return h
    return {"q": 180, "h": 360, "f": 720}


def layer_of(height: int, heights: dict[str, int]) -> str:
    return min(heights, key=lambda rid: abs(heights[rid] - height))


def video(client: dict, track: str = "pub/video") -> tuple[list[float], list[int]]:
    """global arrival times and heights of the frames received"""
    st = client.get("tracks", {}).get(track)
    if not st or not st.get("times"):
        return [], []
    t0 = client["t0_mono"]
    times = [t0 + ms / 1000 for ms in st["times"]]
    changes = [(t0 + c["t"], c["size"][1]) for c in st.get("sizes", [])]
    heights, j, h = [], 0, changes[0][1] if changes else 0
    for t in times:
        while j < len(changes) and changes[j][0] <= t + 0.001:
            h = changes[j][1]
            j += 1
        heights.append(h)
    return times, heights


def gaps(times: list[float], begin: float, end: float) -> list[tuple[float, float]]:
    """intervals without frames longer than FREEZE_S, including before the first and after
    the last frame within [begin, end]"""
    points = [begin] + [t for t in times if begin < t < end] + [end]
    return [(x, y) for x, y in zip(points, points[1:]) if y - x > FREEZE_S]


def link_window(rows: list[list], a: float, b: float) -> dict:
    """offered/delivered kbit/s and drops in [a, b] from the emulator's cumulative counters
    (rows: [t, in_pkts, in_bytes, out_pkts, out_bytes, loss_drops, queue_drops, other, qbytes, sojourn_us])"""
    inside = [r for r in rows if a <= r[0] <= b]
    if len(inside) < 2:
        return {}
    f, l_ = inside[0], inside[-1]
    dt = l_[0] - f[0]
    return {"offered_kbps": (l_[2] - f[2]) * 8 / dt / 1e3, "delivered_kbps": (l_[4] - f[4]) * 8 / dt / 1e3,
            "in_pkts": l_[1] - f[1], "loss_drops": l_[5] - f[5], "queue_drops": l_[6] - f[6],
            "other_drops": l_[7] - f[7], "max_queue_ms": max(r[9] for r in inside) / 1e3}


def capacity(raw: dict, who: str, direction: str, t: float) -> float:
    """the rate limit (bit/s, 0 = none) on a link at time t"""
    rate = 0.0
    for ct, d, settings in raw["links"][who]["changes"]:
        if d == direction and ct <= t:
            rate = float(settings.get("rate", 0))
    return rate


def audio_intact_windows(client: dict, a: float, b: float, track: str = "pub/audio") -> tuple[float | None, int]:
    st = client.get("tracks", {}).get(track, {})
    t0 = client.get("t0_mono", 0.0)
    ws = [w for w in st.get("windows", []) if a <= t0 + w[0] < b]
    if not ws:
        return None, 0
    good = sum(1 for _, hz, purity, rms in ws
               if abs(hz - AUDIO_HZ) <= 5 and purity >= 0.95 and 0.5 * AUDIO_RMS <= rms <= 1.5 * AUDIO_RMS)
    return good / len(ws), len(ws)


def publisher_phase(raw: dict, a: float, b: float) -> dict:
    pub = raw["clients"]["pub"]
    ss = snaps(pub)
    out: dict = {"layers": {}}
    for rid in (*RIDS, "audio"):
        frames, dt = counter(ss, a, b, "out", rid, "frames_encoded")
        byts, dtb = counter(ss, a, b, "out", rid, "bytes_sent")
        hdr, _ = counter(ss, a, b, "out", rid, "header_bytes_sent")
        pkts, _ = counter(ss, a, b, "out", rid, "packets_sent")
        if byts is None or not dtb:
            continue
        out["layers"][rid] = {
            "fps": frames / dt if frames is not None and dt else None,
            "wire_kbps": (byts + (hdr or 0) + 28 * (pkts or 0)) * 8 / dtb / 1e3,
            "height": last(ss, a, b, "out", rid, "frame_height"),
            "target_kbps": (last(ss, a, b, "out", rid, "target_bitrate") or 0) / 1e3,
            "limitation": last(ss, a, b, "out", rid, "quality_limitation_reason")}
    cap = pub.get("video_captured_per_second", {})
    t0 = pub.get("t0_mono", 0.0)
    secs = [n for s, n in cap.items() if a <= t0 + int(s) and t0 + int(s) + 1 <= b]
    out["captured_fps"] = sum(secs) / len(secs) if secs else None
    out["available_out_kbps"] = (last(ss, a, b, "pair", "pub", "available_outgoing_bitrate") or 0) / 1e3
    out["uplink"] = link_window(raw["links"]["pub"]["up"], a, b)
    out["starved_s"] = sum(lag for t, lag in pub.get("loop_lag", []) if a <= t0 + t < b)
    return out


def timeline(raw: dict, who: str, heights: dict[str, int]) -> dict:
    """the whole run of one subscriber: layer changes and freezes, in seconds since the
    publisher started"""
    times, hs = video(raw["clients"][who])
    t_ref = raw["t_pub"]
    end = raw["phases"][-1]["end"] if raw.get("phases") else t_ref
    layers = [layer_of(h, heights) for h in hs]
    changes = [[round(t - t_ref, 2), rid] for k, (t, rid) in enumerate(zip(times, layers))
               if k == 0 or layers[k - 1] != rid]
    first = raw["phases"][0]["start"] if raw.get("phases") else t_ref
    frozen = [[round(x - t_ref, 2), round(y - x, 2)] for x, y in gaps(times, min(times[0], first) if times
                                                                       else first, end)]
    return {"layers": changes, "freezes": frozen}


def subscriber_phase(raw: dict, who: str, a: float, b: float, heights: dict[str, int],
                     run_end: float) -> dict:
    c = raw["clients"][who]
    ss = snaps(c)
    times, hs = video(c)
    i, j = bisect.bisect_left(times, a), bisect.bisect_left(times, b)
    ptimes, players = times[i:j], [layer_of(h, heights) for h in hs[i:j]]
    dur = b - a
    tail = [t for t in ptimes if t >= a + ADAPT_S]
    m: dict = {"frames": len(ptimes), "fps": len(ptimes) / dur,
               "fps_after_adapt": len(tail) / (dur - ADAPT_S) if dur > ADAPT_S else None,
               "layer_share": {rid: players.count(rid) / len(players) for rid in RIDS if rid in players}
               if players else {},
               "layer_end": players[-1] if players else None,
               "switches": sum(1 for x, y in zip(players, players[1:]) if x != y)}
    first = times[0] if times else run_end
    frozen = [(x, y) for x, y in gaps(times, min(first, a), run_end) if y > a and x < b]
    m["freezes"] = len(frozen)
    m["freeze_s"] = sum(min(y, b) - max(x, a) for x, y in frozen)
    m["_frames"] = list(zip(ptimes, players))
    m["_freezes"] = frozen
    for name, field in (("decoded", "frames_decoded"), ("key_frames", "key_frames_decoded"),
                        ("rtc_freezes", "freeze_count"), ("rtc_freeze_s", "total_freeze_duration"),
                        ("plis", "pli_count"), ("nacks", "nack_count"), ("video_lost", "packets_lost")):
        m[name] = counter(ss, a, b, "in", "video", field)[0]
    vbytes, vdt = counter(ss, a, b, "in", "video", "bytes_received")
    m["video_kbps"] = vbytes * 8 / vdt / 1e3 if vbytes is not None and vdt else None
    conc, _ = counter(ss, a, b, "in", "audio", "concealed_samples")
    total, _ = counter(ss, a, b, "in", "audio", "total_samples_received")
    m["audio_intact"] = 1 - conc / total if conc is not None and total else None
    m["concealment_events"] = counter(ss, a, b, "in", "audio", "concealment_events")[0]
    m["audio_lost"] = counter(ss, a, b, "in", "audio", "packets_lost")[0]
    m["audio_windows_intact"], m["audio_windows"] = audio_intact_windows(c, a, b)
    m["downlink"] = link_window(raw["links"][who]["down"], a, b)
    m["downlink_after_adapt"] = link_window(raw["links"][who]["down"], a + ADAPT_S, b)
    m["capacity_kbps"] = capacity(raw, who, "down", a + 0.01) / 1e3
    t0 = c.get("t0_mono", 0.0)
    m["client_starved_s"] = sum(lag for t, lag in c.get("loop_lag", []) if a <= t0 + t < b)
    m["connected"] = c.get("rc") == 0 and "connect_error" not in c
    m["events"] = [e for e in c.get("events", []) if e["event"] in ("reconnecting", "reconnected", "disconnected")
                   and a <= t0 + e["t"] < b]
    return m


def analyse(raw: dict) -> dict:
    """{"publisher": {phase: ...}, "subscribers": {who: {phase: ...}}, "heights": ...}"""
    heights = layer_heights(raw["clients"]["pub"])
    run_end = raw["phases"][-1]["end"] if raw.get("phases") else raw["t_pub"]
    out: dict = {"heights": heights, "publisher": {}, "subscribers": {}, "timelines": {}}
    for ph in raw.get("phases", []):
        out["publisher"][ph["name"]] = publisher_phase(raw, ph["start"], ph["end"])
        for who in ph["targets"]:
            out["subscribers"].setdefault(who, {})[ph["name"]] = subscriber_phase(
                raw, who, ph["start"], ph["end"], heights, run_end)
    for who in out["subscribers"]:
        out["timelines"][who] = timeline(raw, who, heights)
    return out
