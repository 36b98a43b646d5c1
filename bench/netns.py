"""Network namespaces without names: each is held by a `cat` started under `unshare -n`
that reads a pipe from this process, so the namespace disappears when we close the pipe
or die (nothing to clean up under /run/netns, nothing shared with concurrent runs).

Processes are started inside with `nsenter -t PID -n`.  Needs root.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

SERVER_IP = "10.99.0.1"


def own_netns() -> str:
    return os.readlink("/proc/self/ns/net")


def reexec_in_private_netns() -> None:
    """Run the calling script again under `unshare -n` unless it already has a network
    namespace of its own (SFU_NETNS_OUTER names the one it was started from)."""
    outer = os.environ.get("SFU_NETNS_OUTER")
    if outer and outer != own_netns():
        return
    if os.geteuid() != 0:
        sys.exit("this needs root (network namespaces, TUN devices)")
    env = dict(os.environ, SFU_NETNS_OUTER=own_netns())
    sys.exit(subprocess.call(["unshare", "-n", sys.executable, *sys.argv], env=env))


def setup_server_netns() -> None:
    """In the private namespace just entered: lo up, SERVER_IP on it, no IPv6 chatter."""
    for cmd in ("ip link set lo up", f"ip addr add {SERVER_IP}/32 dev lo"):
        subprocess.run(cmd.split(), check=True)
    _no_ipv6()


def _no_ipv6(prefix: list[str] | None = None) -> None:
    for key in ("all", "default"):
        subprocess.run([*(prefix or []), "sysctl", "-q", "-w", f"net.ipv6.conf.{key}.disable_ipv6=1"],
                       check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


class Namespace:
    """A fresh network namespace held by a child process."""

    def __init__(self, timeout: float = 5.0) -> None:
        mine = own_netns()
        self._holder = subprocess.Popen(["unshare", "-n", "cat"], stdin=subprocess.PIPE,
                                        stdout=subprocess.DEVNULL)
        self.pid = self._holder.pid
        self.path = f"/proc/{self.pid}/ns/net"
        end = time.monotonic() + timeout
        while True:          # until unshare has made the namespace and exec'd cat
            try:
                if os.readlink(self.path) != mine and self._comm() == "cat":
                    break
            except OSError:
                pass
            if time.monotonic() > end or self._holder.poll() is not None:
                raise RuntimeError("could not create a network namespace (unshare -n)")
            time.sleep(0.005)
        self.run("ip", "link", "set", "lo", "up")
        _no_ipv6(self.prefix())

    def _comm(self) -> str:
        with open(f"/proc/{self.pid}/comm") as f:
            return f.read().strip()

    def prefix(self) -> list[str]:
        """command prefix that runs a program inside"""
        return ["nsenter", "-t", str(self.pid), "-n", "--"]

    def run(self, *cmd: str) -> None:
        subprocess.run([*self.prefix(), *cmd], check=True)

    def popen(self, cmd: list[str], **kw) -> subprocess.Popen:
        return subprocess.Popen([*self.prefix(), *cmd], **kw)

    def close(self) -> None:
        if self._holder.poll() is None:
            self._holder.stdin.close()
            try:
                self._holder.wait(5)
            except subprocess.TimeoutExpired:
                self._holder.kill()
                self._holder.wait()

    def __enter__(self) -> "Namespace":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
