"""Probing and pacing through the data plane: a worker in process, real UDP
on loopback, a fake subscriber that sends transport-cc feedback (our receive
side, tcc_server.c through sfu._units).  Once the stream allocator said what
it wants (TRANSPORT_SET_WANTED_BITRATE), feedback came and the subscriber
reported on the video stream (a receiver report block: it knows the stream),
the transport sends probe clusters as padding-only packets on the video
consumer's SSRC, after a frame's last packet, with its timestamp; the
consumer's sequence numbers stay contiguous across them; their feedback
lifts the estimate; a NACK for a padding packet is not answered."""

from __future__ import annotations

import socket
import struct
import time

from .test_send_side_bwe_loop import SUB_SSRC, FakeSubscriber, media, read_tcc, recv_media, setup
from .test_send_side_bwe_loop import worker  # noqa: F401  (the fixture: a worker in process with an event sink)

FRAME_PACKETS = 3


def frame_packets(frame: int) -> list[bytes]:
    """one video frame of FRAME_PACKETS packets, the marker bit on the last, one timestamp"""
    out = []
    for k in range(FRAME_PACKETS):
        seq = frame * FRAME_PACKETS + k
        pkt = bytearray(media(seq & 0xFFFF, seq & 0xFFFF))
        pkt[4:8] = struct.pack("!I", 3000 * frame)
        if k == FRAME_PACKETS - 1:
            pkt[1] |= 0x80
        out.append(bytes(pkt))
    return out


def is_padding(d: bytes) -> bool:
    return bool(d[0] & 0x20) and len(d) - 12 - 4 * (d[0] & 0x0F) - (4 + 4 * struct.unpack("!H", d[14:16])[0]
                                                                     if d[0] & 0x10 else 0) == d[-1]


def receiver_report(ssrc: int = SUB_SSRC) -> bytes:
    """an RR with one report block about ssrc"""
    return struct.pack("!BBHI", 0x81, 201, 7, 0x99) + struct.pack("!IIIIII", ssrc, 0, 0, 0, 0, 0)


def run_call(worker, seconds: float, wanted: int | None, report: bool = True) -> tuple[list[bytes], socket.socket]:
    """30 frames a second (~250 kbit/s) with feedback every 50 ms and, when `report`, a
    receiver report after the first frame: what the subscriber received, and its socket"""
    pub, sub, dest = setup(worker)
    sub.setblocking(False)
    fake = FakeSubscriber(sub, worker.mux_port)
    if wanted is not None:
        worker.on_transport_set_wanted_bitrate({"id": 2, "bitrate": wanted})
    got: list[bytes] = []
    start = time.monotonic()
    frame, next_frame, next_fb = 0, start, start + 0.05
    while (now := time.monotonic()) < start + seconds:
        if now >= next_frame:
            for p in frame_packets(frame):
                pub.sendto(p, dest)
            frame += 1
            next_frame += 1 / 30
        while True:
            try:
                d = sub.recv(2048)
            except BlockingIOError:
                break
            if 200 <= d[1] <= 206:
                continue                                  # RTCP (sender reports)
            got.append(d)
            tcc = read_tcc(d)
            if tcc is not None:
                fake.arrived(tcc)
        if now >= next_fb:
            fake.send_feedback()
            next_fb += 0.05
            if report and got:
                sub.sendto(receiver_report(), ("127.0.0.1", worker.mux_port))
                report = False
        time.sleep(0.001)
    pub.close()
    return got, sub


def test_probes_are_padding_on_the_video_stream_with_contiguous_seqs(worker):
    got, _ = run_call(worker, 2.0, wanted=5_000_000)
    pads = [d for d in got if is_padding(d)]
    media_pkts = [d for d in got if not is_padding(d)]
    assert len(pads) >= 20, f"{len(pads)} padding packets"
    assert all(struct.unpack("!I", d[8:12])[0] == SUB_SSRC for d in got)
    assert all(read_tcc(d) is not None for d in pads)            # numbered like media, for their feedback
    # every sequence number once, none missing: the padding took numbers, the media moved up
    seqs = [struct.unpack("!H", d[2:4])[0] for d in got]
    first = seqs[0]
    rel = sorted((s - first) & 0xFFFF for s in seqs)
    assert rel == list(range(len(seqs)))
    # a padding packet follows a frame's last packet (or other padding), with that frame's timestamp
    by_seq = {(struct.unpack("!H", d[2:4])[0] - first) & 0xFFFF: d for d in got}
    for r, d in by_seq.items():
        if not is_padding(d) or r == 0:
            continue
        prev = by_seq[r - 1]
        assert is_padding(prev) or prev[1] & 0x80, "padding inside a frame"
        assert d[4:8] == prev[4:8] and not d[1] & 0x80
    assert len(media_pkts) > 30 * FRAME_PACKETS
    st = worker.on_transport_stats({"id": 2})["bwe"]
    assert st["probe_clusters"] >= 1 and st["padding_packets"] >= len(pads) > 0
    assert worker.on_worker_stats({})["stats"]["padding_sent"] >= len(pads)


def test_the_probes_feedback_lifts_the_estimate(worker):
    """~250 kbit/s of media alone could not take the estimate above ~1.5x of it; the probes can"""
    run_call(worker, 2.5, wanted=5_000_000)
    deadline = time.monotonic() + 1
    while time.monotonic() < deadline:
        st = worker.on_transport_stats({"id": 2})["bwe"]
        if st["probe_results"]:
            break
        time.sleep(0.05)
    assert st["probe_results"] >= 1 and st["probe_bps"] > 1_500_000, st
    assert st["estimate_bps"] > 1_500_000 and st["pacing_bps"] > 1.2 * st["estimate_bps"], st   # 1.25x


