"""Large rooms: a join storm of viewers into one room, a chat message to N recipients, and a
media room of audio publishers -> N subscribers.

    python bench/bench_large_room.py [--sizes 100,300,1000] [--chat-sizes 100,300,1000]
                                     [--media-sizes 100,300,1000] [--media-seconds 10]
                                     [--concurrency 50] [--workers 2] [--seconds 900] [--json out.json]

`sfu serve` in its own process.  For each N: a host (may publish) joins a fresh room, then N
viewers (no publish grant: LiveKit's large-room audience) join it, `--concurrency` at a time,
each keeping its signalling WebSocket open and reading everything the server sends.  Printed
per N: joins/s over the storm, join latency p50/p99 (connect -> JoinResponse), server CPU per
join (main process + workers, user + system), signalling bytes the server sent per join (to
everyone, until the last batched ParticipantUpdate went out), the ParticipantUpdate messages
the host got, and server RSS growth per participant.  With updates about viewers batched
(every 3 s), bytes per join stay flat as N grows instead of growing with N.

Chat: N viewers join one room as WebRTC participants (the load tester's peers: ICE, DTLS and
the server's `_reliable` data channel over SCTP, in this process); once every one of them has
received a warm-up message, RoomService.SendData (Twirp, as a backend sends a chat message)
sends `--messages` messages 1 s apart to the room.  Printed per N: delivered/expected, the
delivery latency p50/p99 (SendData sent -> the message decoded at a recipient) and the time
until the SendData call returned (every recipient's data channel took the message; the
workers' SCTP sends it after that).
The recipients' SCTP runs in this process, in Python: at large N their own reception queue
is part of the p99 (the server-side figure is the API return).

Media room: 10 audio publishers -> N subscribers in one room, through the load tester
(`sfu.loadtest.runner`: every PeerConnection connected before media starts, the C engine
sending, one receiver thread per CPU).  Printed per N: packets delivered/expected over the run
(expected: every packet the publishers sent, to every subscriber), latency (the median of the
subscribers' p50s and the 99th percentile of their p99s; the engine's histogram ends at 200 ms,
a p99 at its end means "200 ms or more"), server CPU-us per delivered packet and server CPU
share, server RSS growth per participant, this process's own CPU share and its busiest receiver
thread's, and the busiest server process's CPU share; a row where a server process or a
receiver was over 90 % busy, or latencies ran past the histogram, says who was at its limit.

Every loop is bounded by `--seconds`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
try:  # the installed package, or the source tree with an in-place build
    import sfu._native  # noqa: F401
except ImportError:
    sys.path.insert(0, ROOT)
sys.path.append(os.path.join(ROOT, "tests"))    # tests/helpers: `sfu serve` as a process, tokens

import aiohttp  # noqa: E402
import psutil  # noqa: E402
from livekit.protocol import models, rtc  # noqa: E402

from helpers.server_process import ServerProcess  # noqa: E402
from helpers.tokens import API_KEY, API_SECRET, join_token  # noqa: E402
from sfu.api.client import RoomClient  # noqa: E402
from sfu.loadtest import runner  # noqa: E402
from sfu.loadtest.livekit import Participant  # noqa: E402

BATCH_WAIT = 3.5           # sfu.rooms.participant_updates.BATCH_INTERVAL, and a margin


def server_usage(pid: int) -> tuple[float, float]:
    """(CPU seconds, RSS MB) of the server and its workers"""
    procs = [psutil.Process(pid)] + psutil.Process(pid).children()
    cpu = sum(p.cpu_times().user + p.cpu_times().system for p in procs)
    return cpu, sum(p.memory_info().rss for p in procs) / 2**20


class Peer:
    """one signalling connection that reads everything until closed"""

    def __init__(self) -> None:
        self.bytes = 0
        self.updates = 0
        self.joined = asyncio.get_running_loop().create_future()
        self.task: asyncio.Task | None = None

    async def run(self, http: aiohttp.ClientSession, url: str, token: str, stop: asyncio.Event) -> None:
        async with http.ws_connect(f"{url}/rtc?access_token={token}", max_msg_size=0) as ws:
            reader = asyncio.ensure_future(self._read(ws))
            await stop.wait()
            reader.cancel()
            await ws.send_bytes(rtc.SignalRequest(leave=rtc.LeaveRequest()).SerializeToString())

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for msg in ws:
            if msg.type != aiohttp.WSMsgType.BINARY:
                break
            self.bytes += len(msg.data)
            which = rtc.SignalResponse.FromString(msg.data).WhichOneof("message")
            if which == "join" and not self.joined.done():
                self.joined.set_result(time.monotonic())
            elif which == "update":
                self.updates += 1


def percentile(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))] if xs else float("nan")


async def storm(url: str, pid: int, n: int, concurrency: int, deadline: float) -> dict:
    room = f"storm-{n}-{int(time.time())}"
    stop = asyncio.Event()
    # no connector limit (aiohttp's default of 100 open connections would queue the viewers)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
        host = Peer()
        host.task = asyncio.ensure_future(host.run(http, url, join_token("host", room), stop))
        await asyncio.wait_for(host.joined, 10)
        cpu0, rss0 = server_usage(pid)
        peers: list[Peer] = []
        latencies: list[float] = []
        failures = 0
        sem = asyncio.Semaphore(concurrency)

        async def join(i: int) -> None:
            nonlocal failures
            async with sem:
                if time.monotonic() > deadline:
                    failures += 1
                    return
                p = Peer()
                peers.append(p)
                t0 = time.monotonic()
                p.task = asyncio.ensure_future(p.run(http, url, join_token(f"v{i}", room, canPublish=False), stop))
                try:
                    latencies.append(await asyncio.wait_for(asyncio.shield(p.joined), 30) - t0)
                except asyncio.TimeoutError:
                    failures += 1

        t0 = time.monotonic()
        await asyncio.gather(*(join(i) for i in range(n)))
        storm_s = time.monotonic() - t0
        await asyncio.sleep(BATCH_WAIT)          # the batched updates about the last viewers
        cpu1, rss1 = server_usage(pid)
        sent = host.bytes + sum(p.bytes for p in peers)
        stop.set()
        await asyncio.gather(*(p.task for p in [host, *peers] if p.task), return_exceptions=True)
    lat = sorted(latencies) or [float("nan")]
    joined = len(latencies)
    return {"n": n, "joined": joined, "failures": failures, "storm_seconds": round(storm_s, 2),
            "joins_per_second": round(joined / storm_s, 1) if storm_s else None,
            "join_p50_ms": round(1000 * statistics.median(lat), 1),
            "join_p99_ms": round(1000 * percentile(lat, 0.99), 1),
            "cpu_ms_per_join": round(1000 * (cpu1 - cpu0) / max(1, joined), 2),
            "signal_bytes_per_join": round(sent / max(1, joined)),
            "host_update_messages": host.updates,
            "rss_kb_per_participant": round(1024 * (rss1 - rss0) / max(1, joined), 1)}


async def chat(url: str, n: int, messages: int, concurrency: int, deadline: float) -> dict:
    """N data-channel recipients, then `messages` SendData calls to all of them"""
    room = f"chat-{n}-{int(time.time())}"
    arrivals: dict[bytes, list[float]] = {}       # message tag -> arrival times
    warm: set[str] = set()

    def on_data(identity: str):
        def got(label: str, data: bytes) -> None:
            pkt = models.DataPacket.FromString(data)
            payload = pkt.user.payload
            if payload.startswith(b"warm"):
                warm.add(identity)
            else:
                arrivals.setdefault(payload, []).append(time.monotonic())
        return got

    parts: list[Participant] = []
    failed: dict[str, str] = {}                  # identity -> why it did not get ready
    sem = asyncio.Semaphore(concurrency)

    async def join(i: int) -> None:
        async with sem:
            if time.monotonic() > deadline:
                failed[f"r{i}"] = "time budget spent"
                return
            p = Participant(url, join_token(f"r{i}", room, canPublish=False), f"r{i}", "127.0.0.1",
                            auto_subscribe=False, on_data=on_data(f"r{i}"))
            parts.append(p)
            try:
                await p.connect()
                (await p.subscriber_connected()).start_consent()   # ICE consent (RFC 7675) past 30 s
            except Exception as exc:     # reported, never silently absent
                failed[f"r{i}"] = str(exc)

    result: dict = {"n": n, "messages": messages}
    async with RoomClient(url, API_KEY, API_SECRET) as api:
        try:
            t0 = time.monotonic()
            await asyncio.gather(*(join(i) for i in range(n)))
            result["setup_seconds"] = round(time.monotonic() - t0, 1)
            ok = {p.identity for p in parts} - failed.keys()
            # every recipient's channel open: a warm-up message reached it (bounded)
            until = min(deadline, time.monotonic() + 30)
            while not ok <= warm and time.monotonic() < until:
                await api.send_data(room, b"warm")
                await asyncio.sleep(2.0)
            result["not_open"] = len(ok - warm)
            sent_at: dict[bytes, float] = {}
            api_ms: list[float] = []
            for k in range(messages):
                tag = b"chat-%d" % k
                sent_at[tag] = t = time.monotonic()
                await api.send_data(room, tag, topic="chat")
                api_ms.append(1000 * (time.monotonic() - t))
                await asyncio.sleep(1.0)
            await asyncio.sleep(1.0)     # late arrivals count as delivered (and in the latency)
            lat = [1000 * (a - sent_at[tag]) for tag, times in arrivals.items() if tag in sent_at for a in times]
            problems = [f"{who}: {why}" for who, why in failed.items()]
            problems += [f"{p.identity}: left ({p.left})" for p in parts if p.left]
            result.update(recipients=len(ok), failed=len(problems), failures=problems[:3],
                          delivered=len(lat), expected=len(ok) * messages,
                          delivery_p50_ms=round(percentile(lat, 0.5), 1),
                          delivery_p99_ms=round(percentile(lat, 0.99), 1),
                          api_return_p50_ms=round(percentile(api_ms, 0.5), 1),
                          api_return_max_ms=round(max(api_ms), 1) if api_ms else None)
        finally:
            await asyncio.gather(*(p.close() for p in parts), return_exceptions=True)
    return result


async def media(url: str, pid: int, n: int, publishers: int, seconds: float) -> dict:
    """`publishers` audio publishers -> n subscribers in one room for `seconds`"""
    _, rss0 = server_usage(pid)
    me = psutil.Process()
    c0, t0 = sum(me.cpu_times()[:2]), time.monotonic()
    opts = runner.Options(url=url, room_prefix=f"media-{n}-{int(time.time())}", video_publishers=0,
                          audio_publishers=publishers, subscribers=n, duration=seconds, bind_ip="127.0.0.1",
                          setup_timeout=60.0, progress=False)
    try:
        rep = await runner.run(opts, out=lambda line: None)
    except Exception as exc:      # a participant that failed to set up fails the point, with the reason
        return {"n": n, "publishers": publishers, "error": str(exc)[:300]}
    tester = (sum(me.cpu_times()[:2]) - c0) / (time.monotonic() - t0)
    s, srv = rep["summary"], rep.get("server", {})
    subs = [x for x in rep["subscribers"] if x["packets"]]
    p50s = [x["latency_ms"].get("p50", 0.0) for x in subs]
    p99s = [x["latency_ms"].get("p99", 0.0) for x in subs]
    expected = sum(x["expected"] for x in rep["subscribers"])
    return {"n": n, "publishers": publishers, "seconds": seconds, "setup_seconds": rep["setup"]["seconds"],
            "streams": s["subscriber_streams"], "streams_without_packets": s["streams_without_packets"],
            "delivered": s["packets_received"], "expected": expected, "loss_pct": s["loss_pct"],
            "latency_p50_ms": round(statistics.median(p50s), 2) if p50s else None,
            "latency_p99_ms": round(percentile(p99s, 0.99), 2) if p99s else None,
            "server_cpu_us_per_packet": srv.get("cpu_us_per_received_packet"),
            "server_cpu_percent": srv.get("cpu_percent"),
            "rss_kb_per_participant": round(1024 * (srv.get("rss_mb", rss0) - rss0) / (n + publishers), 1),
            "tester_cpu_percent": round(100 * tester, 1),
            "tester_receivers": rep["tester"]["receivers"],
            "tester_receiver_busy_max": round(100 * max(rep["tester"]["receiver_busy"], default=0.0), 1),
            "server_busiest_process_percent": srv.get("busiest_process_percent"),
            "limit": limit_of(rep)}


def limit_of(rep: dict) -> str:
    """who was at its limit in a media point ('' if nobody)"""
    busiest = rep.get("server", {}).get("busiest_process_percent") or 0.0
    tester = rep["tester"]
    who = []
    if busiest >= 90:
        who.append(f"the server (a process at {busiest:.0f} %)")
    if tester["receivers_saturated"]:
        who.append("the tester's receivers")
    if not who and tester["latency_saturated"]:
        who.append("the machine (latency >= 200 ms, nobody at 90 %: the server, the tester and the "
                   "kernel share 2 cores)" if (os.cpu_count() or 1) <= 2 else "unknown (latency >= 200 ms)")
    return ", ".join(who)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="100,300,1000", help="join storm sizes")
    ap.add_argument("--chat-sizes", default="100,300,1000", help="chat recipients ('' to skip)")
    ap.add_argument("--messages", type=int, default=5, help="chat messages per size")
    ap.add_argument("--media-sizes", default="100,300,1000", help="audio subscribers ('' to skip)")
    ap.add_argument("--media-publishers", type=int, default=10)
    ap.add_argument("--media-seconds", type=float, default=10.0)
    ap.add_argument("--concurrency", type=int, default=50)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=900)
    ap.add_argument("--json")
    ap.add_argument("--server-log", help="keep the server's log in this file")
    args = ap.parse_args()
    sizes = [int(x) for x in args.sizes.split(",") if x]
    chat_sizes = [int(x) for x in args.chat_sizes.split(",") if x]
    media_sizes = [int(x) for x in args.media_sizes.split(",") if x]
    srv = ServerProcess(workers=args.workers, log_level="WARNING", log_path=args.server_log).ready()
    deadline = time.monotonic() + args.seconds
    rows: list[dict] = []
    chats: list[dict] = []
    medias: list[dict] = []
    try:
        for n in sizes:
            if time.monotonic() > deadline:
                break
            rows.append(asyncio.run(storm(srv.url, srv.proc.pid, n, args.concurrency, deadline)))
        for n in chat_sizes:
            if time.monotonic() > deadline:
                break
            chats.append(asyncio.run(chat(srv.url, n, args.messages, args.concurrency, deadline)))
        for n in media_sizes:
            if time.monotonic() > deadline:
                break
            medias.append(asyncio.run(media(srv.url, srv.proc.pid, n, args.media_publishers, args.media_seconds)))
    finally:
        srv.stop()
    cmd = "python bench/bench_large_room.py " + " ".join(sys.argv[1:])
    if rows:
        print(f"join storm of viewers into one room ({args.workers} workers, {args.concurrency} joins in flight)")
        print(f"{'N':>6} {'joined':>7} {'joins/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'CPU ms/join':>11} "
              f"{'bytes/join':>10} {'host updates':>12} {'RSS KB/part':>11}")
    for r in rows:
        print(f"{r['n']:>6} {r['joined']:>7} {r['joins_per_second']:>8} {r['join_p50_ms']:>7} {r['join_p99_ms']:>7} "
              f"{r['cpu_ms_per_join']:>11} {r['signal_bytes_per_join']:>10} {r['host_update_messages']:>12} "
              f"{r['rss_kb_per_participant']:>11}")
    if chats:
        print(f"chat message (RoomService.SendData) to N data-channel recipients in one room, "
              f"{args.messages} messages each")
        print(f"{'N':>6} {'ready':>6} {'failed':>6} {'delivered':>10} {'expected':>9} {'p50 ms':>7} {'p99 ms':>7} "
              f"{'API p50 ms':>10} {'API max ms':>10} {'set-up s':>8}")
        for c in chats:
            print(f"{c['n']:>6} {c['recipients']:>6} {c['failed']:>6} {c['delivered']:>10} {c['expected']:>9} "
                  f"{c['delivery_p50_ms']:>7} {c['delivery_p99_ms']:>7} {c['api_return_p50_ms']:>10} "
                  f"{c['api_return_max_ms']:>10} {c['setup_seconds']:>8}")
            for f in c["failures"]:
                print(f"       failed: {f}")
    if medias:
        print(f"media room: {args.media_publishers} audio publishers -> N subscribers, {args.media_seconds:g} s")
        print(f"{'N':>6} {'delivered':>10} {'expected':>10} {'loss %':>7} {'p50 ms':>7} {'p99 ms':>7} "
              f"{'CPU us/pkt':>10} {'server CPU %':>12} {'RSS KB/part':>11} {'tester CPU %':>12} {'rx busy %':>9} "
              f"{'set-up s':>8} {'busiest %':>9}")
        for m in medias:
            if "error" in m:
                print(f"{m['n']:>6} FAILED: {m['error']}")
                continue
            print(f"{m['n']:>6} {m['delivered']:>10} {m['expected']:>10} {m['loss_pct']:>7} {m['latency_p50_ms']:>7} "
                  f"{m['latency_p99_ms']:>7} {m['server_cpu_us_per_packet']:>10} {m['server_cpu_percent']:>12} "
                  f"{m['rss_kb_per_participant']:>11} {m['tester_cpu_percent']:>12} {m['tester_receiver_busy_max']:>9} "
                  f"{m['setup_seconds']:>8} {m['server_busiest_process_percent']:>9}"
                  + (f"  <- at its limit: {m['limit']}" if m["limit"] else ""))
    print(f"command: {cmd}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rows": rows, "chat": chats, "media": medias, "command": cmd}, f, indent=1)
    ok = all(r["failures"] == 0 for r in rows) and len(rows) == len(sizes)
    ok = ok and len(chats) == len(chat_sizes) and all(
        c["failed"] == 0 and c["not_open"] == 0 and c["delivered"] == c["expected"] for c in chats)
    ok = ok and len(medias) == len(media_sizes) and all(
        "error" not in m and m["streams_without_packets"] == 0 and m["delivered"] == m["expected"] for m in medias)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
