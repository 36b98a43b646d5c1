"""Metric families from a node snapshot (sfu.metrics.families), read back with
prometheus_client's own text parser."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from sfu.metrics import NodeSnapshot
from sfu.metrics.families import families


class _Fixed:
    def __init__(self, s: NodeSnapshot) -> None:
        self.s = s

    def collect(self):
        return families(self.s)


def scrape(s: NodeSnapshot) -> dict[str, list]:
    reg = CollectorRegistry(auto_describe=False)
    reg.register(_Fixed(s))
    out: dict[str, list] = {}
    for fam in text_string_to_metric_families(generate_latest(reg).decode()):
        for sample in fam.samples:
            out.setdefault(sample.name, []).append((sample.labels, sample.value))
    return out


def value(samples: dict, name: str, **labels) -> float:
    [v] = [v for lab, v in samples[name] if all(lab.get(k) == x for k, x in labels.items())]
    return v


WORKER = {"worker": 0, "cpu_user": 1.5, "cpu_system": 0.5, "ice_errors": {"bad_integrity": 2, "malformed": 0},
          "stats": {"rx_packets": 100, "rx_bytes": 10000, "tx_packets": 250, "tx_bytes": 30000, "retransmits": 7,
                    "nacks": 9, "nack_misses": 2, "nacks_sent": 11, "rtx_sent": 4, "ring_tx": 3, "ring_rx": 4, "plis_throttled": 1,
                    "plis_received": 6, "firs_received": 2, "plis_sent": 3, "drops": {"unknown_source": 5}}}


def test_livekit_names_and_values():
    s = NodeSnapshot("ND_x", rooms=2, participants=5, tracks_published={"AUDIO": 3, "VIDEO": 1},
                     tracks_subscribed={"AUDIO": 6}, workers=[WORKER, {"worker": 1, "error": "not running"}],
                     worker_restarts={0: 0, 1: 2}, drop_reasons=("unknown_source", "srtp_auth"))
    m = scrape(s)
    assert value(m, "livekit_room_total", node_id="ND_x", node_type="SERVER") == 2
    assert value(m, "livekit_participant_total") == 5
    assert value(m, "livekit_track_published_total", kind="AUDIO") == 3
    assert value(m, "livekit_track_published_total", kind="VIDEO") == 1
    assert value(m, "livekit_track_subscribed_total", kind="VIDEO") == 0
    assert value(m, "livekit_packet_total", direction="incoming", transmission="initial") == 100
    assert value(m, "livekit_packet_total", direction="outgoing", transmission="initial") == 243
    assert value(m, "livekit_packet_total", direction="outgoing", transmission="retransmit") == 7
    assert value(m, "livekit_packet_bytes", direction="outgoing") == 30000
    assert value(m, "livekit_nack_total", direction="incoming") == 9
    assert value(m, "livekit_nack_total", direction="outgoing") == 11
    assert value(m, "livekit_pli_total", direction="incoming") == 6
    assert value(m, "livekit_pli_total", direction="outgoing") == 3
    assert value(m, "livekit_fir_total", direction="incoming") == 2


def test_ring_fill_per_pair_of_workers():
    m = scrape(NodeSnapshot("ND_x", ring_fill={(0, 1): (1024, 4096), (1, 0): (0, 4096)}))
    assert value(m, "sfu_ring_fill_ratio", from_worker="0", to_worker="1") == 0.25
    assert value(m, "sfu_ring_fill_ratio", from_worker="1", to_worker="0") == 0


def test_shared_rings_report_what_is_queued():
    """SharedRings.fill reads the positions of the real rings in the shared memory"""
    from sfu.native import ffi, lib
    from sfu.worker.shm import SharedRings

    rings = SharedRings(2, 64)
    try:
        assert rings.fill() == {(0, 1): (0, 64), (1, 0): (0, 64)}
        base = ffi.from_buffer(rings._map)
        r = lib.sfu_ring_attach(base + lib.sfu_shm_ring_offset(2, 64, 0, 1), 64)
        msg = ffi.new("sfu_ring_msg_t *", {"kind": lib.SFU_RING_RTP, "producer_id": 1, "ts_ns": 1, "len": 12})
        for _ in range(5):
            assert lib.sfu_ring_put(r, msg, bytes(12)) == 0
        assert rings.fill()[(0, 1)] == (0, 64)      # written, not yet published
        lib.sfu_ring_publish(r)
        del base
        assert rings.fill() == {(0, 1): (5, 64), (1, 0): (0, 64)}
    finally:
        rings.close()


def test_every_drop_reason_per_worker_and_worker_health():
    s = NodeSnapshot("ND_x", workers=[WORKER, {"worker": 1, "error": "not running"}],
                     worker_restarts={0: 0, 1: 2}, drop_reasons=("unknown_source", "srtp_auth"))
    m = scrape(s)
    assert value(m, "sfu_worker_drops_total", worker="0", reason="unknown_source") == 5
    assert value(m, "sfu_worker_drops_total", worker="0", reason="srtp_auth") == 0   # zero, but present
    assert value(m, "sfu_worker_up", worker="0") == 1 and value(m, "sfu_worker_up", worker="1") == 0
    assert value(m, "sfu_worker_restarts_total", worker="1") == 2
    assert value(m, "sfu_worker_ice_errors_total", worker="0", reason="bad_integrity") == 2
    assert value(m, "sfu_worker_tx_packets_total", worker="0") == 250
    assert value(m, "sfu_worker_rtx_sent_total", worker="0") == 4
    assert value(m, "sfu_worker_cpu_seconds_total", worker="0", mode="user") == 1.5
    assert "sfu_webhook_sent_total" not in m        # no webhooks configured


def test_quality_histograms_have_livekits_names():
    from prometheus_client.parser import text_string_to_metric_families

    from sfu.metrics.server import MetricsServer

    m = MetricsServer(lambda: None, "ND_x", "127.0.0.1", 0)
    m.observe_quality(2, 4.4)
    m.observe_quality(0, 2.1)
    fams = {f.name: f for f in text_string_to_metric_families(generate_latest(m.registry).decode())}
    rating = {s.labels.get("le"): s.value for s in fams["livekit_quality_rating"].samples if s.name.endswith("_bucket")}
    assert rating == {"0.0": 1, "1.0": 1, "2.0": 2, "+Inf": 2}
    assert [s.value for s in fams["livekit_quality_score"].samples if s.name.endswith("_count")] == [2]


def test_http_connections_refused_by_reason():
    m = scrape(NodeSnapshot("ND_x", http_refused={"header_timeout": 3, "connections": 0}))
    assert value(m, "sfu_http_refused_connections_total", reason="header_timeout") == 3


def test_webhook_counters():
    s = NodeSnapshot("ND_x", webhooks={"sent": 4, "dropped": {"age": 1, "queue_full": 0}, "queued": 2})
    m = scrape(s)
    assert value(m, "sfu_webhook_sent_total") == 4 and value(m, "sfu_webhook_queued") == 2
    assert value(m, "sfu_webhook_dropped_total", reason="age") == 1
