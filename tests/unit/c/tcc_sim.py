"""Helpers of the send-side estimation tests: our receive side
(csrc/rtc/tcc_server.c) building real transport-cc feedback, the parser
that reads it, and a simulated bottleneck between them."""

from __future__ import annotations

from sfu._units import ffi, lib

FEEDBACK_CAP = lib.SFU_MTU - lib.SFU_SRTP_TRAILER_MAX
PARSE_CAP = lib.SFU_TCC_HISTORY_SLOTS
TCC_ID = 3
SRTP_TAG = 10


def padding_packet(tcc_seq: int, rtp_seq: int = 1) -> bytes:
    """a probe's padding packet as the transport driver sends it (csrc/rtc/transport_pacing.c):
    built by rtp_padding.c, numbered by tcc_seq_stamp.c (before SRTP adds its tag)"""
    buf = ffi.new("uint8_t[]", lib.SFU_MTU)
    n = lib.sfu_rtp_build_padding(buf, lib.SFU_MTU, 96, rtp_seq & 0xFFFF, 90000, 0x5151, lib.SFU_RTP_PADDING_MAX)
    rtp = ffi.new("sfu_rtp_t *")
    assert n and lib.sfu_rtp_parse(buf, n, rtp) == 0
    n = lib.sfu_tcc_seq_stamp(buf, n, lib.SFU_MTU, rtp, TCC_ID, tcc_seq & 0xFFFF)
    assert n
    return bytes(ffi.buffer(buf, n))


def read_tcc_seq(pkt: bytes) -> int:
    """the transport-wide number a packet carries under TCC_ID"""
    buf = ffi.from_buffer("uint8_t[]", pkt)
    rtp = ffi.new("sfu_rtp_t *")
    off = ffi.new("uint16_t *")
    assert lib.sfu_rtp_parse(buf, len(pkt), rtp) == 0 and lib.sfu_rtp_find_ext(buf, rtp, TCC_ID, off) == 2
    return pkt[off[0]] << 8 | pkt[off[0] + 1]


# a padding packet on the wire, as the transport driver counts it (PADDING_WIRE_BYTES)
PADDING_WIRE = len(padding_packet(0)) + SRTP_TAG


class Receiver:
    """the subscriber's side: arrivals recorded, feedback packets built as tcc_server.c builds them"""

    def __init__(self) -> None:
        self.t = ffi.new("sfu_tcc_server_t *")
        lib.sfu_tcc_server_init(self.t)
        self._buf = ffi.new("uint8_t[]", FEEDBACK_CAP)

    def record(self, seq: int, arrival_us: int) -> None:
        lib.sfu_tcc_server_record(self.t, seq & 0xFFFF, arrival_us)

    def build(self, cap: int = FEEDBACK_CAP) -> bytes:
        n = lib.sfu_tcc_server_build(self.t, 5, 6, self._buf, min(cap, FEEDBACK_CAP))
        return bytes(ffi.buffer(self._buf, n))


def parse_feedback(pkt: bytes):
    """(sfu_tcc_feedback_t *, sfu_tcc_feedback_packet_t[]) of a feedback that must parse"""
    fb = ffi.new("sfu_tcc_feedback_t *")
    pkts = ffi.new("sfu_tcc_feedback_packet_t[]", PARSE_CAP)
    r = lib.sfu_tcc_feedback_parse(ffi.from_buffer("uint8_t[]", pkt), len(pkt), fb, pkts, PARSE_CAP)
    assert r == lib.SFU_TCC_FB_OK, ffi.string(lib.sfu_tcc_feedback_reject_name(r))
    return fb, pkts


class Bwe:
    """the C estimator of one subscriber transport (send_side_bwe.c)"""

    def __init__(self, start_bps: int = 300_000, min_bps: int = 30_000, max_bps: int = 10_000_000) -> None:
        self.b = ffi.new("sfu_send_side_bwe_t *")
        lib.sfu_send_side_bwe_init(self.b, start_bps, min_bps, max_bps)
        self._stats = ffi.new("sfu_bwe_stats_t *")
        self.results = ffi.new("sfu_tcc_packet_result_t[]", PARSE_CAP)
        self._n = ffi.new("uint32_t *")

    def sent(self, size: int, now_us: int, flags: int = 0, cluster: int = -1) -> int:
        return lib.sfu_send_side_bwe_on_sent(self.b, size, flags, cluster, now_us)

    def feedback(self, pkt: bytes, now_us: int) -> list:
        r = lib.sfu_send_side_bwe_on_feedback(self.b, ffi.from_buffer("uint8_t[]", pkt), len(pkt), now_us,
                                              self.results, PARSE_CAP, self._n)
        assert r == lib.SFU_TCC_FB_OK
        return [self.results[i] for i in range(self._n[0])]

    def remb(self, bps: int, now_us: int) -> None:
        lib.sfu_send_side_bwe_on_remb(self.b, bps, now_us)

    def estimate(self, now_us: int) -> int:
        return lib.sfu_send_side_bwe_estimate(self.b, now_us)

    def stats(self, now_us: int):
        lib.sfu_send_side_bwe_stats(self.b, now_us, self._stats)
        return self._stats


