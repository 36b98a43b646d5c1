"""Worker supervision: ready handshake, death and restart under load, clean
shutdown with no orphan processes and nobody holding the shared rings' memfd."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading

import psutil
import pytest

from helpers.net import udp_socket
from helpers.server_process import ServerProcess
from sfu.media import MediaService
from sfu.loadtest.engine import ffi, lib
from sfu.native import addr_to_c
from sfu.worker import messages


def sink_thread(sock, count: int, seconds: float, out: dict, key) -> threading.Thread:
    def run() -> None:
        fds = ffi.new("int[]", [sock.fileno()])
        st = ffi.new("sfu_sink_stats_t *")
        lib.sfu_sink_run(fds, 1, seconds, count, ffi.NULL, st)
        out[key] = int(st.packets)
    t = threading.Thread(target=run)
    t.start()
    return t


def gen_thread(sock, dest, ssrc: int, count: int, pps: float, out: dict) -> threading.Thread:
    def run() -> None:
        out["sent"] = int(lib.sfu_gen_rtp(sock.fileno(), addr_to_c(*dest, ffi=ffi), ssrc, 96, 200, count, pps, 8, 10.0, ffi.NULL))
    t = threading.Thread(target=run)
    t.start()
    return t


async def test_ready_handshake_and_stats(pool2):
    stats = await pool2.stats()
    assert [s["worker"] for s in stats] == [0, 1]
    assert stats[0]["pid"] != stats[1]["pid"] and all(w.alive for w in pool2.workers)
    assert len({w.port for w in pool2.workers}) == 2


async def test_worker_sigkill_under_load(pool2):
    svc = MediaService(pool2)
    deaths = []
    pool2.on_died(deaths.append)
    # room A lives on worker 0 only; room C spans both workers (producer on 0)
    room_a, room_c = svc.router("a"), svc.router("c")
    pub_a, pub_c = udp_socket(), udp_socket()
    ta = await room_a.create_plain_transport(worker=0)
    await ta.connect(*pub_a.getsockname())
    prod_a = await ta.produce("audio", 1001, 111)
    subs_a = []
    for _ in range(2):
        s = udp_socket()
        s.setsockopt(__import__("socket").SOL_SOCKET, __import__("socket").SO_RCVBUF, 4 << 20)
        t = await room_a.create_plain_transport(worker=0)
        await t.connect(*s.getsockname())
        await t.consume(prod_a)
        subs_a.append(s)
    tc = await room_c.create_plain_transport(worker=0)
    await tc.connect(*pub_c.getsockname())
    prod_c = await tc.produce("video", 2002, 96)
    victim_sink = udp_socket()
    tv = await room_c.create_plain_transport(worker=1)
    await tv.connect(*victim_sink.getsockname())
    await tv.consume(prod_c)
    old_pid, old_port = pool2.workers[1].pid, pool2.workers[1].port

    n, pps = 3000, 2000.0
    results: dict = {}
    sinks = [sink_thread(s, n, 6.0, results, i) for i, s in enumerate(subs_a)]
    gens = [gen_thread(pub_a, (ta.ip, ta.port), 1001, n, pps, results),
            gen_thread(pub_c, (tc.ip, tc.port), 2002, n, pps, {})]
    await asyncio.sleep(0.5)
    os.kill(old_pid, signal.SIGKILL)
    # the pool notices, reports and restarts worker 1 on the same port
    for _ in range(200):
        if deaths and pool2.workers[1].alive and pool2.workers[1].pid != old_pid:
            break
        await asyncio.sleep(0.05)
    for t in gens + sinks:
        await asyncio.to_thread(t.join)
    assert results["sent"] == n
    assert results[0] == n and results[1] == n, "room on the surviving worker lost packets"
    assert deaths and deaths[0].index == 1 and deaths[0].returncode == -signal.SIGKILL
    assert "SIGKILL" in deaths[0].reason
    w1 = pool2.workers[1]
    assert w1.alive and w1.pid != old_pid and w1.port == old_port
    assert tv.closed and not prod_c.remote_refs
    stats = await pool2.stats()
    assert stats[0]["stats"]["drops"] == {}, stats[0]["stats"]["drops"]
    # the restarted worker forwards again, also from the ring
    sink2 = udp_socket()
    t2 = await room_c.create_plain_transport(worker=1)
    await t2.connect(*sink2.getsockname())
    c2 = await t2.consume(prod_c)
    out: dict = {}
    g = gen_thread(pub_c, (tc.ip, tc.port), 2002, 50, 1000.0, out)
    await asyncio.to_thread(g.join)
    got = 0
    sink2.settimeout(2)
    for _ in range(50):
        sink2.recv(2048)
        got += 1
    assert got == 50 and (await c2.stats())["packets"] == 50


async def test_pending_requests_fail_when_worker_dies(pool1):
    w = pool1.workers[0]
    pool1.restart = False
    os.kill(w.pid, signal.SIGKILL)
    from sfu.errors import WorkerDiedError
    with pytest.raises(WorkerDiedError):
        for _ in range(100):
            await w.request("WORKER_STATS", timeout=2)
            await asyncio.sleep(0.02)


RINGS_MEMFD = "/memfd:sfu-rings"      # sfu/worker/shm.py: the rings' memfd, created by the main process


def ring_holders(inode: int | None = None) -> dict[int, int]:
    """pid -> inode of every process holding an `sfu-rings` memfd open or mapped (only `inode`'s if given)"""
    out: dict[int, int] = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                path = f"/proc/{pid}/fd/{fd}"
                if os.readlink(path).startswith(RINGS_MEMFD):
                    out[int(pid)] = os.stat(path).st_ino
            with open(f"/proc/{pid}/maps") as maps:
                for line in maps:
                    fields = line.split()
                    if len(fields) >= 6 and fields[5].startswith(RINGS_MEMFD):
                        out[int(pid)] = int(fields[4])
        except OSError:          # gone meanwhile, or not ours to read
            continue
    return {pid: ino for pid, ino in out.items() if inode is None or ino == inode}


def _serve() -> tuple[ServerProcess, list[psutil.Process], int]:
    """`sfu serve` with two workers; its workers and the inode of the rings' memfd they all share"""
    srv = ServerProcess(workers=2).ready()
    workers = psutil.Process(srv.proc.pid).children()
    assert len(workers) == 2
    mine = ring_holders()
    assert srv.proc.pid in mine, "the main process holds no rings memfd"
    inode = mine[srv.proc.pid]
    assert set(ring_holders(inode)) == {srv.proc.pid, *(w.pid for w in workers)}
    return srv, workers, inode


def _end_main_process(sig: int, returncode: int) -> None:
    """end the main process with `sig`: it exits with `returncode`, and no worker and nobody
    holding the rings' memfd outlives it"""
    srv, workers, inode = _serve()
    try:
        srv.proc.send_signal(sig)
        assert srv.proc.wait(15) == returncode
        gone, alive = psutil.wait_procs(workers, timeout=5)
        assert not alive, "worker processes outlived the main process"
        assert ring_holders(inode) == {}, "a process still holds the rings' memfd"
    finally:
        print(f"--- sfu serve log tail ---\n{srv.stop(signal.SIGKILL)}")


def test_sigterm_shuts_down_cleanly():
    _end_main_process(signal.SIGTERM, 0)


def test_main_process_killed_takes_workers_with_it():
    _end_main_process(signal.SIGKILL, -signal.SIGKILL)


def test_worker_refuses_wrong_protocol_version():
    r = subprocess.run([sys.executable, "-m", "sfu.worker.main", "--worker-id", "0", "--n-workers", "1",
                        "--channel-fd", "0", "--parent-pid", str(os.getpid()),
                        "--version", str(messages.PROTOCOL_VERSION + 1)], capture_output=True, cwd="/", timeout=30)
    assert r.returncode == 40 and b"protocol" in r.stderr
