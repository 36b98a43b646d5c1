"""Loopback sockets: free ports, a bound UDP socket, the port of a server."""

from __future__ import annotations

import socket
from typing import Any


def free_port(host: str = "127.0.0.1") -> int:
    """a TCP port nobody listens on now (the caller binds it soon after)"""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def free_udp_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def free_udp_tcp_port(host: str = "127.0.0.1", low: int = 20000, high: int = 29999) -> int:
    """a port free for UDP and TCP both, below the kernel's ephemeral range (32768 up by
    default), so no outgoing connection of another test takes it meanwhile (a server that
    listens on both, as coturn does)"""
    import random
    for port in random.sample(range(low, high + 1), 200):
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u, \
                    socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
                u.bind((host, port))
                t.bind((host, port))
                return port
        except OSError:
            continue
    raise OSError(f"no port free for UDP and TCP in {low}-{high}")


def udp_socket(timeout: float = 2.0, host: str = "127.0.0.1") -> socket.socket:
    """a UDP socket bound to a free port, with a receive timeout"""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((host, 0))
    s.settimeout(timeout)
    return s


def http_port(server: Any) -> int:
    """the HTTP port of an in-process Server (settings.port), a ServerProcess (port), or a port number"""
    if isinstance(server, int):
        return server
    settings = getattr(server, "settings", None)
    return settings.port if settings is not None else server.port
