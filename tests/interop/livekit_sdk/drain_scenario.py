"""A rolling restart of a two-node cluster with the unmodified livekit rtc SDK, in a private
network namespace (see scenarios.py):

    unshare -n python -m interop.livekit_sdk.drain_scenario      (from tests/)

Node B hosts the call (alice and bob).  B gets SIGTERM mid-call: it drains — the call goes on,
a new room asked of B is placed on A (B relays its signalling), B exits 0 once alice and bob
have left.  B starts again and registers; then A gets SIGTERM with nobody on it and exits at
once.  One JSON summary on the last line.
"""

from __future__ import annotations

import json
import signal
import sys
import tempfile
import time

from helpers.netns import SERVER_IP, add_veth

from .scenarios import PORT, Server, client, node_ids, result, start_redis, token

CALL_SECONDS = 12.0        # alice's and bob's session
DRAIN_AT = 3.0             # s after the call is up, B gets SIGTERM
DRAIN_TIMEOUT = 60         # B's drain_timeout: far more than the call has left


def wait_exit(srv: Server, timeout: float) -> tuple[int | None, float]:
    t0 = time.monotonic()
    try:
        return srv.proc.wait(timeout), time.monotonic() - t0
    except Exception:  # noqa: BLE001 - still running
        return None, time.monotonic() - t0


def main() -> dict:
    add_veth()
    rp, url, r = start_redis()
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        f.write(f"drain_timeout: {DRAIN_TIMEOUT}\n")
        cfg = f.name
    b_url = f"ws://{SERVER_IP}:{PORT + 10}"
    out: dict = {}
    a = Server(workers=1, extra=["--redis", url, "--udp-port", "7882", "--config", cfg])
    b = Server(workers=1, port=PORT + 10, extra=["--redis", url, "--udp-port", "7892", "--config", cfg])
    b2 = None
    try:
        ids = node_ids(r, 2)
        a_id, b_id = ids[str(PORT)], ids[str(PORT + 10)]
        r.hset("sfu:room_node", "room", b_id)
        bob = client(token("bob"), "both", CALL_SECONDS, url=b_url, freq=660, color=[20, 40, 220])
        alice = client(token("alice"), "both", CALL_SECONDS, url=b_url, freq=440, color=[200, 30, 30])
        time.sleep(DRAIN_AT + 2.0)             # connect time + DRAIN_AT of call
        b.proc.send_signal(signal.SIGTERM)
        t_term = time.monotonic()
        time.sleep(1.0)
        out["b_record_draining"] = json.loads(r.hget("sfu:nodes", b_id) or b"{}").get("draining")
        out["b_running_after_term"] = b.proc.poll() is None
        # a new room asked of the draining node: placed on A, its signalling relayed by B
        carol = client(token("carol", room="room2"), "both", 3, url=b_url, freq=550, color=[20, 200, 20])
        out["carol"] = result(carol)
        out["room2_node"] = (r.hget("sfu:room_node", "room2") or b"").decode()
        out["bob"], out["alice"] = result(bob), result(alice)
        out["b_exit"], b_wait = wait_exit(b, 20)
        out["b_exit_after_call_s"] = b_wait if out["b_exit"] is not None else None
        out["b_drained_for_s"] = time.monotonic() - t_term
        out["b_gone_from_registry"] = r.hget("sfu:nodes", b_id) is None
        # B comes back (the restart), then A goes: nobody on it, so it exits at once
        b2 = Server(workers=1, port=PORT + 10, extra=["--redis", url, "--udp-port", "7892", "--config", cfg])
        out["b_back"] = len(node_ids(r, 2)) == 2
        a.proc.send_signal(signal.SIGTERM)
        out["a_exit"], out["a_exit_s"] = wait_exit(a, 10)
        out["a_id"], out["b_id"] = a_id, b_id
    finally:
        out["a_log_tail"] = a.stop()[-3000:]
        out["b_log_tail"] = b.stop()[-3000:]
        if b2 is not None:
            b2.stop()
        rp.kill()
        rp.wait()
    return out


if __name__ == "__main__":
    print(json.dumps(main()))
    sys.stdout.flush()
