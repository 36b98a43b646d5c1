"""ICE over TCP against UDP: what the data plane spends per delivered packet, and what arrives,
for the same fan-out to UDP subscribers and to ICE-TCP subscribers (RFC 4571 frames), in one run.

    .venv/bin/python bench/bench_ice_tcp.py [--subscribers 50] [--pps 4000] [--seconds 5] [--size 1200]

What runs: one media worker inside this process (its C loop thread, as the product runs it),
a plain publisher transport fed over UDP from this process at --pps packets/s (--size bytes of
payload, plain RTP: the difference measured is the transport, not SRTP), and --subscribers
plain subscriber transports, connected either to UDP sockets or to TCP connections handed to
the loop the way the node's acceptor hands them (fd passing, sfu/worker/ice_tcp.py).  A reader
subprocess reads every sink (datagrams; TCP frames reassembled) and counts what arrives.

Loop CPU is the scheduler's runtime of the loop thread (/proc/self/task/TID/schedstat) over
the steady window after a 1 s warm-up, divided by the packets the loop sent in it; the kernel's
receive work for loopback delivery runs partly in the sender's context, so it is in both
figures alike, and the loop spins a little before it sleeps, so at low rates the figure is
mostly that (hence the defaults: 200,000 packets/s out).  Compare the two rows of one run (the
machine is shared and noisy).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import struct
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
try:  # the installed package, or the source tree with an in-place build (python build_ext.py)
    import sfu._native  # noqa: F401
except ImportError:
    sys.path.insert(0, REPO)

READER = r'''
import json, os, selectors, socket, sys
udp = [socket.socket(fileno=int(x)) for x in sys.argv[1].split(",") if x]
tcp = [socket.socket(fileno=int(x)) for x in sys.argv[2].split(",") if x]
sel = selectors.DefaultSelector()
counts = {"udp": 0, "tcp": 0, "torn": 0}
bufs = {}
for s in udp:
    s.setblocking(False); sel.register(s, selectors.EVENT_READ, "udp")
for s in tcp:
    s.setblocking(False); sel.register(s, selectors.EVENT_READ, "tcp"); bufs[s.fileno()] = bytearray()
sel.register(sys.stdin, selectors.EVENT_READ, "cmd")
while True:
    for key, _ in sel.select():
        if key.data == "cmd":
            line = sys.stdin.readline()
            if not line:
                sys.exit(0)
            print(json.dumps(counts), flush=True)
        elif key.data == "udp":
            s = key.fileobj
            try:
                while True:
                    s.recv(4096); counts["udp"] += 1
            except BlockingIOError:
                pass
        else:
            s = key.fileobj
            b = bufs[s.fileno()]
            try:
                while True:
                    d = s.recv(1 << 16)
                    if not d:
                        sel.unregister(s); break
                    b += d
            except BlockingIOError:
                pass
            while len(b) >= 2 and len(b) >= 2 + int.from_bytes(b[:2], "big"):
                n = int.from_bytes(b[:2], "big")
                if not 200 <= b[3] <= 206:        # RTP, not the RTCP of the transport
                    counts["tcp"] += 1
                del b[:2 + n]
'''


def thread_runtime_s(tid: int) -> float:
    """the scheduler's runtime of thread `tid` of this process"""
    with open(f"/proc/self/task/{tid}/schedstat") as f:
        return int(f.read().split()[0]) / 1e9


def rtp(seq: int, ts: int, ssrc: int, payload: bytes) -> bytes:
    return struct.pack("!BBHII", 0x80, 96, seq & 0xFFFF, ts & 0xFFFFFFFF, ssrc) + payload


