"""SIGTERM drains `sfu serve`: calls on it go on until their participants leave (then exit 0),
at most drain_timeout; a second SIGTERM stops it at once."""

from __future__ import annotations

import asyncio
import signal
import time
import urllib.error
import urllib.request

from livekit.protocol import models, rtc

from helpers.server_process import ServerProcess
from helpers.signal_client import Client
from helpers.tokens import join_token


def health(srv: ServerProcess) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"{srv.http_url}/", timeout=2) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def wait_exit(srv: ServerProcess, timeout: float) -> int | None:
    try:
        return srv.proc.wait(timeout)
    except Exception:  # noqa: BLE001 - still running
        return None


async def test_sigterm_waits_for_the_call_to_end(tmp_path):
    srv = ServerProcess().ready()
    try:
        async with Client(srv, join_token("alice", "call")) as a:
            await a.next("join")
            srv.proc.send_signal(signal.SIGTERM)
            await asyncio.sleep(1.5)
            assert srv.proc.poll() is None, "the server did not wait for its call"
            assert health(srv) == (503, "Draining")
            await a.send(rtc.SignalRequest(ping_req=rtc.Ping(timestamp=1)))
            assert (await a.next("pong_resp")).pong_resp.last_ping_timestamp == 1     # still served
            t0 = time.monotonic()
            await a.send(rtc.SignalRequest(leave=rtc.LeaveRequest()))
        assert await asyncio.to_thread(wait_exit, srv, 30) == 0
        assert time.monotonic() - t0 < 30        # when the call ended, not at the 300 s drain timeout
    finally:
        log = srv.stop()
    assert "draining" in log


async def test_drain_timeout_then_the_rooms_close(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("drain_timeout: 1\n")
    srv = ServerProcess("--config", str(cfg)).ready()
    try:
        async with Client(srv, join_token("alice", "call")) as a:
            await a.next("join")
            t0 = time.monotonic()
            srv.proc.send_signal(signal.SIGTERM)
            leave = await a.next("leave", timeout=6)
            assert leave.leave.reason == models.DisconnectReason.SERVER_SHUTDOWN
            assert time.monotonic() - t0 >= 0.9
        assert await asyncio.to_thread(wait_exit, srv, 5) == 0
    finally:
        srv.stop()


async def test_a_second_sigterm_stops_at_once():
    srv = ServerProcess().ready()
    try:
        async with Client(srv, join_token("alice", "call")) as a:
            await a.next("join")
            srv.proc.send_signal(signal.SIGTERM)
            await asyncio.sleep(0.5)
            t0 = time.monotonic()
            srv.proc.send_signal(signal.SIGTERM)
            assert (await a.next("leave", timeout=5)).leave.reason == models.DisconnectReason.SERVER_SHUTDOWN
        assert await asyncio.to_thread(wait_exit, srv, 30) == 0
        assert time.monotonic() - t0 < 30        # not the 300 s drain timeout
    finally:
        srv.stop()
