"""JoinResponse and ReconnectResponse carry the configured ICE servers (in-process server, a
real WebSocket)."""

from __future__ import annotations

import aiohttp
from livekit.protocol import rtc as lk

from helpers.app_server import server_fixture
from helpers.signal_client import Client
from helpers.tokens import join_token

server = server_fixture(stun_servers=["stun.example.org:3478"],
                        turn_servers=[{"host": "turn.example.org", "port": 443, "protocol": "tls",
                                       "username": "u", "credential": "c"}])

WANT = [lk.ICEServer(urls=["stun:stun.example.org:3478"]),
        lk.ICEServer(urls=["turns:turn.example.org:443?transport=tcp"], username="u", credential="c")]


async def test_join_and_reconnect_responses_carry_the_ice_servers(server, monkeypatch):
    import sfu.rooms.session as session

    monkeypatch.setattr(session, "PING_TIMEOUT", 1)
    async with Client(server, join_token("alice", "r")) as a:
        j = (await a.next("join")).join
        assert list(j.ice_servers) == WANT
        sid = j.participant.sid
        msg = await a.ws.receive(timeout=6)        # no pings: the signal connection is dropped
        while msg.type == aiohttp.WSMsgType.BINARY:
            msg = await a.ws.receive(timeout=6)
    async with Client(server, join_token("alice", "r"), query=f"protocol=16&reconnect=1&sid={sid}") as a2:
        assert list((await a2.next("reconnect")).reconnect.ice_servers) == WANT


async def test_the_embedded_turn_comes_first_with_rest_api_credentials():
    import base64
    import hashlib
    import hmac
    import shutil
    import socket
    import time

    import pytest

    from helpers.app_server import running_server
    from sfu import config
    from sfu.ice_servers import derive_secret

    if shutil.which("turnserver") is None:
        pytest.skip("coturn not installed (scripts/setup)")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    turn = config.TurnSettings(enabled=True, udp_port=port, tls_port=0, relay_range_start=41400,
                               relay_range_end=41500)
    async with running_server(turn=turn, stun_servers=["stun.example.org:3478"]) as srv:
        assert srv.turn is not None and srv.turn.proc.returncode is None
        async with Client(srv, join_token("bob", "r")) as b:
            j = (await b.next("join")).join
        first, second = j.ice_servers
        assert list(first.urls) == [f"turn:127.0.0.1:{port}?transport=udp", f"turn:127.0.0.1:{port}?transport=tcp"]
        expiry, identity = first.username.split(":")
        assert identity == "bob" and 0 < int(expiry) - time.time() <= 24 * 3600
        mac = hmac.new(derive_secret("secret").encode(), first.username.encode(), hashlib.sha1).digest()
        assert first.credential == base64.b64encode(mac).decode()
        assert list(second.urls) == ["stun:stun.example.org:3478"]
        pid = srv.turn.proc.pid
    with pytest.raises(ProcessLookupError):     # stopped with the server
        import os
        os.kill(pid, 0)


async def test_garbage_on_the_turn_ports_leaves_turn_and_the_server_working(tmp_path):
    """TLS garbage, half-open connections and junk datagrams on the embedded TURN's ports: coturn
    (the same process) still answers a STUN request and completes a TLS handshake, and the SFU
    still takes a join"""
    import asyncio
    import os
    import shutil
    import socket
    import ssl
    import subprocess

    from aioice import stun

    from helpers.app_server import running_server
    from helpers.net import free_port
    from sfu import config

    assert shutil.which("turnserver"), "coturn is missing: scripts/setup installs it"
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "1", "-subj", "/CN=127.0.0.1"], check=True, capture_output=True)
    udp_port, tls_port = free_port(), free_port()
    turn = config.TurnSettings(enabled=True, udp_port=udp_port, tls_port=tls_port, cert_file=str(cert),
                               key_file=str(key), relay_range_start=41600, relay_range_end=41700)
    async with running_server(turn=turn) as srv:
        pid = srv.turn.proc.pid
        silent = []
        for i in range(40):
            r, w = await asyncio.open_connection("127.0.0.1", tls_port)
            if i % 2:
                silent.append(w)                                    # half-open: never says anything
            else:
                w.write(b"\x16\x03\x01\x02\x00" + os.urandom(512))   # a TLS record header, then junk
                await w.drain()
                w.close()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            for _ in range(500):
                u.sendto(os.urandom(64), ("127.0.0.1", udp_port))
            tid = os.urandom(12)
            u.sendto(bytes(stun.Message(stun.Method.BINDING, stun.Class.REQUEST, transaction_id=tid)),
                     ("127.0.0.1", udp_port))
            u.settimeout(3)
            while True:
                data = u.recv(2048)
                try:
                    msg = stun.parse_message(data)
                except ValueError:
                    continue
                if msg.transaction_id == tid:
                    break
            assert msg.message_class == stun.Class.RESPONSE and msg.attributes["XOR-MAPPED-ADDRESS"][0] == "127.0.0.1"
        ctx = ssl.create_default_context()
        ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
        r, w = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", tls_port, ssl=ctx), 5)
        assert w.get_extra_info("ssl_object").version().startswith("TLSv1")
        w.close()
        async with Client(srv, join_token("bob", "r")) as b:
            assert (await b.next("join")).join.participant.identity == "bob"
        assert srv.turn.proc.pid == pid and srv.turn.proc.returncode is None and srv.turn.restarts == 0
        for w in silent:
            w.close()
