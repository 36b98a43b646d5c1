"""Shared fixtures: worker pools, free ports, packet builders."""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import struct
import subprocess
import sys
import time
import urllib.request

import pytest

# the tests must exercise the installed package (with its C extension)
import sfu.native  # noqa: F401  fails early with a clear error if the extension is missing

from sfu.worker.process import WorkerPool

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)  # tests/helpers importable as plain modules


@contextlib.contextmanager
def in_process_worker():
    """one media worker in this process: its C loop runs in a thread, no channel
    (tests call the request handlers, on_<method>, directly)"""
    from sfu.worker.main import Worker

    args = argparse.Namespace(worker_id=0, n_workers=1, ring_slots=64, wake_fds="", shm_fd=-1, shm_size=0,
                              listen_ip="127.0.0.1", announced_ip="127.0.0.1", port=0)
    w = Worker(args)
    w.start_native()
    try:
        yield w
    finally:
        w.stop_native()


def rtp_packet(seq: int, ts: int, ssrc: int, pt: int = 96, payload: bytes = b"\xab" * 100,
               marker: bool = False) -> bytes:
    return struct.pack("!BBHII", 0x80, (0x80 if marker else 0) | pt, seq & 0xFFFF, ts & 0xFFFFFFFF, ssrc) + payload


def udp_socket(timeout: float = 2.0) -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.settimeout(timeout)
    return s


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(port: int, proc: subprocess.Popen, timeout: float = 20) -> None:
    """Wait until an `sfu serve` subprocess answers its health check (GET / -> OK)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            pipe = proc.stdout or proc.stderr
            raise AssertionError(f"server exited with {proc.returncode}: "
                                 + (pipe.read().decode()[-3000:] if pipe else ""))
        try:
            if urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1).read() == b"OK":
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise AssertionError("server did not become healthy")


@pytest.fixture
async def pool2():
    p = WorkerPool(2, listen_ip="127.0.0.1")
    await p.start()
    try:
        yield p
    finally:
        await p.stop()


@pytest.fixture
async def pool1():
    p = WorkerPool(1, listen_ip="127.0.0.1")
    await p.start()
    try:
        yield p
    finally:
        await p.stop()