def run(kind: str, args: argparse.Namespace) -> dict:
    """one measurement: a fresh worker, --subscribers subscribers of `kind` ("udp" | "tcp")"""
    from sfu.worker.main import Worker

    wargs = argparse.Namespace(worker_id=0, n_workers=1, ring_slots=64, wake_fds="", shm_fd=-1, shm_size=0,
                               listen_ip="127.0.0.1", announced_ip="127.0.0.1", port=0)
    w = Worker(wargs)
    w.start_native()
    loop_tid = w.nl._thread.native_id             # the C loop's thread
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    b.setblocking(False)
    w.handoff = b
    keep: list[socket.socket] = []
    reader = None
    try:
        pub = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        pub.bind(("127.0.0.1", 0))
        keep.append(pub)
        info = w.on_transport_create({"id": 1, "kind": "plain"})
        w.on_transport_connect({"id": 1, "ip": "127.0.0.1", "port": pub.getsockname()[1]})
        w.on_producer_create({"id": 10, "transport_id": 1, "ssrc": 0xAAAA, "payload_type": 96, "kind": "video",
                              "remote_workers": []})
        fds = []
        for tid in range(101, 101 + args.subscribers):
            w.on_transport_create({"id": tid, "kind": "plain"})
            if kind == "udp":
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
                s.bind(("127.0.0.1", 0))
                w.on_transport_connect({"id": tid, "ip": "127.0.0.1", "port": s.getsockname()[1]})
            else:                                      # as the node's acceptor hands a connection over
                lst = socket.create_server(("127.0.0.1", 0))
                s = socket.create_connection(lst.getsockname())
                srv, _ = lst.accept()
                lst.close()
                before = set(w.tcp_sockets)
                socket.send_fds(a, [b""], [srv.fileno()])
                srv.close()
                w.handoff_readable()
                (sid,) = w.tcp_sockets - before
                w.nl.transport_connect(tid, (*s.getsockname(), sid))
            keep.append(s)
            fds.append(s.fileno())
            w.on_consumer_create({"id": tid, "transport_id": tid, "producer_id": 10, "ssrc": tid,
                                  "payload_type": 96, "seq_start": 0, "ts_offset": 0, "paused": False})
        udp_fds, tcp_fds = (fds, []) if kind == "udp" else ([], fds)
        reader = subprocess.Popen([sys.executable, "-c", READER, ",".join(map(str, udp_fds)),
                                   ",".join(map(str, tcp_fds))], pass_fds=fds,
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

        def snap() -> int:
            reader.stdin.write("snap\n")
            reader.stdin.flush()
            return int(json.loads(reader.stdout.readline())[kind])

        payload = b"\x11" * args.size
        dest = (info["ip"], info["port"])
        t0 = time.monotonic()
        seq = 0
        start = None
        end = t0 + 1.0 + args.seconds
        while (now := time.monotonic()) < end:
            if start is None and now >= t0 + 1.0:
                start = (thread_runtime_s(loop_tid), int(w.nl.stats().tx_packets), seq)
            due = int((now - t0) * args.pps)
            while seq < due:
                pub.sendto(rtp(seq, seq * 3000, 0xAAAA, payload), dest)
                seq += 1
            time.sleep(0.0005)
        stop = (thread_runtime_s(loop_tid), int(w.nl.stats().tx_packets), seq)
        time.sleep(0.5)                                # the tail reaches the reader
        delivered = snap()
        drops = w.on_worker_stats({})["stats"]["drops"]
    finally:
        if reader is not None and reader.poll() is None:
            reader.stdin.close()
            reader.wait(5)
        w.stop_native()
        for s in keep:
            s.close()
        a.close()
        b.close()
    assert start is not None
    cpu = stop[0] - start[0]
    sent = stop[1] - start[1]
    return {"kind": kind, "cpu_s": cpu, "sent_in_window": sent, "us_per_packet": cpu / sent * 1e6 if sent else 0.0,
            "expected": seq * args.subscribers, "delivered": delivered, "drops": drops}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--subscribers", type=int, default=50)
    p.add_argument("--pps", type=int, default=4000, help="publisher packets/s")
    p.add_argument("--seconds", type=float, default=5.0, help="steady window")
    p.add_argument("--size", type=int, default=1200, help="payload bytes")
    p.add_argument("--rounds", type=int, default=2, help="UDP, TCP, UDP, TCP ...: the median of each")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    runs: dict[str, list[dict]] = {"udp": [], "tcp": []}
    for _ in range(args.rounds):
        for kind in ("udp", "tcp"):
            runs[kind].append(run(kind, args))
    rows = {k: sorted(v, key=lambda r: r["us_per_packet"])[len(v) // 2] for k, v in runs.items()}
    ratio = rows["tcp"]["us_per_packet"] / rows["udp"]["us_per_packet"] if rows["udp"]["us_per_packet"] else 0.0
    if args.json:
        print(json.dumps({"rows": rows, "runs": runs, "tcp_over_udp": ratio}))
        return
    cmd = "bench/bench_ice_tcp.py " + " ".join(sys.argv[1:])
    print(f"ICE-TCP vs UDP: 1 publisher at {args.pps} pps ({args.size} B payload) -> {args.subscribers} "
          f"subscribers, {args.seconds:g} s window, median of {args.rounds}   ({cmd})")
    print(f"{'transport':<10}{'delivered':>24}{'loop CPU':>11}{'us/packet':>11}{'pkts/s/core':>13}  drops")
    for kind, r in rows.items():
        pps = 1e6 / r["us_per_packet"] if r["us_per_packet"] else 0.0
        print(f"{kind:<10}{r['delivered']:>12} of {r['expected']:<9}{r['cpu_s']:>9.3f} s{r['us_per_packet']:>11.2f}"
              f"{pps:>13,.0f}  {r['drops'] or '-'}")
    print(f"TCP / UDP loop CPU per packet sent: {ratio:.2f}")


if __name__ == "__main__":
    main()
