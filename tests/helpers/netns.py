"""Private network namespaces for real-client tests.

libwebrtc (in Chromium, the livekit rtc SDK and @livekit/rtc-node) ignores
loopback addresses, so a test that runs real WebRTC peers needs a
non-loopback interface: a veth pair 10.99.0.1 <-> 10.99.0.2 that exists only
in a namespace the test made (root needed), so nothing leaks to the host and
parallel runs do not see each other.

Two ways in:

* `add_veth()` sets the pair up in the current namespace, for a process
  started under `unshare -n` (tests/interop/livekit_sdk/scenarios.py).
* `NetNamespace()` keeps the test process where it is and moves one of its
  threads into a new namespace (`unshare(CLONE_NEWNET)` is per thread).  Work
  handed to that thread runs inside: subprocesses it starts (the server,
  browsers, node) inherit the namespace, and sockets it opens (an HTTP call
  to the server) belong to it.  The namespace goes away with its last process.
  (setpriv, like unshare and nsenter, is from util-linux.)
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import ctypes
import os
import queue
import subprocess
import threading
from typing import Any, Callable, Iterator

SERVER_IP = "10.99.0.1"
CLIENT_IP = "10.99.0.2"
CLONE_NEWNET = 0x40000000


def add_veth(server_ip: str = SERVER_IP, client_ip: str = CLIENT_IP) -> None:
    """Bring lo up and add a veth pair (sfu0 = server_ip, sfu1 = client_ip) to the current namespace."""
    for cmd in ("ip link set lo up", "ip link add sfu0 type veth peer name sfu1",
                f"ip addr add {server_ip}/24 dev sfu0", f"ip addr add {client_ip}/24 dev sfu1",
                "ip link set sfu0 up", "ip link set sfu1 up"):
        subprocess.run(cmd.split(), check=True, capture_output=True)


def require_root() -> None:
    """Real-client tests need root for their namespace: fail (never skip) with a clear message."""
    if os.geteuid() != 0:
        raise RuntimeError("real-client tests need root to create a private network namespace")


class NetNamespace:
    """A fresh network namespace with the veth pair, held by one thread of this process."""

    def __init__(self, server_ip: str = SERVER_IP, client_ip: str = CLIENT_IP) -> None:
        require_root()
        self.server_ip, self.client_ip = server_ip, client_ip
        self._jobs: queue.Queue = queue.Queue()
        ready: concurrent.futures.Future = concurrent.futures.Future()
        self._thread = threading.Thread(target=self._serve, args=(ready,), name="netns", daemon=True)
        self._thread.start()
        ready.result(timeout=30)

    def _serve(self, ready: concurrent.futures.Future) -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.unshare(CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            ready.set_exception(OSError(err, f"unshare(CLONE_NEWNET): {os.strerror(err)}"))
            return
        try:
            add_veth(self.server_ip, self.client_ip)
        except subprocess.CalledProcessError as e:
            ready.set_exception(RuntimeError(f"{' '.join(e.cmd)}: {e.stderr.decode().strip()}"))
            return
        ready.set_result(None)
        while (job := self._jobs.get()) is not None:
            fut, fn, args, kwargs = job
            if fut.set_running_or_notify_cancel():
                try:
                    fut.set_result(fn(*args, **kwargs))
                except BaseException as e:  # noqa: BLE001 - handed to the caller
                    fut.set_exception(e)

    def call(self, fn: Callable[..., Any], *args: Any, timeout: float | None = None, **kwargs: Any) -> Any:
        """Run fn(*args, **kwargs) inside the namespace and return its result (or raise its exception)."""
        if not self._thread.is_alive():
            raise RuntimeError("the network namespace is closed")
        fut: concurrent.futures.Future = concurrent.futures.Future()
        self._jobs.put((fut, fn, args, kwargs))
        return fut.result(timeout)

    @contextlib.contextmanager
    def nft_table(self, ruleset: str, family: str, table: str) -> Iterator[None]:
        """load an nftables ruleset (one table) into the namespace for a `with` block; the table
        is deleted whatever happens (other tests share the namespace)"""
        self.call(subprocess.run, ["nft", "-f", "-"], input=ruleset, text=True, check=True, capture_output=True)
        try:
            yield
        finally:
            self.call(subprocess.run, ["nft", "delete", "table", family, table], capture_output=True)

    def popen(self, args: list[str], **kwargs: Any) -> subprocess.Popen:
        """Start a subprocess inside the namespace.  It gets SIGTERM when the namespace's thread
        ends (setpriv --pdeathsig), so nothing outlives a test process that was killed."""
        return self.call(subprocess.Popen, ["setpriv", "--pdeathsig", "TERM", "--", *args], **kwargs)

    def close(self) -> None:
        self._jobs.put(None)
        self._thread.join(5)
