"""rtc.use_external_ip (sfu.external_ip) against small STUN responders on loopback."""

from __future__ import annotations

import socket
import threading

import pytest
from aioice import stun

from sfu import external_ip


class Responder(threading.Thread):
    """answers Binding requests with `mapped` (or garbage / a wrong transaction first)"""

    def __init__(self, mapped: tuple[str, int], junk_first: bool = False) -> None:
        super().__init__(daemon=True)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(5)
        self.mapped, self.junk_first = mapped, junk_first
        self.requests = 0
        self.start()

    @property
    def server(self) -> str:
        return f"127.0.0.1:{self.sock.getsockname()[1]}"

    def run(self) -> None:
        try:
            while True:
                data, src = self.sock.recvfrom(2048)
                req = stun.parse_message(data)
                self.requests += 1
                if self.junk_first and self.requests == 1:
                    self.sock.sendto(b"\x01\x01garbage", src)
                    other = stun.Message(stun.Method.BINDING, stun.Class.RESPONSE, transaction_id=b"x" * 12)
                    other.attributes["XOR-MAPPED-ADDRESS"] = ("203.0.113.66", 1)
                    self.sock.sendto(bytes(other), src)
                    continue
                resp = stun.Message(stun.Method.BINDING, stun.Class.RESPONSE, transaction_id=req.transaction_id)
                resp.attributes["XOR-MAPPED-ADDRESS"] = self.mapped
                self.sock.sendto(bytes(resp), src)
        except (OSError, ValueError):
            return


def test_the_address_the_stun_server_reports():
    r = Responder(("203.0.113.7", 40000))
    assert external_ip.discover([r.server], "127.0.0.1", timeout=2) == ("203.0.113.7", r.server)


def test_garbage_and_other_transactions_are_ignored_until_the_answer():
    r = Responder(("198.51.100.9", 1234), junk_first=True)
    assert external_ip.discover([r.server], "127.0.0.1", timeout=3)[0] == "198.51.100.9"
    assert r.requests >= 2                  # it was asked again


def test_a_silent_server_beside_an_answering_one():
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))
    r = Responder(("203.0.113.8", 1))
    ip, server = external_ip.discover([f"127.0.0.1:{silent.getsockname()[1]}", r.server], "127.0.0.1", timeout=2)
    assert (ip, server) == ("203.0.113.8", r.server)


def test_nobody_answers_or_nothing_resolves():
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))
    with pytest.raises(external_ip.ExternalIpError, match="no STUN server answered within 1 s"):
        external_ip.discover([f"127.0.0.1:{silent.getsockname()[1]}"], "127.0.0.1", timeout=1)
    with pytest.raises(external_ip.ExternalIpError, match="not host:port"):
        external_ip.discover(["stun.example"], "127.0.0.1", timeout=1)
    with pytest.raises(external_ip.ExternalIpError, match="no STUN server resolves"):
        external_ip.discover(["no-such-host.invalid:3478"], "127.0.0.1", timeout=1)