class Probe:
    """the C probe controller (probe_controller.c)"""

    def __init__(self, start_bps: int, max_bps: int, now_us: int) -> None:
        self.p = ffi.new("sfu_probe_controller_t *")
        lib.sfu_probe_controller_init(self.p, start_bps, max_bps, now_us)

    def set_wanted(self, bps: int, now_us: int) -> None:
        lib.sfu_probe_controller_set_wanted(self.p, bps, now_us)

    def cluster(self, estimate_bps: int, usage: int, now_us: int) -> int:
        return lib.sfu_probe_controller_cluster(self.p, estimate_bps, usage, now_us)

    def on_sent(self, cluster: int, size: int) -> None:
        lib.sfu_probe_controller_on_sent(self.p, cluster, size)

    def padding(self, now_us: int) -> int:
        return lib.sfu_probe_controller_padding(self.p, now_us)

    def padding_packets(self, estimate_bps: int, usage: int, now_us: int, can_pad: bool = True,
                        busy: bool = False, size: int = PADDING_WIRE) -> tuple[int, int]:
        """the transport driver's question: (cluster id, padding packets to send now)"""
        cid = ffi.new("int16_t *")
        n = lib.sfu_probe_controller_padding_packets(self.p, estimate_bps, usage, int(can_pad), int(busy), size,
                                                     now_us, cid)
        return cid[0], n

    def on_feedback(self, results, estimate_bps: int, now_us: int) -> int:
        arr = ffi.new("sfu_tcc_packet_result_t[]", max(len(results), 1))
        for i, r in enumerate(results):
            arr[i] = r
        return lib.sfu_probe_controller_on_feedback(self.p, arr, len(results), estimate_bps, now_us)


class Link:
    """a bottleneck: FIFO drained at rate_bps (changeable), tail drop above queue_bytes,
    one-way propagation delay, random loss (or Gilbert-Elliott bursts) after the queue"""

    def __init__(self, rate_bps: int, owd_us: int = 20_000, queue_bytes: int = 64_000, loss: float = 0.0,
                 burst: tuple[float, float] | None = None, seed: int = 1) -> None:
        import random
        self.rate_bps = rate_bps
        self.owd_us = owd_us
        self.queue_bytes = queue_bytes
        self.loss = loss
        self.burst = burst              # (p good->bad, p bad->good); in the bad state every packet is lost
        self.bad = False
        self.free_at = 0.0              # when the link has sent everything queued
        self.rng = random.Random(seed)
        self.dropped = 0
        self.max_queue_us = 0.0

    def queue_delay_us(self, now_us: int) -> float:
        return max(0.0, self.free_at - now_us)

    def send(self, size: int, now_us: int) -> int | None:
        """arrival time of a packet sent now, or None when it is lost"""
        backlog_bytes = self.queue_delay_us(now_us) * self.rate_bps / 8e6
        if backlog_bytes + size > self.queue_bytes:
            self.dropped += 1
            return None
        start = max(float(now_us), self.free_at)
        self.free_at = start + size * 8e6 / self.rate_bps
        self.max_queue_us = max(self.max_queue_us, self.free_at - now_us)
        if self.burst:
            p_bad, p_good = self.burst
            self.bad = (self.rng.random() >= p_good) if self.bad else (self.rng.random() < p_bad)
            if self.bad:
                return None
        if self.loss and self.rng.random() < self.loss:
            return None
        return int(self.free_at) + self.owd_us


RX_CLOCK_OFFSET_US = 987_654_321       # the receiver's clock has another origin


