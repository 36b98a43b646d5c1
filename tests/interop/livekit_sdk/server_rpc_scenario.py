"""RoomService.PerformRpc to an unmodified livekit rtc SDK participant that registered a method,
in a private network namespace (see scenarios.py):

    unshare -n python -m interop.livekit_sdk.server_rpc_scenario      (from tests/)

One JSON summary on the last line: the answers (or errors) of the server's calls.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

from helpers.netns import add_veth

from .scenarios import Server, _wait_participants, client, result, token


async def calls(http_url: str) -> dict:
    from sfu.api import RoomClient, TwirpError

    out: dict = {}
    async with RoomClient(http_url, "devkey", "secret") as api:
        t0 = time.monotonic()
        out["echo"] = await api.perform_rpc("room", "bob", "echo", "from the server", 5000)
        out["echo_ms"] = (time.monotonic() - t0) * 1000
        t0 = time.monotonic()
        out["echo2"] = await api.perform_rpc("room", "bob", "echo", "again", 5000)
        out["echo2_ms"] = (time.monotonic() - t0) * 1000
        for name, args in (("unknown_method", ("bob", "nope", "x")), ("unknown_participant", ("zed", "echo", "x"))):
            try:
                out[name] = await api.perform_rpc("room", *args, 3000)
            except TwirpError as e:
                out[name] = {"code": e.code, "msg": e.msg, "meta": e.meta}
    return out


def main() -> dict:
    add_veth()
    srv = Server(workers=1)
    out: dict = {}
    try:
        bob = client(token("bob"), "subscriber", 8, rpc=True)
        out["bob_in"] = _wait_participants(srv, {"bob"}, 20)
        time.sleep(1.0)                        # its data channel is open
        out["calls"] = asyncio.run(calls(srv.http_url))
        out["bob"] = result(bob)
    finally:
        out["log_tail"] = srv.stop()[-3000:]
    return out


if __name__ == "__main__":
    print(json.dumps(main()))
    sys.stdout.flush()
