"""A media worker SIGKILLed mid-call, with the unmodified livekit rtc SDK, in a private network
namespace (see scenarios.py):

    unshare -n python -m interop.livekit_sdk.worker_crash_scenario      (from tests/)

One server, two media workers; bob joins first (his PeerConnection on worker 0, the least
loaded), then alice (worker 1).  Worker 1 is killed: alice is asked to join again (leave,
action RECONNECT), does, republishes, and both hear each other again; bob keeps his session.
One JSON summary on the last line.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time

from helpers.netns import add_veth

from .scenarios import Server, _participants, _wait_participants, client, result, token

CALL_SECONDS = 16.0
KILL_AT = 5.0              # s after both are in the room


def main() -> dict:
    add_veth()
    out: dict = {}
    srv = Server(workers=2)
    try:
        bob = client(token("bob"), "both", CALL_SECONDS + 2, freq=660, color=[20, 40, 220], timeline=True)
        out["bob_in"] = _wait_participants(srv, {"bob"}, 20)
        alice = client(token("alice"), "both", CALL_SECONDS, freq=440, color=[200, 30, 30], timeline=True)
        out["both_in"] = _wait_participants(srv, {"bob", "alice"}, 20)
        time.sleep(KILL_AT)
        workers = srv.stats()["workers"]
        out["transports_before"] = {w["worker"]: w["transports"] for w in workers}
        victim = next(w for w in workers if w["worker"] == 1)
        os.kill(victim["pid"], signal.SIGKILL)
        out["kill_mono"] = time.monotonic()
        rejoined = None
        while time.monotonic() < out["kill_mono"] + 20:
            if _participants(srv) >= {"bob", "alice"} and time.monotonic() - out["kill_mono"] > 0.2:
                rejoined = time.monotonic() - out["kill_mono"]
                break
            time.sleep(0.05)
        out["rejoined_s"] = rejoined
        out["bob"], out["alice"] = result(bob), result(alice)
        out["workers_after"] = [{"worker": w["worker"], "pid": w.get("pid"), "transports": w.get("transports")}
                                for w in srv.stats()["workers"]]
        out["victim_pid"] = victim["pid"]
    finally:
        out["log_tail"] = srv.stop()[-4000:]
    return out


if __name__ == "__main__":
    print(json.dumps(main()))
    sys.stdout.flush()