class Call:
    """one subscriber transport over a Link: the sender paces media at
    min(estimate, source_bps) in packets of `packet_bytes`; the receiver
    records arrivals in tcc_server and sends feedback every feedback_us;
    feedback reaches the sender one propagation delay later.  Probes are
    what the transport driver sends: it asks the probe controller every
    tick (sfu_probe_controller_padding_packets) and sends that many real
    padding packets (rtp_padding.c, numbered by tcc_seq_stamp.c); the
    receiver records the number it reads in each."""

    def __init__(self, link: Link, bwe: Bwe | None = None, source_bps: int = 3_000_000,
                 packet_bytes: int = 1200, feedback_us: int = 50_000, tick_us: int = 1000,
                 probing: bool = True, start_bps: int = 300_000, max_bps: int = 10_000_000) -> None:
        self.link = link
        self.bwe = bwe or Bwe(start_bps=start_bps, max_bps=max_bps)
        self.rx = Receiver()
        self.source_bps = source_bps
        self.packet_bytes = packet_bytes
        self.feedback_us = feedback_us
        self.tick_us = tick_us
        self.now = 1_000_000
        self.budget = 0.0
        self.in_flight: list[tuple[int, int]] = []      # (arrival us, seq), arrival order not guaranteed
        self.feedback_in_flight: list[tuple[int, bytes]] = []
        self.next_feedback = self.now + feedback_us
        self.samples: list[tuple[int, int, float]] = []  # (time us, estimate, queue delay us)
        self.feedback_log: list[tuple[int, bytes]] = []
        self.sent_log: list[tuple[int, int, int, int]] = []   # (time us, seq, size, flags)
        self.sent_clusters: list[int] = []
        self.cluster_targets: dict[int, int] = {}       # cluster id -> target bps
        self.probe = Probe(start_bps, max_bps, self.now) if probing else None
        if self.probe:
            self.probe.set_wanted(source_bps, self.now)
        self.probe_results: list[tuple[int, int]] = []   # (time us, measured bps)
        self.feedback_estimates: list[tuple[int, int]] = []   # (time us, estimate after the feedback)

    def _send(self, size: int, flags: int = 0, cluster: int = -1, pkt: bytes | None = None) -> None:
        if cluster >= 0:
            flags |= lib.SFU_TCC_SENT_PROBE
            self.probe.on_sent(cluster, size)
            if cluster not in self.cluster_targets and self.probe.p.active >= 0:
                self.cluster_targets[cluster] = self.probe.p.c[self.probe.p.active].target_bps
        seq = self.bwe.sent(size, self.now, flags, cluster)
        if pkt is not None:                     # the number on the wire is the one the history gave
            assert read_tcc_seq(pkt) == seq
        self.sent_log.append((self.now, seq, size, flags))
        self.sent_clusters.append(cluster)
        at = self.link.send(size, self.now)
        if at is not None:
            self.in_flight.append((at, seq if pkt is None else read_tcc_seq(pkt)))

    def _send_padding(self, cluster: int) -> None:
        pkt = padding_packet(lib.sfu_tcc_send_history_next_seq(ffi.addressof(self.bwe.b.history)))
        self._send(len(pkt) + SRTP_TAG, lib.SFU_TCC_SENT_PADDING, cluster, pkt)

    def run(self, seconds: float, sample_us: int = 100_000) -> None:
        end = self.now + int(seconds * 1e6)
        next_sample = self.now
        while self.now < end:
            estimate = self.bwe.estimate(self.now)
            cluster, padding = (self.probe.padding_packets(estimate, self.bwe.b.delay.usage, self.now)
                                if self.probe else (-1, 0))
            rate = min(estimate, self.source_bps)
            self.budget = min(self.budget + rate * self.tick_us / 8e6, 4 * self.packet_bytes)
            while self.budget >= self.packet_bytes:
                self.budget -= self.packet_bytes
                self._send(self.packet_bytes, cluster=cluster)
            for _ in range(padding):            # the rest of the cluster's rate
                self._send_padding(cluster)
            # arrivals up to now go to the receiver's register
            due = [p for p in self.in_flight if p[0] <= self.now]
            if due:
                self.in_flight = [p for p in self.in_flight if p[0] > self.now]
                for at, seq in sorted(due):
                    self.rx.record(seq, at + RX_CLOCK_OFFSET_US)
            if self.now >= self.next_feedback:
                self.next_feedback += self.feedback_us
                while pkt := self.rx.build():
                    self.feedback_in_flight.append((self.now + self.link.owd_us, pkt))
            while self.feedback_in_flight and self.feedback_in_flight[0][0] <= self.now:
                _, pkt = self.feedback_in_flight.pop(0)
                self.feedback_log.append((self.now, pkt))
                self.on_feedback(self.bwe.feedback(pkt, self.now))
            if self.now >= next_sample:
                next_sample += sample_us
                self.samples.append((self.now, self.bwe.estimate(self.now), self.link.queue_delay_us(self.now)))
            self.now += self.tick_us

    def on_feedback(self, results: list) -> None:
        if self.probe:
            r = self.probe.on_feedback(results, self.bwe.estimate(self.now), self.now)
            if r:
                self.probe_results.append((self.now, r))
                lib.sfu_send_side_bwe_on_probe(self.bwe.b, r, self.now)
            if self.probe.p.saturated_bps:       # as transport_pacing.c: a ceiling
                lib.sfu_send_side_bwe_on_probe_ceiling(self.bwe.b, self.probe.p.saturated_bps, self.now)
        self.feedback_estimates.append((self.now, self.bwe.estimate(self.now)))

    def trace(self) -> dict:
        """what was sent and received, as tests/unit/c/traces/*.json hold it"""
        return {
            "sent": [[t, size, flags, c] for (t, _, size, flags), c in zip(self.sent_log, self.sent_clusters)],
            "feedback": [[t, pkt.hex()] for t, pkt in self.feedback_log],
            "cluster_targets": {str(k): v for k, v in self.cluster_targets.items()},
        }

    def estimates_between(self, t0_s: float, t1_s: float) -> list[int]:
        """the estimates sampled from t0_s to t1_s seconds into the run"""
        start = self.samples[0][0]
        return [e for t, e, _ in self.samples if t0_s * 1e6 <= t - start <= t1_s * 1e6]
