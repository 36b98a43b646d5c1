"""STUN from an address no transport knows yet: the data plane passes a check on only when its
USERNAME names one of our ICE ufrags (rtc/ice_ufrag_map.c); a flood of other STUN is dropped in
C and counted (stun_unknown_ufrag) and never reaches the worker's Python.  A worker in process,
real UDP on loopback, checks built with aioice."""

from __future__ import annotations

import asyncio
import os

from aioice import stun

from helpers.in_process_worker import in_process_worker
from helpers.net import udp_socket

UFRAG, PWD = "uf01", "p" * 24
FLOOD = 2000


def check(username: str, pwd: str = PWD) -> bytes:
    m = stun.Message(message_method=stun.Method.BINDING, message_class=stun.Class.REQUEST,
                     transaction_id=os.urandom(12))
    m.attributes["USERNAME"] = username
    m.attributes["PRIORITY"] = 1853824767
    m.attributes["ICE-CONTROLLING"] = 1
    m.add_message_integrity(pwd.encode())
    m.add_fingerprint()
    return bytes(m)


async def pump(w, seconds: float) -> None:
    end = asyncio.get_running_loop().time() + seconds
    while asyncio.get_running_loop().time() < end:
        w.on_queue_readable()
        await asyncio.sleep(0.01)


def unknown_ufrag_drops(w) -> int:
    return w.on_worker_stats({})["stats"]["drops"].get("stun_unknown_ufrag", 0)


async def until(w, cond, seconds: float = 5.0) -> bool:
    end = asyncio.get_running_loop().time() + seconds
    while asyncio.get_running_loop().time() < end:
        w.on_queue_readable()
        if cond():
            return True
        await asyncio.sleep(0.01)
    return cond()


async def test_only_checks_naming_our_ufrag_reach_the_control_plane():
    with in_process_worker() as w:
        info = w.on_transport_create({"id": 1, "kind": "webrtc", "ice_ufrag": UFRAG, "ice_pwd": PWD})
        dest = (info["ip"], info["port"])
        stranger, client = udp_socket(timeout=0.2), udp_socket(timeout=2.0)
        records0 = w.queue_records
        for i in range(FLOOD):          # strangers: other ufrags, no USERNAME, a bare colon
            stranger.sendto(check(f"x{i}:y") if i % 3 else check(":y" if i % 2 else "nocolon"), dest)
        await pump(w, 0.5)
        drops = unknown_ufrag_drops(w)
        assert drops >= FLOOD * 0.95, drops          # (a few may be lost in the socket buffer)
        assert w.stun_unrouted == 0 and w.queue_records - records0 == 0
        # a check for our ufrag from a new address is answered
        client.sendto(check(f"{UFRAG}:cli"), dest)
        for _ in range(50):
            w.on_queue_readable()
            try:
                data, _ = await asyncio.to_thread(client.recvfrom, 2048)
                break
            except TimeoutError:
                continue
        resp = stun.parse_message(data)
        assert resp.message_class == stun.Class.RESPONSE and resp.message_method == stun.Method.BINDING


async def test_an_ice_restart_moves_the_ufrag():
    with in_process_worker() as w:
        info = w.on_transport_create({"id": 1, "kind": "webrtc", "ice_ufrag": UFRAG, "ice_pwd": PWD})
        w.on_transport_ice_restart({"id": 1, "ice_ufrag": "uf02", "ice_pwd": "q" * 24,
                                    "remote_ufrag": "", "remote_pwd": ""})
        s = udp_socket(timeout=0.2)
        before, records = unknown_ufrag_drops(w), w.queue_records
        s.sendto(check(f"{UFRAG}:cli"), (info["ip"], info["port"]))       # the old one: gone
        assert await until(w, lambda: unknown_ufrag_drops(w) == before + 1)
        assert w.queue_records == records
        s.sendto(check("uf02:cli", "q" * 24), (info["ip"], info["port"]))  # the new one goes on
        assert await until(w, lambda: w.queue_records == records + 1)
