"""coturn under TurnSupervisor: started with the generated configuration, answers TURN, is
restarted when it dies, and is gone after stop."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import struct

import pytest

from helpers.net import free_udp_tcp_port
from sfu.turn import TurnConfig, TurnSupervisor

pytestmark = pytest.mark.skipif(shutil.which("turnserver") is None, reason="coturn not installed (scripts/setup)")


def free_udp() -> int:
    """coturn listens on UDP and TCP: a port free for both, out of the ephemeral range (an
    ephemeral UDP port was once some other test's TCP connection's: "Cannot bind TLS/TCP
    listener socket ... Address already in use")"""
    return free_udp_tcp_port()


async def allocate_answer(port: int, timeout: float = 5.0) -> int:
    """send an unauthenticated TURN Allocate; the STUN message type of the answer (0x0113: error,
    401 asking for credentials, is what a live coturn with use-auth-secret says)"""
    req = struct.pack("!HHI12s", 0x0003, 8, 0x2112A442, os.urandom(12)) + struct.pack("!HHB3x", 0x0019, 4, 17)
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.setblocking(False)
        while loop.time() < end:
            s.sendto(req, ("127.0.0.1", port))
            try:
                data = await asyncio.wait_for(loop.sock_recv(s, 2048), 0.3)
                return struct.unpack("!H", data[:2])[0]
            except (asyncio.TimeoutError, ConnectionRefusedError):
                await asyncio.sleep(0.1)
    return 0


async def test_started_restarted_and_stopped():
    port = free_udp()
    sup = TurnSupervisor(TurnConfig(("127.0.0.1",), "secret", "test", port, 0, relay_min=41000, relay_max=41100))
    await sup.start()
    try:
        assert await allocate_answer(port) == 0x0113
        first = sup.proc.pid
        os.kill(first, signal.SIGKILL)
        for _ in range(100):
            await asyncio.sleep(0.1)
            if sup.proc.pid != first and sup.proc.returncode is None:
                break
        assert sup.proc.pid != first and sup.restarts == 1
        assert await allocate_answer(port) == 0x0113
    finally:
        pid = sup.proc.pid
        await sup.stop()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert await allocate_answer(port, timeout=0.5) == 0


def _attr(t: int, v: bytes) -> bytes:
    return struct.pack("!HH", t, len(v)) + v + b"\0" * (-len(v) % 4)


def _msg(mtype: int, tid: bytes, attrs: bytes) -> bytes:
    return struct.pack("!HHI12s", mtype, len(attrs), 0x2112A442, tid) + attrs


def _attrs(data: bytes) -> dict[int, bytes]:
    out, i = {}, 20
    while i + 4 <= len(data):
        t, n = struct.unpack("!HH", data[i:i + 4])
        out[t] = data[i + 4:i + 4 + n]
        i += 4 + n + (-n % 4)
    return out


def allocate_over_tls(port: int, username: str, password: str) -> tuple[int, dict[int, bytes]]:
    """a TURN Allocate over TLS with long-term credentials (RFC 5766 / 5389): the first answer's
    realm and nonce, then the authenticated request; (message type, attributes) of the answer"""
    import hashlib
    import hmac as hmac_
    import ssl

    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE      # a self-signed test certificate
    transport = _attr(0x0019, bytes([17, 0, 0, 0]))                 # REQUESTED-TRANSPORT: UDP
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw, \
            ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
        def recv_exactly(n: int) -> bytes:
            buf = b""
            while len(buf) < n:
                chunk = s.recv(n - len(buf))
                if not chunk:
                    raise ConnectionError("TURN server closed the connection")
                buf += chunk
            return buf

        def ask(attrs: bytes) -> tuple[int, dict[int, bytes]]:
            tid = os.urandom(12)
            s.sendall(_msg(0x0003, tid, attrs))
            head = recv_exactly(20)
            body = recv_exactly(struct.unpack("!H", head[2:4])[0])
            return struct.unpack("!H", head[:2])[0], _attrs(head + body)
        _, first = ask(transport)
        realm, nonce = first[0x0014], first[0x0015]
        attrs = transport + _attr(0x0006, username.encode()) + _attr(0x0014, realm) + _attr(0x0015, nonce)
        key = hashlib.md5(f"{username}:{realm.decode()}:{password}".encode()).digest()
        # MESSAGE-INTEGRITY over the message with its length covering the integrity attribute
        tid = os.urandom(12)
        head = struct.pack("!HHI12s", 0x0003, len(attrs) + 24, 0x2112A442, tid)
        mac = hmac_.new(key, head + attrs, hashlib.sha1).digest()
        s.sendall(head + attrs + _attr(0x0008, mac))
        rhead = recv_exactly(20)
        body = recv_exactly(struct.unpack("!H", rhead[2:4])[0])
        return struct.unpack("!H", rhead[:2])[0], _attrs(rhead + body)


def free_tcp() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_tls_listener_takes_the_rest_api_credentials_clients_are_handed(tmp_path):
    import subprocess
    import time

    from sfu.ice_servers import rest_credentials

    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "1", "-subj", "/CN=127.0.0.1"], check=True, capture_output=True)
    port = free_tcp()
    sup = TurnSupervisor(TurnConfig(("127.0.0.1",), "the-secret", "test", 0, port, str(cert), str(key),
                                    41200, 41300))
    await sup.start()
    try:
        for _ in range(50):                      # until the TLS listener accepts
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                await asyncio.sleep(0.1)
        user, cred = rest_credentials("the-secret", "alice", time.time())
        mtype, attrs = await asyncio.to_thread(allocate_over_tls, port, user, cred)
        assert mtype == 0x0103 and 0x0016 in attrs          # Allocate success, XOR-RELAYED-ADDRESS
        # expired, or signed with another secret: 401
        old_user, old_cred = rest_credentials("the-secret", "alice", time.time() - 7200, ttl=60)
        mtype, attrs = await asyncio.to_thread(allocate_over_tls, port, old_user, old_cred)
        assert mtype == 0x0113 and attrs[0x0009][2:4] == bytes([4, 1])
        bad_user, bad_cred = rest_credentials("other", "alice", time.time())
        mtype, attrs = await asyncio.to_thread(allocate_over_tls, port, bad_user, bad_cred)
        assert mtype == 0x0113 and attrs[0x0009][2:4] == bytes([4, 1])
    finally:
        await sup.stop()


async def test_a_listener_that_cannot_bind_stops_the_start_naming_why():
    busy = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    busy.bind(("127.0.0.1", 0))
    port = busy.getsockname()[1]
    busy_tcp = socket.socket()
    busy_tcp.bind(("127.0.0.1", port))
    busy_tcp.listen()
    sup = TurnSupervisor(TurnConfig(("127.0.0.1",), "secret", "test", port, 0, relay_min=41600, relay_max=41700))
    try:
        with pytest.raises(RuntimeError, match="did not answer .*[Cc]annot bind"):
            await sup.start()
        assert sup.proc.returncode is not None        # and it is not left running
    finally:
        busy.close()
        busy_tcp.close()


def test_the_start_works_under_uvloop_as_sfu_serve_runs_it():
    import uvloop

    async def main() -> bool:
        sup = TurnSupervisor(TurnConfig(("127.0.0.1",), "secret", "test", free_udp(), 0, relay_min=41800,
                                        relay_max=41900))
        await sup.start()           # its readiness probe must not need what uvloop lacks (sock_sendto)
        alive = sup.proc.returncode is None
        await sup.stop()
        return alive

    assert uvloop.run(main())
