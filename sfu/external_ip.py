"""`rtc.use_external_ip`: this host's public address, as STUN servers see it (RFC 8489 Binding).

For hosts behind a 1:1 NAT (cloud instances with an internal address mapped to a public one):
the server announces what a STUN server outside reports as the source of our request, instead
of the interface addresses, as LiveKit does.  Asked once at start, from the address the media
sockets bind; the first server to answer wins; none answering stops the start (announcing an
address nobody can reach would fail every call later, silently).
"""

from __future__ import annotations

import ipaddress
import os
import select
import socket
import time
from typing import Sequence


DEFAULT_STUN_SERVERS = ("stun.l.google.com:19302", "stun1.l.google.com:19302")   # LiveKit's defaults
RETRANSMIT = 0.5          # s between requests to one server


class ExternalIpError(RuntimeError):
    pass


def _endpoint(server: str) -> tuple[str, int]:
    host, _, port = server.strip().rpartition(":")
    if not host or not port.isdigit():
        raise ExternalIpError(f"rtc.stun_servers: {server!r} is not host:port")
    return host.strip("[]"), int(port)


def mapped_address(response: bytes, transaction_id: bytes) -> str | None:
    """the address a Binding success response for `transaction_id` reports, else None"""
    from aioice import stun        # here: only rtc.use_external_ip needs it (aioice is ~10 MB)
    try:
        msg = stun.parse_message(response)
    except (ValueError, IndexError):
        return None
    if (msg.message_method != stun.Method.BINDING or msg.message_class != stun.Class.RESPONSE
            or msg.transaction_id != transaction_id):
        return None
    addr = msg.attributes.get("XOR-MAPPED-ADDRESS") or msg.attributes.get("MAPPED-ADDRESS")
    return str(addr[0]) if addr else None


def discover(servers: Sequence[str], bind_ip: str = "0.0.0.0", timeout: float = 3.0) -> tuple[str, str]:
    """(public address, the STUN server that said so); ExternalIpError when none answered in
    `timeout` s (all servers are asked at once, each every RETRANSMIT s)"""
    targets: list[tuple[str, tuple]] = []
    for server in servers or DEFAULT_STUN_SERVERS:
        host, port = _endpoint(server)
        try:
            for fam, _, _, _, sa in socket.getaddrinfo(host, port, socket.AF_INET, socket.SOCK_DGRAM):
                targets.append((server, sa))
                break
        except OSError:
            continue                     # an unresolvable name: the others may answer
    if not targets:
        raise ExternalIpError(f"rtc.use_external_ip: no STUN server resolves ({', '.join(servers)})")
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.bind((bind_ip if ipaddress.ip_address(bind_ip).version == 4 else "0.0.0.0", 0))
        from aioice import stun
        tid = os.urandom(12)
        request = bytes(stun.Message(stun.Method.BINDING, stun.Class.REQUEST, transaction_id=tid))
        end = time.monotonic() + timeout
        next_send = 0.0
        while (now := time.monotonic()) < end:
            if now >= next_send:
                for _, sa in targets:
                    try:
                        s.sendto(request, sa)
                    except OSError:
                        pass
                next_send = now + RETRANSMIT
            ready, _, _ = select.select([s], [], [], max(0.0, min(next_send, end) - now))
            if ready:
                data, src = s.recvfrom(2048)
                ip = mapped_address(data, tid)
                names = [name for name, sa in targets if sa[:2] == src[:2]]
                if ip is not None and names:
                    return ip, names[0]
    finally:
        s.close()
    raise ExternalIpError(f"rtc.use_external_ip: no STUN server answered within {timeout:.0f} s "
                          f"({', '.join(n for n, _ in targets)})")
