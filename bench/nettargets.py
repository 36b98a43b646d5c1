"""What the server must achieve in each phase once adaptive media exists (most of it fails
today, on purpose: this is the yardstick).  Each target returns its criteria as
(name, measured, required, passed).

  clean       top layer >= 90 % of frames, fps >= 90 % of the top layer's encoded fps,
              no freeze, audio >= 99 % intact: the reference for the others
  fit         (600 kbit/s) within 5 s a layer that fits the link (its wire rate + audio's
              <= capacity) and only such layers after that, at >= 90 % of that layer's
              encoded fps, no freeze after adapting, audio >= 99 % intact
  lowest      (250 / 300 kbit/s) after 5 s only the lowest layer, or video paused;
              audio >= 98 % intact
  (fit and lowest also require the server to send no more than 110 % of the capacity
  into the link after those 5 s: "paused" means paused by the server, not starved.)
  recover     (limit lifted) the top layer within 15 s, and it stays
  loss        (5 % loss either way) fps >= 90 % of the clean run's, audio >= 99 % intact
  unaffected  (the other subscriber of a constrained one) like the clean run: fps >= 90 %
              of it, top layer >= 90 % of frames, no freeze, key frames <= clean's + 1
  stable      (publisher uplink 800 kbit/s; a proposal, no target had been set) after 5 s
              at most one layer switch and no freeze, audio >= 99 % intact
"""

from __future__ import annotations

from netmetrics import ADAPT_S, RIDS


def _crit(name: str, measured, required: str, ok: bool) -> tuple:
    if isinstance(measured, float):
        measured = round(measured, 3)
    return (name, measured, required, bool(ok))


def _audio(m: dict, need: float) -> tuple:
    a = m["audio_intact"]
    return _crit("audio intact (rtc)", a, f">= {need:.0%}", a is not None and a >= need)


def _fits_link(m: dict) -> tuple:
    """what the server sent into the link after adapting, against the link's capacity"""
    d, cap = m["downlink_after_adapt"] or {}, m["capacity_kbps"]
    off = d.get("offered_kbps")
    return _crit(f"sent after {ADAPT_S:g} s kbit/s", off, f"<= 110% of {cap:.0f}",
                 off is not None and off <= 1.1 * cap)


def _top_fps(pub: dict) -> float | None:
    return pub["layers"].get("f", {}).get("fps")


def fits(pub: dict, rid: str, cap_kbps: float) -> bool:
    lay, aud = pub["layers"].get(rid), pub["layers"].get("audio", {})
    return lay is not None and lay["wire_kbps"] + aud.get("wire_kbps", 0) <= cap_kbps


def settled(frames: list, ok, start: float) -> float | None:
    """time of the first frame after `start` from which every frame satisfies ok(rid)"""
    t = None
    for ft, rid in frames:
        if ft < start:
            continue
        if ok(rid):
            t = ft if t is None else t
        else:
            t = None
    return t


def evaluate(kind: str, m: dict, pub: dict, start: float, ref: dict | None) -> list[tuple]:
    """criteria for one subscriber in one phase; ref: the clean run's subscriber metrics"""
    out = []
    frames = m["_frames"]
    if kind == "clean":
        top = _top_fps(pub)
        out.append(_crit("top layer share", m["layer_share"].get("f", 0.0), ">= 0.9",
                         m["layer_share"].get("f", 0.0) >= 0.9))
        out.append(_crit("fps", m["fps"], f">= 90% of {top or 0:.1f}", top is not None and m["fps"] >= 0.9 * top))
        out.append(_crit("freezes", m["freezes"], "0", m["freezes"] == 0))
        out.append(_audio(m, 0.99))
    elif kind == "fit":
        cap = m["capacity_kbps"]
        good = {rid for rid in RIDS if fits(pub, rid, cap)}
        at = settled(frames, lambda rid: rid in good, start)
        out.append(_crit("fitting layers", ",".join(sorted(good)) or "none", "some layer fits", bool(good)))
        out.append(_crit("fits after s", None if at is None else at - start, f"<= {ADAPT_S:g}",
                         at is not None and at - start <= ADAPT_S))
        rid = frames[-1][1] if frames else None
        lay_fps = pub["layers"].get(rid, {}).get("fps") if rid else None
        fps = m["fps_after_adapt"]
        out.append(_crit(f"fps after {ADAPT_S:g} s", fps, f">= 90% of {lay_fps or 0:.1f} ({rid})",
                         fps is not None and lay_fps is not None and fps >= 0.9 * lay_fps))
        after = [f for f in m["_freezes"] if at is not None and f[1] > at]
        out.append(_crit("freezes after adapting", len(after) if at is not None else None, "0",
                         at is not None and not after))
        out.append(_fits_link(m))
        out.append(_audio(m, 0.99))
    elif kind == "lowest":
        late = [rid for t, rid in frames if t >= start + ADAPT_S]
        out.append(_crit(f"layers after {ADAPT_S:g} s", ",".join(sorted(set(late))) or "paused",
                         "q or paused", set(late) <= {"q"}))
        out.append(_fits_link(m))
        out.append(_audio(m, 0.98))
    elif kind == "recover":
        at = settled(frames, lambda rid: rid == "f", start)
        out.append(_crit("top layer after s", None if at is None else at - start, "<= 15",
                         at is not None and at - start <= 15))
    elif kind == "loss":
        base = ref["fps"] if ref else _top_fps(pub)
        src = "clean run" if ref else "encoded"
        out.append(_crit("fps", m["fps"], f">= 90% of {base or 0:.1f} ({src})",
                         base is not None and m["fps"] >= 0.9 * base))
        out.append(_audio(m, 0.99))
    elif kind == "unaffected":
        base = ref["fps"] if ref else _top_fps(pub)
        out.append(_crit("fps", m["fps"], f">= 90% of {base or 0:.1f} ({'clean run' if ref else 'encoded'})",
                         base is not None and m["fps"] >= 0.9 * base))
        out.append(_crit("top layer share", m["layer_share"].get("f", 0.0), ">= 0.9",
                         m["layer_share"].get("f", 0.0) >= 0.9))
        out.append(_crit("freezes", m["freezes"], "0", m["freezes"] == 0))
        kf, ref_kf = m["key_frames"], (ref or {}).get("key_frames")
        limit = (ref_kf or 0) + 1
        out.append(_crit("key frames", kf, f"<= {limit} (clean + 1)", kf is not None and kf <= limit))
    elif kind == "stable":
        late = [(t, rid) for t, rid in frames if t >= start + ADAPT_S]
        switches = sum(1 for x, y in zip(late, late[1:]) if x[1] != y[1])
        out.append(_crit(f"switches after {ADAPT_S:g} s", switches, "<= 1", switches <= 1))
        late_freezes = [f for f in m["_freezes"] if f[1] > start + ADAPT_S]
        out.append(_crit(f"freezes after {ADAPT_S:g} s", len(late_freezes), "0", not late_freezes))
        out.append(_audio(m, 0.99))
    else:
        raise ValueError(f"unknown target {kind}")
    return out
