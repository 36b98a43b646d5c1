"""A node's state as Prometheus metric families, named as LiveKit names them where it has the
metric (pkg/telemetry/prometheus: a `node_id` and `node_type` label on each), under `sfu_`
otherwise.  Pure: built from a snapshot, so the names and values are tested without a server."""

from __future__ import annotations

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric, UnknownMetricFamily

from .snapshot import NodeSnapshot

NODE_TYPE = "SERVER"
TRACK_KINDS = ("AUDIO", "VIDEO")


def _total(workers: list[dict], key: str) -> int:
    return sum(int(w.get("stats", {}).get(key, 0)) for w in workers)


def families(s: NodeSnapshot) -> list[Metric]:
    node = {"node_id": s.node_id, "node_type": NODE_TYPE}
    labels = list(node)
    values = list(node.values())
    out: list[Metric] = []

    def gauge(name: str, doc: str, value: float) -> None:
        g = GaugeMetricFamily(name, doc, labels=labels)
        g.add_metric(values, value)
        out.append(g)

    gauge("livekit_room_total", "rooms on this node", s.rooms)
    gauge("livekit_participant_total", "participants on this node", s.participants)
    for name, by_kind, doc in (("livekit_track_published_total", s.tracks_published, "published tracks"),
                               ("livekit_track_subscribed_total", s.tracks_subscribed, "subscribed tracks")):
        g = GaugeMetricFamily(name, doc, labels=labels + ["kind"])
        for kind in TRACK_KINDS:
            g.add_metric(values + [kind], by_kind.get(kind, 0))
        out.append(g)

    live = [w for w in s.workers if "stats" in w]
    retransmits = _total(live, "retransmits")
    packets = CounterMetricFamily("livekit_packet_total", "RTP/RTCP packets", labels=labels + ["direction",
                                                                                            "transmission"])
    packets.add_metric(values + ["incoming", "initial"], _total(live, "rx_packets"))
    packets.add_metric(values + ["outgoing", "initial"], _total(live, "tx_packets") - retransmits)
    packets.add_metric(values + ["outgoing", "retransmit"], retransmits)
    out.append(packets)
    # LiveKit's name has no _total, which prometheus_client adds to counters: untyped keeps the name
    octets = UnknownMetricFamily("livekit_packet_bytes", "bytes of RTP/RTCP packets (a counter)",
                                 labels=labels + ["direction"])
    octets.add_metric(values + ["incoming"], _total(live, "rx_bytes"))
    octets.add_metric(values + ["outgoing"], _total(live, "tx_bytes"))
    out.append(octets)
    nacks = CounterMetricFamily("livekit_nack_total", "NACKed packets", labels=labels + ["direction"])
    nacks.add_metric(values + ["incoming"], _total(live, "nacks"))
    nacks.add_metric(values + ["outgoing"], _total(live, "nacks_sent"))
    out.append(nacks)
    # incoming: asked by subscribers; outgoing: sent to publishers (one per producer per 500 ms)
    plis = CounterMetricFamily("livekit_pli_total", "key frame requests (PLI)", labels=labels + ["direction"])
    plis.add_metric(values + ["incoming"], _total(live, "plis_received"))
    plis.add_metric(values + ["outgoing"], _total(live, "plis_sent"))
    out.append(plis)
    firs = CounterMetricFamily("livekit_fir_total", "key frame requests (FIR)", labels=labels + ["direction"])
    firs.add_metric(values + ["incoming"], _total(live, "firs_received"))
    firs.add_metric(values + ["outgoing"], 0)     # publishers are asked with PLI only
    out.append(firs)

    w_labels = labels + ["worker"]
    per_worker = {
        "sfu_worker_rx_packets": ("packets received by the worker's loop", "rx_packets"),
        "sfu_worker_tx_packets": ("packets sent by the worker's loop", "tx_packets"),
        "sfu_worker_retransmits": ("packets resent for subscribers' NACKs", "retransmits"),
        "sfu_worker_nack_misses": ("NACKed packets no longer in the cache", "nack_misses"),
        "sfu_worker_ring_tx": ("packets handed to other workers' rings", "ring_tx"),
        "sfu_worker_ring_rx": ("packets taken from other workers' rings", "ring_rx"),
        "sfu_worker_plis_throttled": ("subscribers' key frame requests not passed on", "plis_throttled"),
        "sfu_worker_nacks_sent": ("sequence numbers asked of publishers (each retry counts)", "nacks_sent"),
        "sfu_worker_nack_recovered": ("missing publisher packets that arrived after all", "nack_recovered"),
        "sfu_worker_nack_lost": ("missing publisher packets given up", "nack_lost"),
        "sfu_worker_rtx_received": ("publisher RTX packets unwrapped into their stream", "rtx_received"),
        "sfu_worker_rtx_sent": ("retransmits sent to subscribers as RTX", "rtx_sent"),
        "sfu_worker_red_sent": ("audio packets sent to subscribers as RED with earlier blocks", "red_sent"),
        "sfu_worker_red_recovered": ("publisher audio packets rebuilt from a later RED packet", "red_recovered"),
    }
    for name, (doc, key) in per_worker.items():
        c = CounterMetricFamily(name, doc, labels=w_labels)
        for w in live:
            c.add_metric(values + [str(w["worker"])], int(w["stats"].get(key, 0)))
        out.append(c)
    drops = CounterMetricFamily("sfu_worker_drops", "datagrams the loop did not forward, by reason",
                                labels=w_labels + ["reason"])
    for w in live:
        counted = w["stats"].get("drops", {})
        for reason in sorted(set(s.drop_reasons) | set(counted)):
            drops.add_metric(values + [str(w["worker"]), reason], int(counted.get(reason, 0)))
    out.append(drops)
    ice = CounterMetricFamily("sfu_worker_ice_errors", "ICE checks refused or dropped, by reason (a fixed set)",
                              labels=w_labels + ["reason"])
    for w in live:
        for reason, n in sorted((w.get("ice_errors") or {}).items()):
            ice.add_metric(values + [str(w["worker"]), reason], int(n))
    out.append(ice)
    cpu = CounterMetricFamily("sfu_worker_cpu_seconds", "CPU time of the worker process", labels=w_labels + ["mode"])
    for w in live:
        cpu.add_metric(values + [str(w["worker"]), "user"], float(w.get("cpu_user", 0)))
        cpu.add_metric(values + [str(w["worker"]), "system"], float(w.get("cpu_system", 0)))
    out.append(cpu)
    pps = GaugeMetricFamily("sfu_worker_forwarded_packets_per_second",
                            "packets sent per second since the previous scrape", labels=w_labels)
    for index, rate in sorted(s.forwarded_pps.items()):
        pps.add_metric(values + [str(index)], rate)
    out.append(pps)
    up = GaugeMetricFamily("sfu_worker_up", "1 if the worker answered this scrape", labels=w_labels)
    restarts = CounterMetricFamily("sfu_worker_restarts", "times the worker was started again", labels=w_labels)
    for w in s.workers:
        up.add_metric(values + [str(w["worker"])], 0 if "error" in w else 1)
    for index, n in sorted(s.worker_restarts.items()):
        restarts.add_metric(values + [str(index)], n)
    out += [up, restarts]
    # a ring that stays full drops (sfu_worker_drops{reason="ring_full"}): the reader falls behind
    fill = GaugeMetricFamily("sfu_ring_fill_ratio", "share of a worker-to-worker ring written and not yet read",
                             labels=labels + ["from_worker", "to_worker"])
    for (a, b), (pending, slots) in sorted(s.ring_fill.items()):
        fill.add_metric(values + [str(a), str(b)], pending / slots if slots else 0.0)
    out.append(fill)

    refused = CounterMetricFamily("sfu_http_refused_connections", "HTTP connections closed before a request: "
                                  "over a bound, or no request head in time", labels=labels + ["reason"])
    for reason, n in sorted(s.http_refused.items()):
        refused.add_metric(values + [reason], n)
    out.append(refused)

    if s.webhooks is not None:
        sent = CounterMetricFamily("sfu_webhook_sent", "webhook requests answered 2xx", labels=labels)
        sent.add_metric(values, s.webhooks["sent"])
        dropped = CounterMetricFamily("sfu_webhook_dropped", "webhook events given up, by reason",
                                      labels=labels + ["reason"])
        for reason, n in sorted(s.webhooks["dropped"].items()):
            dropped.add_metric(values + [reason], n)
        queued = GaugeMetricFamily("sfu_webhook_queued", "webhook events waiting", labels=labels)
        queued.add_metric(values, s.webhooks["queued"])
        out += [sent, dropped, queued]
    return out
