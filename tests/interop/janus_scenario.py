"""Janus videoroom driven by bench/janus_client.py with aiortc peers: 1 publisher -> 2 subscribers.

Run inside a private network namespace as root (tests/interop/test_janus_videoroom.py does
`unshare -n python tests/interop/janus_scenario.py`): sets up the namespace interface, starts Janus
with bench/janus_server.py, publishes a generated VP8 stream through the videoroom and counts
the frames each subscriber decodes. A raw-socket sniffer on lo records every STUN message
between the peers and Janus (all traffic between the namespace's own addresses crosses lo).
Prints one JSON line with the results, the SDPs Janus produced and the STUN log.

    python tests/interop/janus_scenario.py [--seconds 6] [--observe 0] [--save-sdp DIR]
--observe S keeps the sessions up S more seconds (without media checks) to watch keepalives.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import struct
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))

import janus_server  # noqa: E402
from janus_client import JanusSession  # noqa: E402

IP = "10.98.0.1"

STUN_METHODS = {0x0001: "binding-request", 0x0101: "binding-success", 0x0111: "binding-error",
                0x0011: "binding-indication"}
STUN_ATTRS = {0x0006: "USERNAME", 0x0008: "MESSAGE-INTEGRITY", 0x8028: "FINGERPRINT", 0x0024: "PRIORITY",
              0x0025: "USE-CANDIDATE", 0x8029: "ICE-CONTROLLED", 0x802A: "ICE-CONTROLLING",
              0x0020: "XOR-MAPPED-ADDRESS", 0x0009: "ERROR-CODE"}


class StunSniffer:
    """Every STUN message on lo (AF_PACKET), with time, addresses, type and attributes."""

    def __init__(self, iface: str = "lo"):
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.ntohs(0x0003))
        self.sock.bind((iface, 0))
        self.sock.settimeout(0.2)
        self.log: list = []
        self.udp_packets = 0
        self.t0 = time.monotonic()
        self.stop_flag = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop_flag:
            try:
                pkt, addr = self.sock.recvfrom(65535)
            except socket.timeout:
                continue
            if addr[2] == socket.PACKET_OUTGOING:   # lo shows each packet twice
                continue
            if len(pkt) < 14 + 20 + 8 or pkt[12:14] != b"\x08\x00":
                continue
            ip = pkt[14:]
            if ip[9] != 17:
                continue
            ihl = (ip[0] & 15) * 4
            src, dst = socket.inet_ntoa(ip[12:16]), socket.inet_ntoa(ip[16:20])
            sport, dport = struct.unpack("!HH", ip[ihl:ihl + 4])
            payload = ip[ihl + 8:]
            self.udp_packets += 1
            if len(payload) < 20 or payload[0] > 3 or payload[4:8] != b"\x21\x12\xa4\x42":
                continue
            mtype, mlen = struct.unpack("!HH", payload[:4])
            attrs, i = [], 20
            while i + 4 <= 20 + mlen and i + 4 <= len(payload):
                at, al = struct.unpack("!HH", payload[i:i + 4])
                attrs.append(STUN_ATTRS.get(at, hex(at)))
                i += 4 + al + ((4 - al % 4) % 4)
            self.log.append({"t": round(time.monotonic() - self.t0, 3), "src": f"{src}:{sport}",
                             "dst": f"{dst}:{dport}", "type": STUN_METHODS.get(mtype, hex(mtype)),
                             "attrs": attrs})

    def stop(self) -> None:
        self.stop_flag = True
        self.thread.join(2)
        self.sock.close()


async def run(seconds: float, observe: float) -> dict:
    from aiortc import RTCPeerConnection, RTCSessionDescription, VideoStreamTrack
    from av import VideoFrame

    class Pattern(VideoStreamTrack):
        """320x240 frames at 30 fps, a moving bar on a red field."""

        def __init__(self):
            super().__init__()
            self.n = 0

        async def recv(self):
            pts, time_base = await self.next_timestamp()
            f = VideoFrame(width=320, height=240, format="yuv420p")
            x = (self.n * 4) % 320
            row = bytearray([81] * 320)            # red-ish luma with a white moving bar
            row[x:x + 16] = bytes([235]) * len(row[x:x + 16])
            self.n += 1
            for plane, data in zip(f.planes, (bytes(row) * 240, bytes([90]) * (160 * 120),
                                              bytes([240]) * (160 * 120))):
                width = plane.line_size
                rows = plane.height
                w = len(data) // rows
                plane.update(b"".join(data[r * w:(r + 1) * w].ljust(width, b"\0") for r in range(rows)))
            f.pts, f.time_base = pts, time_base
            return f

    # JANUS_SCENARIO_SRTP=SRTP_AEAD_AES_128_GCM (comma list): offer only these SRTP profiles
    if os.environ.get("JANUS_SCENARIO_SRTP"):
        import aiortc.rtcdtlstransport as rtcdtlstransport
        wanted = os.environ["JANUS_SCENARIO_SRTP"].split(",")
        rtcdtlstransport.SRTP_PROFILES[:] = [p for p in rtcdtlstransport.SRTP_PROFILES
                                             if p.openssl_profile.decode() in wanted]

    # JANUS_SCENARIO_NO_CONSENT=1: our peers send no STUN after ICE completes (no RFC 7675
    # consent checks), to see whether Janus keeps a session up without them
    if os.environ.get("JANUS_SCENARIO_NO_CONSENT"):
        import aioice.ice

        async def no_consent(self) -> None:
            await asyncio.Event().wait()
        aioice.ice.Connection.query_consent = no_consent

    # known publisher RTP origins, to see whether Janus rewrites SSRC / sequence / timestamp
    import aiortc.rtcrtpreceiver as rtcrtpreceiver
    import aiortc.rtcrtpsender as rtcrtpsender
    rtcrtpsender.random_sequence_number = lambda: 1000
    fixed32 = iter([0x11111111, 0x22222222] + [0x33333333] * 1000)
    rtcrtpsender.random32 = lambda: next(fixed32)
    first_rtp: dict = {}
    orig_handle = rtcrtpreceiver.RTCRtpReceiver._handle_rtp_packet

    async def handle_rtp(self, packet, arrival_time_ms):
        seen = first_rtp.setdefault(id(self), [])
        if len(seen) < 3:
            seen.append({"ssrc": packet.ssrc, "pt": packet.payload_type, "seq": packet.sequence_number,
                         "ts": packet.timestamp})
        return await orig_handle(self, packet, arrival_time_ms)
    rtcrtpreceiver.RTCRtpReceiver._handle_rtp_packet = handle_rtp

    def srtp_profile(pc) -> str | None:
        try:
            return pc.getTransceivers()[0].receiver.transport._ssl.get_selected_srtp_profile().decode()
        except Exception as e:   # noqa: BLE001 - aiortc internals
            return repr(e)

    out: dict = {}
    t_start = time.monotonic()
    server = janus_server.JanusServer(IP).start()
    out["janus_pid"] = server.pid
    out["janus_start_s"] = round(time.monotonic() - t_start, 3)
    sniffer = StunSniffer()
    pcs: list = []
    try:
        async with JanusSession(server.url, timeout=10) as s:
            room = 4242
            admin = await s.attach()
            out["create_room"] = await admin.create_room(room)
            # publisher
            t0 = time.monotonic()
            pub_pc = RTCPeerConnection()
            pcs.append(pub_pc)
            pub_pc.addTransceiver(Pattern(), direction="sendonly")
            await pub_pc.setLocalDescription(await pub_pc.createOffer())
            pub = await s.attach()
            out["publisher_offer"] = pub_pc.localDescription.sdp
            answer = await pub.publish(room, pub_pc.localDescription.sdp, display="aiortc-pub")
            out["publisher_answer"] = answer
            await pub_pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
            await pub.wait_event("webrtcup", 10)
            out["publisher_webrtcup_s"] = round(time.monotonic() - t0, 3)
            await pub.wait_event("media", 10)
            out["publisher_media_s"] = round(time.monotonic() - t0, 3)
            # two subscribers
            subs = []
            for i in range(2):
                t1 = time.monotonic()
                h = await s.attach()
                offer = await h.subscribe(room, pub.feed_id)
                pc = RTCPeerConnection()
                pcs.append(pc)
                st = {"frames": 0, "first_frame_s": None, "size": None, "t1": t1, "handle": h,
                      "offer": offer}
                subs.append(st)

                def on_track(track, st=st):
                    async def consume():
                        while True:
                            try:
                                frame = await track.recv()
                            except Exception:   # noqa: BLE001 - track ended
                                return
                            if st["first_frame_s"] is None:
                                st["first_frame_s"] = round(time.monotonic() - st["t1"], 3)
                            st["frames"] += 1
                            st["size"] = [frame.width, frame.height]
                    asyncio.ensure_future(consume())
                pc.on("track", on_track)
                await pc.setRemoteDescription(RTCSessionDescription(offer, "offer"))
                await pc.setLocalDescription(await pc.createAnswer())
                st["answer"] = pc.localDescription.sdp
                await h.start(pc.localDescription.sdp)
                await h.wait_event("webrtcup", 10)
                st["webrtcup_s"] = round(time.monotonic() - t1, 3)
            t_media = time.monotonic()
            counts0 = [st["frames"] for st in subs]
            await asyncio.sleep(seconds)
            elapsed = time.monotonic() - t_media
            out["subscribers"] = [{"frames": st["frames"], "fps": round((st["frames"] - c0) / elapsed, 1),
                                   "first_frame_s": st["first_frame_s"], "webrtcup_s": st["webrtcup_s"],
                                   "size": st["size"], "offer": st["offer"], "answer": st["answer"],
                                   "events": [e.get("janus") for e in st["handle"].events]}
                                  for st, c0 in zip(subs, counts0)]
            out["publisher_events"] = [e.get("janus") for e in pub.events]
            out["publisher_sent"] = {"ssrc": pub_pc.getTransceivers()[0].sender._ssrc, "first_seq": 1000}
            out["srtp_profiles"] = [srtp_profile(pc) for pc in pcs]
            out["subscriber_first_rtp"] = [first_rtp.get(id(pc.getTransceivers()[0].receiver)) for pc in pcs[1:]]
            if observe > 0:
                await asyncio.sleep(observe)
                out["after_observe_subscriber_frames"] = [st["frames"] for st in subs]
                out["after_observe_events"] = [[e.get("janus") for e in st["handle"].events] for st in subs]
            out["helpers"] = await helpers_accepted(s, room, pub.feed_id)
            await admin.destroy_room(room)
    finally:
        for pc in pcs:
            await pc.close()
        sniffer.stop()
        out["stun"] = sniffer.log
        out["janus_exit"] = server.stop()
    return out


async def helpers_accepted(s: JanusSession, room: int, feed: int) -> dict:
    """Janus accepts build_offer() as a publisher offer (in a second room) and build_answer()
    as a subscriber's answer to its offer for the live feed (signalling only: nobody answers
    ICE for these; Janus refuses subscriptions to a publisher before its webrtcup)."""
    from janus_client import build_answer, build_offer
    room2 = room + 1
    admin = await s.attach()
    await admin.create_room(room2)
    fp = "sha-256 " + ":".join(["AB"] * 32)
    pub = await s.attach()
    offer = build_offer("pubufrag", "pubpassword0123456789012", fp, IP, 40000, video_ssrc=0x1234,
                        audio_ssrc=0x5678)
    answer = await pub.publish(room2, offer, display="helper-pub")
    sub = await s.attach()
    sub_offer = await sub.subscribe(room, feed)
    sub_answer = build_answer(sub_offer, "subufrag", "subpassword0123456789012", fp, IP, 40002, rtcp_ssrc=0x9999)
    started = await sub.start(sub_answer)
    await admin.destroy_room(room2)
    return {"offer": offer, "answer": answer, "sub_offer": sub_offer, "sub_answer": sub_answer,
            "started": started["plugindata"]["data"].get("started")}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=6)
    ap.add_argument("--observe", type=float, default=0)
    ap.add_argument("--save-sdp", help="write the SDPs Janus produced to this directory")
    a = ap.parse_args()
    janus_server.netns_setup(IP)
    out = asyncio.run(asyncio.wait_for(run(a.seconds, a.observe), 50 + a.observe))
    if a.save_sdp:
        d = Path(a.save_sdp)
        d.mkdir(parents=True, exist_ok=True)
        (d / "janus_publisher_answer.sdp").write_text(out["publisher_answer"])
        (d / "janus_subscriber_offer.sdp").write_text(out["subscribers"][0]["offer"])
        (d / "janus_publisher_answer_av.sdp").write_text(out["helpers"]["answer"])

    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
