"""Subscription permissions with the unmodified livekit rtc SDK, in a private network namespace
(see scenarios.py):

    unshare -n python -m interop.livekit_sdk.permissions_scenario      (from tests/)

alice publishes; bob and carol subscribe.  At 4 s alice allows only bob; at 8 s everyone again.
One JSON summary on the last line.
"""

from __future__ import annotations

import json
import sys
import time

from helpers.netns import add_veth

from .scenarios import Server, _wait_participants, client, result, token


def main() -> dict:
    add_veth()
    srv = Server(workers=1)
    out: dict = {}
    try:
        bob = client(token("bob"), "subscriber", 14)
        carol = client(token("carol"), "subscriber", 14)
        out["in"] = _wait_participants(srv, {"bob", "carol"}, 20)
        alice = client(token("alice"), "publisher", 12, freq=440, color=[200, 30, 30], actions=[
            {"at": 4.0, "do": "permissions", "allow": ["bob"]},
            {"at": 8.0, "do": "permissions", "allow": None}])
        out["alice"], out["bob"], out["carol"] = result(alice), result(bob), result(carol)
    finally:
        out["log_tail"] = srv.stop()[-3000:]
    return out


if __name__ == "__main__":
    print(json.dumps(main()))
    sys.stdout.flush()
