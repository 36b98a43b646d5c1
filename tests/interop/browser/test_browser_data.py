"""Data between Chromium pages (livekit-client): reliable and lossy packets
both ways and to one destination, text and byte streams, RPC; in single-PC and
two-PC mode (`singlePeerConnection: false`)."""

from __future__ import annotations

import time

import pytest

from . import lkchecks
from .lkbrowser import wait_for

COUNT = 20


def three(lk, pc: str, **options):
    """three participants, used as soon as connect() returned: data for one whose data channel
    is not open yet waits for it on the server"""
    return lk.join_all(("alice", "A"), ("bob", "B"), ("carol", "B"), pc=pc, **options)


def texts(page, kind: int | None = None) -> list[tuple[str, str]]:
    return [(d["from"], d["text"]) for d in page.js("received")["data"] if kind is None or d["kind"] == kind]


def exchange(alice, bob, carol) -> None:
    """reliable and lossy both ways between alice and bob, then one packet for bob only"""
    for page, prefix in ((alice, "a"), (bob, "b")):
        for kind, reliable in (("rel", True), ("lossy", False)):
            errors = page.js("sendNumbered", f"{prefix}-{kind}", COUNT, {"reliable": reliable})
            assert errors == [], (page.label, kind, errors[:1])
    alice.js("sendData", "for-bob", {"reliable": True, "to": ["bob"]})
    got_bob = wait_for(lambda: texts(bob), lambda t: ("alice", "for-bob") in t, 10)
    got_alice = wait_for(lambda: texts(alice), lambda t: len(t) >= 2 * COUNT, 10)
    want_rel = {"bob": [("alice", f"a-rel-{i}") for i in range(COUNT)],
                "alice": [("bob", f"b-rel-{i}") for i in range(COUNT)]}
    for name, got in (("bob", got_bob), ("alice", got_alice)):
        rel = [t for t in got if "-rel-" in t[1]]
        assert rel == want_rel[name], (name, got)                    # all, in order
        lossy = [t for t in got if "-lossy-" in t[1]]
        assert len(lossy) >= COUNT * 0.9, (name, got)                # nothing is lost on a veth
    assert ("alice", "for-bob") in got_bob
    time.sleep(0.3)
    got_carol = texts(carol)
    assert ("alice", "for-bob") not in got_carol, got_carol
    assert [t for t in got_carol if "-rel-" in t[1] and t[0] == "alice"] == want_rel["bob"], got_carol


@pytest.mark.parametrize("pc", ["single-pc", "two-pc"])
def test_data_reliable_and_lossy_both_ways(lk, pc):
    exchange(*three(lk, pc))


@pytest.mark.parametrize("pc", ["single-pc", "two-pc"])
def test_data_after_publishing_media(lk, pc):
    """the usual order in a call: publish the microphone, then chat"""
    alice, bob, carol = three(lk, pc, peerConnectionTimeout=3000)
    for page in (alice, bob):
        page.js("publishMic")
    lkchecks.audio_peak(bob, "alice", 440)
    exchange(alice, bob, carol)


@pytest.mark.parametrize("pc", ["single-pc", "two-pc"])
def test_data_right_after_the_recipient_connected(lk, pc):
    """bob's connect() returns when his PeerConnection is up; his data channel opens 0.05-0.3 s
    later: what alice sends him at once arrives, all of it, in order"""
    alice = lk.join("alice", "A", pc=pc)
    time.sleep(1.0)                          # alice is settled in the room when bob comes
    bob = lk.join("bob", "B", pc=pc)
    assert alice.js("sendNumbered", "early", COUNT, {"reliable": True}) == []
    got = wait_for(lambda: texts(bob), lambda t: len(t) >= COUNT, 10)
    assert got == [("alice", f"early-{i}") for i in range(COUNT)], got


@pytest.mark.parametrize("pc", ["single-pc", "two-pc"])
def test_text_and_byte_streams(lk, pc):
    alice, bob, carol = three(lk, pc)
    long_text = "héllo wörld ✓ " * 3000                    # 42,000 characters: many chunks
    alice.js("sendText", long_text)
    sent = bob.js("sendBytes", 300_000, "pattern.bin")
    for page, want in ((bob, ("alice", long_text)), (carol, ("alice", long_text))):
        got = wait_for(lambda: [(t["from"], t["text"]) for t in page.js("received")["texts"]],
                       lambda g: want in g, 10)
        assert want in got, [(f, len(t)) for f, t in got]
    for page in (alice, carol):
        got = wait_for(lambda: page.js("received")["bytes"], lambda g: len(g) >= 1, 10)
        assert [(b["from"], b["name"], b["size"], b["sha256"]) for b in got] == \
            [("bob", "pattern.bin", sent["size"], sent["sha256"])], got


@pytest.mark.parametrize("pc", ["single-pc", "two-pc"])
def test_rpc_both_ways(lk, pc):
    alice, bob, _carol = three(lk, pc)
    for caller, callee in ((alice, "bob"), (bob, "alice")):
        me = caller.label
        answer = caller.js("rpc", callee, f"ping from {me}")
        assert answer.get("response") is not None, (me, callee, answer)
        assert answer["response"] == f'{{"by":"{callee}","caller":"{me}","payload":"ping from {me}"}}'
    for callee, caller in ((bob, "alice"), (alice, "bob")):
        calls = [(c["from"], c["payload"]) for c in callee.js("received")["rpc"]]
        assert calls == [(caller, f"ping from {caller}")], calls
