"""Chromium with livekit-client when only TCP 5349 (TURN over TLS) and the signalling port reach
the server: it relays through the embedded TURN (coturn) over TLS.  The certificate is
self-signed; Chromium's TLS for TURN goes through its network stack, which the harness runs
with --ignore-certificate-errors (the rtc SDK, whose libwebrtc checks against compiled-in roots,
refuses it: tests/interop/test_connectivity.py)."""

from __future__ import annotations

import subprocess

from helpers.sfu_server import SfuServer
from . import lkchecks
from .lkroom import BROWSERS
from .test_browser_media import PEERS

PORT, UDP_PORT, TURN_TLS, TURN_PORT = 7900, 7902, 5349, 3478
# below the kernel's ephemeral ports (32768-60999): a browser's own UDP socket that happened to
# get a port in the relay range passed the accept rule below and connected directly (seen once)
RELAYS = (30000, 30099)

# the browsers reach only the signalling port and TURN/TLS; coturn's relayed packets to the
# SFU (from its relay port range) still pass
RULES = f"""
table inet sfutest_turn_tls {{
  chain out {{
    type filter hook output priority 0; policy accept;
    ip daddr 10.99.0.1 udp sport {RELAYS[0]}-{RELAYS[1]} accept
    ip daddr 10.99.0.1 udp dport {{ {UDP_PORT}, {UDP_PORT + 1}, {TURN_PORT} }} counter drop
    ip daddr 10.99.0.1 tcp dport {{ {PORT + 1}, {TURN_PORT} }} counter drop
  }}
}}
"""



def turn_server(lk, tmp_path) -> SfuServer:
    cert, key = tmp_path / "turn-cert.pem", tmp_path / "turn-key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "1", "-subj", "/CN=10.99.0.1", "-addext", "subjectAltName=IP:10.99.0.1"],
                   check=True, capture_output=True)
    conf = tmp_path / "turn.yaml"
    conf.write_text(f"turn:\n  enabled: true\n  udp_port: {TURN_PORT}\n  tls_port: {TURN_TLS}\n"
                    f"  cert_file: {cert}\n  key_file: {key}\n"
                    f"  relay_range_start: {RELAYS[0]}\n  relay_range_end: {RELAYS[1]}\n")
    return SfuServer(ns=lk.env.ns, port=PORT, udp_port=UDP_PORT, workers=1, extra=["--config", str(conf)],
                     log_path=str(tmp_path / "server-turn.log"))


def test_only_turn_tls_open_chromium_relays_over_tls(lk, tmp_path):
    server = turn_server(lk, tmp_path)
    try:
        with lk.env.ns.nft_table(RULES, "inet", "sfutest_turn_tls"):
            pages = dict(zip(("alice", "bob"), lk.join_all(*PEERS, server=server)))
            for p in pages.values():
                p.js("publishMic")
                p.js("publishCamera")
            for (viewer, _), (other, browser) in (PEERS, PEERS[::-1]):
                v = lkchecks.video(pages[viewer], other)
                assert v.get("framesDecoded", 0) >= 30, (viewer, lkchecks.brief(v))
                peak = lkchecks.audio_peak(pages[viewer], other, BROWSERS[browser]["hz"])
                assert abs(peak.get("hz", 0) - BROWSERS[browser]["hz"]) <= lkchecks.PITCH_TOLERANCE_HZ, peak
            selected = [t.get("selected") for w in server.stats()["workers"]
                        for t in (w.get("webrtc") or {}).values()]
            selected = [s for s in selected if s]
            # every transport's peer is a relay of the embedded TURN: its address, a relay port
            assert len(selected) == 2 and all(s[0] == "10.99.0.1" and RELAYS[0] <= s[1] <= RELAYS[1]
                                              for s in selected), selected
            rules = lk.env.ns.call(subprocess.run, ["nft", "list", "table", "inet", "sfutest_turn_tls"],
                                   capture_output=True, text=True).stdout
            print("\nChromium over TURN/TLS:", selected, "\n", rules)
    finally:
        server.stop()
