"""/metrics of a whole server on its Prometheus port, scraped and parsed with prometheus_client's
parser: rooms, participants, the workers' counters, agent dispatch latency (sfu.metrics)."""

from __future__ import annotations

import socket

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from helpers.app_server import running_server
from helpers.fake_agent_worker import FakeWorker
from helpers.net import free_port
from helpers.signal_client import Client
from helpers.tokens import join_token
from helpers.waiting import until

from sfu.native import DROP_REASONS


async def scrape(port: int) -> dict[str, list]:
    async with aiohttp.ClientSession() as s, s.get(f"http://127.0.0.1:{port}/metrics") as r:
        assert r.status == 200 and r.headers["Content-Type"].startswith("text/plain")
        text = await r.text()
    out: dict[str, list] = {}
    for fam in text_string_to_metric_families(text):
        for sample in fam.samples:
            out.setdefault(sample.name, []).append((sample.labels, sample.value))
    return out


def one(m: dict, name: str, **labels) -> float:
    [v] = [v for lab, v in m[name] if all(lab.get(k) == x for k, x in labels.items())]
    return v


async def test_scrape_rooms_participants_workers_and_dispatch_latency():
    port = free_port()
    async with running_server(prometheus_port=port, workers=2) as srv:
        m = await scrape(port)
        assert one(m, "livekit_room_total") == 0 and one(m, "livekit_participant_total") == 0
        assert {lab["node_id"] for lab, _ in m["livekit_room_total"]} == {srv.rooms.node_id}
        assert one(m, "sfu_worker_up", worker="0") == 1 and one(m, "sfu_worker_up", worker="1") == 1
        reasons = {lab["reason"] for lab, _ in m["sfu_worker_drops_total"] if lab["worker"] == "0"}
        assert reasons == set(DROP_REASONS)
        before = one(m, "sfu_worker_rx_packets_total", worker="0")
        # a datagram from nobody the worker knows: received, then dropped as unknown_source
        w0 = srv.pool.workers[0]
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            for _ in range(3):
                u.sendto(b"\x80\x60" + bytes(30), ("127.0.0.1", w0.port))
        async with FakeWorker(srv) as worker, \
                Client(srv, join_token("alice", "r1")) as a, Client(srv, join_token("bob", "r1")) as b:
            await a.next("join")
            await b.next("join")
            await until(lambda: worker.assigned, what="the room's job assigned")
            m = await scrape(port)
        assert one(m, "livekit_room_total") == 1
        assert one(m, "livekit_participant_total") >= 2        # alice, bob (and the agent, once it joins)
        assert one(m, "sfu_worker_rx_packets_total", worker="0") >= before + 3
        assert one(m, "sfu_worker_drops_total", worker="0", reason="unknown_source") >= 3
        assert one(m, "sfu_agent_dispatch_seconds_count") == 1
        assert 0 < one(m, "sfu_agent_dispatch_seconds_sum") < 5
        # a rate once there were 2 scrapes: one per worker
        assert {lab["worker"] for lab, _ in m["sfu_worker_forwarded_packets_per_second"]} == {"0", "1"}
        # both rings of the two workers, empty with no media
        assert {(lab["from_worker"], lab["to_worker"]): v for lab, v in m["sfu_ring_fill_ratio"]} == \
            {("0", "1"): 0.0, ("1", "0"): 0.0}
        assert one(m, "livekit_pli_total", direction="incoming") == 0
        assert one(m, "livekit_fir_total", direction="incoming") == 0
