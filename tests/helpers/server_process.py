"""`sfu serve` in a subprocess, as tests and benchmarks start it."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

from typing import TYPE_CHECKING, Any, Callable

import sfu

from .net import free_port, free_udp_port
from .tokens import token

if TYPE_CHECKING:
    from .netns import NetNamespace

# the server runs the same sfu as this process (installed, or the source tree a benchmark put on the path)
PKG_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(sfu.__file__)))


class ServerProcess:
    """`sfu serve --dev` on `host`, started by the constructor, its output in a log file (not a
    pipe: one nobody reads stalls the server once it is full).  `ready()` waits until it answers
    its health check and, with `redis`, until the node registered (then `id` is its node id).
    Free ports unless given; `args` go on the command line as they are.  With `ns` the server
    runs inside that network namespace (and `host` is an address there)."""

    def __init__(self, *args: str, host: str = "127.0.0.1", port: int | None = None, udp_port: int | None = None,
                 tcp_port: int | None = None,
                 workers: int = 1, redis: str | None = None, log_level: str = "INFO",
                 log_path: str | None = None, ns: "NetNamespace | None" = None, prefix: tuple[str, ...] = (),
                 bind: str | None = None, node_ip: str | None = None) -> None:
        self.host = host
        self.ns = ns
        self.port = port or self._inside(free_port, host)
        self.udp_port = udp_port or self._inside(free_udp_port, host)
        self.tcp_port = tcp_port if tcp_port is not None else self._inside(free_port, host)   # 0: none
        self.redis = redis
        self.id = ""
        self._own_log = log_path is None        # a temporary log goes away with stop()
        if log_path is None:
            fd, log_path = tempfile.mkstemp(prefix=f"sfu-serve-{self.port}-", suffix=".log")
            os.close(fd)
        self.log_path = log_path
        self._tail = ""
        # bind / node_ip: `host` unless given ("" leaves --node-ip out: the server picks its addresses)
        bind = host if bind is None else bind
        node_ip = host if node_ip is None else node_ip
        cmd = [*prefix, sys.executable, "-m", "sfu.cli", "serve", "--dev", "--bind", bind,
               *(["--node-ip", node_ip] if node_ip else []),
               "--port", str(self.port), "--udp-port", str(self.udp_port),
               "--tcp-port", str(self.tcp_port), "--workers", str(workers),
               "--log-level", log_level, *(["--redis", redis] if redis else []), *args]
        spawn = ns.popen if ns is not None else subprocess.Popen
        with open(log_path, "wb") as log:
            self.proc = spawn(cmd, cwd=PKG_ROOT, env=dict(os.environ, PYTHONPATH=PKG_ROOT),
                              stdout=log, stderr=subprocess.STDOUT)

    def _inside(self, fn: Callable[..., Any], *args: Any) -> Any:
        """fn(*args) in the server's network namespace"""
        return self.ns.call(fn, *args) if self.ns is not None else fn(*args)

    @property
    def http_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def url(self) -> str:
        return f"ws://{self.host}:{self.port}"

    def ready(self, timeout: float = 30) -> "ServerProcess":
        end = time.monotonic() + timeout
        while not self._healthy():
            self._alive_or_fail("before answering its health check")
            if time.monotonic() > end:
                raise AssertionError(f"sfu serve on port {self.port} not healthy within {timeout} s:\n"
                                     f"{self.log_tail()}")
            time.sleep(0.1)
        if self.redis:
            self.id = self._registered(end)
        return self

    def _healthy(self) -> bool:
        try:
            return self._inside(_get, f"{self.http_url}/", {}, 1) == b"OK"
        except OSError:
            return False

    def _alive_or_fail(self, when: str) -> None:
        if self.proc.poll() is not None:
            raise AssertionError(f"sfu serve exited with {self.proc.returncode} {when}:\n{self.log_tail()}")

    def _registered(self, end: float) -> str:
        import redis

        from sfu.cluster.registry import NODES, NodeRecord

        r = redis.Redis.from_url(self.redis)
        try:
            while time.monotonic() < end:
                self._alive_or_fail("before registering")
                for k, v in r.hgetall(NODES).items():
                    if NodeRecord.decode(v).url.endswith(f":{self.port}"):
                        return k.decode()
                time.sleep(0.1)
        finally:
            r.close()
        raise AssertionError(f"node on port {self.port} did not register:\n{self.log_tail()}")

    def stats(self) -> dict:
        """GET /sfu/v1/stats"""
        return json.loads(self._inside(_get, f"{self.http_url}/sfu/v1/stats",
                                       {"Authorization": "Bearer " + token(roomList=True)}, 5))

    def log_tail(self, n: int = 4000) -> str:
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")[-n:]
        except OSError:              # a temporary log is gone after stop()
            return self._tail[-n:]

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10, drain: bool = False) -> str:
        """signal it (if still running) and wait, killing it after `timeout`; the tail of its log.
        A SIGTERM drains (the rooms go on while participants stay): unless `drain`, a second
        SIGTERM half a second later stops it at once"""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout if drain or sig != signal.SIGTERM else 0.5)
            except subprocess.TimeoutExpired:
                if not drain and sig == signal.SIGTERM:
                    self.proc.send_signal(sig)
                try:
                    self.proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(5)
        self._tail = self.log_tail(6000)
        if self._own_log:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.log_path)
        return self._tail

    def __enter__(self) -> "ServerProcess":
        try:
            return self.ready()
        except BaseException:
            self.stop(signal.SIGKILL)
            raise

    def __exit__(self, *exc) -> None:
        self.stop()


def _get(url: str, headers: dict, timeout: float) -> bytes:
    return urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout).read()
