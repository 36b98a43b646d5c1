"""An `sfu serve` subprocess for real-client tests, optionally inside a NetNamespace.

The server logs to a file (never a pipe nobody reads: a full pipe would stall
it); `log_tail()` is what a failing test prints.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any, Callable

from sfu.auth import KeyProvider, VideoGrant

from helpers.netns import SERVER_IP, NetNamespace

KEYS = KeyProvider({"devkey": "secret"})


def token(identity: str, room: str = "room", **grant: Any) -> str:
    """A participant token for `room` (roomJoin plus any other VideoGrant fields)."""
    grant.setdefault("roomJoin", True)
    return KEYS.create("devkey", identity=identity, video=VideoGrant(room=room, **grant), name=identity)


class SfuServer:
    def __init__(self, ip: str = SERVER_IP, port: int = 7880, workers: int = 2, udp_port: int | None = None,
                 single_pc: bool = True, extra: list[str] | None = None, ns: NetNamespace | None = None,
                 log_path: str | None = None, timeout: float = 30) -> None:
        self.ip, self.port, self.ns = ip, port, ns
        self.url = f"ws://{ip}:{port}"
        self.log_path = log_path or f"/tmp/sfu-server-{os.getpid()}-{port}.log"
        self.log = open(self.log_path, "w")
        args = [sys.executable, "-m", "sfu.cli", "serve", "--dev", "--bind", ip, "--node-ip", ip,
                "--workers", str(workers), "--port", str(port),
                "--log-level", os.environ.get("SFU_TEST_LOG_LEVEL", "INFO")]
        if udp_port is not None:
            args += ["--udp-port", str(udp_port)]
        if not single_pc:
            args.append("--no-single-pc")
        spawn = ns.popen if ns is not None else subprocess.Popen
        self.proc = spawn(args + (extra or []), stdout=self.log, stderr=subprocess.STDOUT, cwd="/")
        self._wait_healthy(timeout)

    def _inside(self, fn: Callable[..., Any], *args: Any) -> Any:
        return self.ns.call(fn, *args) if self.ns is not None else fn(*args)

    def _wait_healthy(self, timeout: float) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log_tail(3000)}")
            try:
                if self._inside(_get, f"http://{self.ip}:{self.port}/", {}) == b"OK":
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"server did not start within {timeout} s:\n{self.log_tail(3000)}")

    def stats(self) -> dict:
        auth = {"Authorization": "Bearer " + KEYS.create("devkey", video=VideoGrant(roomList=True))}
        return json.loads(self._inside(_get, f"http://{self.ip}:{self.port}/sfu/v1/stats", auth))

    def log_tail(self, chars: int = 6000) -> str:
        self.log.flush()
        return Path(self.log_path).read_text(errors="replace")[-chars:]

    def stop(self) -> str:
        """Stop the server; returns the tail of its log."""
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
        return Path(self.log_path).read_text(errors="replace")[-6000:]


def _get(url: str, headers: dict) -> bytes:
    return urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=2).read()
