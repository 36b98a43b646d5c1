"""Chromium's RTX streams (livekit-client, 720p simulcast): rid-based simulcast declares no
FID groups, so each layer's RTX SSRC is learnt from the repaired rid of its first packets;
from then on the server unwraps them, and Chromium's bandwidth probes (RTX padding and
repeats of packets that were not lost) are dropped, never forwarded."""

from __future__ import annotations

import time

import pytest

from . import lkchecks

RTX_COUNTERS = ("rtx_padding", "rtx_duplicate", "bad_rtx")


def rtx_seen(lk) -> dict[str, int]:
    out = dict.fromkeys(("unknown_ssrc", *RTX_COUNTERS, "rtx_received"), 0)
    for srv in lk.servers.values():
        for w in srv.stats()["workers"]:
            for k in out:
                out[k] += w["stats"]["drops"].get(k, 0) + w["stats"].get(k, 0)
    return out


@pytest.mark.parametrize("pc", ["single-pc", "two-pc"])
def test_the_publishers_rtx_streams_are_recognised(lk, pc):
    alice, bob = lk.join_all(("alice", "A"), ("bob", "B"), pc=pc)
    before = rtx_seen(lk)
    alice.js("publishCamera", {"simulcast": True, "width": 1280, "height": 720})
    first = lkchecks.video(bob, "alice", min_frames=10)
    assert first.get("framesDecoded", 0) >= 10, lkchecks.brief(first)
    out = alice.js("outbound", "camera") or []
    assert all(s.get("rtxSsrc") for s in out), lkchecks.brief(out)     # Chromium sends RTX per layer
    time.sleep(4)                  # the estimate ramps up to the top layer with RTX probes
    after = rtx_seen(lk)
    delta = {k: after[k] - before[k] for k in after}
    assert delta["rtx_padding"] + delta["rtx_duplicate"] > 0, delta
    assert delta["bad_rtx"] == 0, delta
    # what stays unknown is only what came before its layer's media (reported again later)
    assert delta["unknown_ssrc"] < delta["rtx_padding"] + delta["rtx_duplicate"], delta
