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
