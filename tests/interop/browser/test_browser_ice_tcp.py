"""Chromium with livekit-client when UDP to the server's media ports is dropped: it pairs with
the server's passive TCP candidates (RFC 6544) and the call goes over ICE-TCP, both ways."""

from __future__ import annotations


from . import lkchecks
from .lkroom import BROWSERS
from .test_browser_media import PEERS, publish_both

RULES = """
table inet sfutest_ice_tcp {
  chain out {
    type filter hook output priority 0; policy accept;
    ip daddr 10.99.0.1 udp dport { 7882, 7883, 7892, 7893 } counter drop
  }
}
"""



def test_udp_to_the_media_ports_dropped_chromium_calls_over_ice_tcp(lk):
    server = lk.env.server("single-pc")
    with lk.env.ns.nft_table(RULES, "inet", "sfutest_ice_tcp"):   # the namespace every browser test shares
        pages = publish_both(lk, "single-pc")
        for (viewer, _), (other, browser) in (PEERS, PEERS[::-1]):
            v = lkchecks.video(pages[viewer], other)
            assert v.get("framesDecoded", 0) >= 30 and v.get("framesPerSecond", 0) >= 10, (viewer, lkchecks.brief(v))
            a = lkchecks.audio(pages[viewer], other)
            assert a.get("totalSamplesReceived", 0) > 48000, (viewer, lkchecks.brief(a))
            peak = lkchecks.audio_peak(pages[viewer], other, BROWSERS[browser]["hz"])
            assert abs(peak.get("hz", 0) - BROWSERS[browser]["hz"]) <= lkchecks.PITCH_TOLERANCE_HZ, peak
        stats = server.stats()
        selected = [t.get("selected") for w in stats["workers"] for t in (w.get("webrtc") or {}).values()]
        selected = [s for s in selected if s]
        assert len(selected) == 2 and all(len(s) == 3 for s in selected), selected     # (ip, port, connection)
        assert stats["ice_tcp"]["handed_off"] >= 2, stats["ice_tcp"]
        print("\nChromium over ICE-TCP:", selected, stats["ice_tcp"])