def test_no_padding_before_the_subscriber_reported_on_the_stream(worker):
    """as LiveKit: a receiver report is proof that the receiver has set the stream up"""
    got, _ = run_call(worker, 1.0, wanted=5_000_000, report=False)
    assert got and not any(is_padding(d) for d in got)
    st = worker.on_transport_stats({"id": 2})["bwe"]
    assert st["padding_packets"] == 0 and st["pacing_bps"] > 0     # paced all the same


def test_without_the_allocator_nothing_is_probed_or_paced(worker):
    got, _ = run_call(worker, 1.0, wanted=None)
    assert got and not any(is_padding(d) for d in got)
    st = worker.on_transport_stats({"id": 2})["bwe"]
    assert st["probe_clusters"] == 0 and st["pacing_bps"] == 0 and st["padding_packets"] == 0


def test_a_nack_for_padding_is_not_answered(worker):
    got, sub = run_call(worker, 1.0, wanted=5_000_000)
    # the newest padding: the probes go on, and the consumer's send history keeps only the
    # last 512 packets (a NACK for an older one is a miss, not padding)
    while True:
        try:
            d = sub.recv(2048)
        except BlockingIOError:
            break
        if not 200 <= d[1] <= 206:
            got.append(d)
    pad = next(d for d in reversed(got) if is_padding(d))
    seq = struct.unpack("!H", pad[2:4])[0]
    before = worker.on_worker_stats({})["stats"]
    nack = struct.pack("!BBHII", 0x81, 205, 3, 0x99, SUB_SSRC) + struct.pack("!HH", seq, 0)
    sub.sendto(nack, ("127.0.0.1", worker.mux_port))
    deadline = time.monotonic() + 1
    while time.monotonic() < deadline and worker.on_worker_stats({})["stats"]["nack_padding"] == before["nack_padding"]:
        time.sleep(0.02)
    after = worker.on_worker_stats({})["stats"]
    assert after["nack_padding"] == before["nack_padding"] + 1 and after["nacks"] == before["nacks"] + 1
    assert after["retransmits"] == before["retransmits"]


def test_the_pacer_spreads_a_burst_and_lets_audio_pass(worker):
    """an estimate of 400 kbit/s (a REMB below the feedback's): pacing at 500 kbit/s (1.25x); a burst of
    20 kB of video leaves over ~0.3 s in order and complete, an audio packet sent after it
    overtakes most of it"""
    pub, sub, dest = setup(worker)
    worker.on_producer_create({"id": 11, "transport_id": 1, "ssrc": 8, "payload_type": 111, "kind": "audio",
                               "remote_workers": []})
    worker.on_consumer_create({"id": 21, "transport_id": 2, "producer_id": 11, "ssrc": 0x5252, "payload_type": 111,
                               "seq_start": 1, "ts_offset": 0, "paused": False})
    worker.on_transport_set_wanted_bitrate({"id": 2, "bitrate": 0})
    fake = FakeSubscriber(sub, worker.mux_port)
    for i in range(3):                                   # numbered packets and their feedback
        pub.sendto(media(i, i), dest)
        fake.arrived(read_tcc(recv_media(sub)))          # (a sender report may come in between)
    fake.send_feedback()
    exp, mantissa = 1, 200_000                           # 400 kbit/s
    sub.sendto(struct.pack("!BBHII", 0x8F, 206, 5, 0x99, 0) + b"REMB" + bytes([1, (exp << 2) | (mantissa >> 16)])
               + struct.pack("!HI", mantissa & 0xFFFF, SUB_SSRC), ("127.0.0.1", worker.mux_port))
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline and ((worker.on_transport_stats({"id": 2})["bwe"] or {}).get("pacing_bps")
                                           != 500_000):
        time.sleep(0.02)
    assert worker.on_transport_stats({"id": 2})["bwe"]["pacing_bps"] == 500_000
    for i in range(3, 23):
        pub.sendto(media(i, i), dest)
    pub.sendto(struct.pack("!BBHII", 0x80, 111, 1, 960, 8) + b"\x01" * 80, dest)
    got = []
    start = time.monotonic()
    while len(got) < 21 and time.monotonic() < start + 2:
        d = sub.recv(2048)
        if not 200 <= d[1] <= 206:
            got.append((time.monotonic() - start, struct.unpack("!I", d[8:12])[0], struct.unpack("!H", d[2:4])[0]))
    video = [g for g in got if g[1] == SUB_SSRC]
    audio = [g for g in got if g[1] == 0x5252]
    assert len(video) == 20 and len(audio) == 1, got
    assert [s for _, _, s in video] == [(video[0][2] + k) & 0xFFFF for k in range(20)]     # in order, complete
    assert video[-1][0] - video[0][0] > 0.15                         # spread: ~17 kB over the burst at 500 kbit/s
    assert sum(1 for t, _, _ in video if t < audio[0][0]) < 10       # audio did not wait behind the video
    st = worker.on_transport_stats({"id": 2})["bwe"]
    assert st["pacer_drops"] == {"full": 0, "late": 0} and worker.on_worker_stats({})["stats"]["paced"] >= 10
