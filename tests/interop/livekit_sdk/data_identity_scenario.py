"""Whose identity a data packet carries, with the unmodified livekit rtc SDK, in a private
network namespace (see scenarios.py):

    unshare -n python -m interop.livekit_sdk.data_identity_scenario      (from tests/)

An agent participant sends a text stream on behalf of alice (a user's transcript, as
livekit-agents publishes it: sender_identity "alice" on lk.transcription) and one of its own;
alice sends one as herself.  bob receives them all.  One JSON summary on the last line.
"""

from __future__ import annotations

import json
import sys

from helpers.netns import add_veth

from .scenarios import Server, _wait_participants, client, result, token

TOPICS = ["lk.transcription", "lk.chat"]


def main() -> dict:
    add_veth()
    srv = Server(workers=1)
    out: dict = {}
    try:
        bob = client(token("bob"), "subscriber", 9, text_topics=TOPICS)
        out["bob_in"] = _wait_participants(srv, {"bob"}, 20)
        agent = client(token("agent", agent=True), "subscriber", 7, actions=[
            {"at": 2.0, "do": "send_text", "topic": "lk.transcription", "text": "alice said hello",
             "sender_identity": "alice"},
            {"at": 2.5, "do": "send_text", "topic": "lk.chat", "text": "the agent's own words"},
            {"at": 5.0, "do": "send_text", "topic": "lk.transcription", "text": "alice said goodbye",
             "sender_identity": "alice"}])
        alice = client(token("alice"), "subscriber", 7, actions=[
            {"at": 4.0, "do": "send_text", "topic": "lk.transcription", "text": "alice as herself"}])
        out["bob"], out["agent"], out["alice"] = result(bob), result(agent), result(alice)
    finally:
        out["log_tail"] = srv.stop()[-3000:]
    return out


if __name__ == "__main__":
    print(json.dumps(main()))
    sys.stdout.flush()
