"""The unmodified livekit rtc SDK (libwebrtc) against the server, in a private
network namespace (see tests/interop/livekit_sdk/scenarios.py)."""

from __future__ import annotations

import json

import pytest

from helpers import scenario_runner
from helpers.sdk_venvs import CLIENT_PYTHON, require


def run_scenario(name: str) -> dict:
    python = require(CLIENT_PYTHON, "the livekit rtc SDK")
    return scenario_runner.run_scenario("interop.livekit_sdk.scenarios", name, timeout=240,
                                        env={"SFU_LIVEKIT_PYTHON": python})


def check_received(track: dict, pitch: float | None = None, color: list | None = None, seconds: float = 4.0):
    assert track["frames"] > 0 and track["first_ms"] is not None
    if pitch is not None:   # 10 ms audio frames, nearly all of them, at the sender's pitch
        assert track["frames"] >= 0.85 * seconds * 100, track
        assert abs(track["pitch_hz"] - pitch) < 5, track
        assert track["rms"] > 3000, track
    if color is not None:   # video at a real frame rate, right size and colour
        assert track["frames"] >= 12 * seconds, track
        assert track["size"] == [320, 240]
        assert all(abs(a - b) < 25 for a, b in zip(track["center"], color)), track


@pytest.mark.timeout(300)
@pytest.mark.parametrize("scenario", ["media", "media_v0"])
def test_publish_subscribe_data_late_join_and_permissions(scenario):
    """media: /rtc/v1, one PeerConnection; media_v0: /rtc with publisher and subscriber PCs"""
    r = run_scenario(scenario)
    bob, alice, carol, dave, eve, frank = (r[k] for k in ("bob", "alice", "carol", "dave", "eve", "frank"))
    for who in (bob, alice, carol, dave, eve, frank):
        assert who.get("rc") == 0 and "connect_error" not in who, who
    # two participants publishing and receiving each other's media
    check_received(bob["tracks"]["alice/audio"], pitch=440, seconds=8)
    check_received(bob["tracks"]["alice/video"], color=[200, 30, 30], seconds=8)
    check_received(alice["tracks"]["bob/audio"], pitch=660, seconds=8)
    check_received(alice["tracks"]["bob/video"], color=[20, 40, 220], seconds=8)
    # what is sent to bob and to alice carries transport-wide numbers and gets an estimate, with
    # one PeerConnection (ids from the client's offer) and with two (ids from its answers)
    assert r["bwe_transports"] >= 2, r["bwe_transports"]
    # data both ways, stamped with the sender's identity, reliable and lossy
    got_bob = {(d["from"], d["payload"]) for d in bob["data"]}
    got_alice = {(d["from"], d["payload"]) for d in alice["data"]}
    assert {("alice", f"reliable-{i}") for i in range(alice["data_sent"])} <= got_bob
    assert sum(1 for f, p in got_bob if f == "alice" and p.startswith("lossy-")) >= alice["data_sent"] - 2
    # bob started 1 s earlier and goes on 2 s longer than alice
    assert {("bob", f"reliable-{i}") for i in range(4, bob["data_sent"] - 5)} <= got_alice
    # a late joiner gets every track already published
    assert set(carol["tracks"]) == {"alice/audio", "alice/video", "bob/audio", "bob/video"}
    check_received(carol["tracks"]["alice/audio"], pitch=440, seconds=3.5)
    check_received(carol["tracks"]["bob/video"], color=[20, 40, 220], seconds=3.5)
    # no canPublish: publishing is refused, and nobody sees a track from dave
    assert dave["publish_error"], dave
    assert not any(k.startswith("dave/") for who in (bob, alice, carol) for k in who["tracks"])
    # no canPublishData: eve's data reaches nobody, but she receives others' data
    assert eve["data_sent"] >= 4 and not any(d["from"] == "eve" for who in (bob, alice, carol) for d in who["data"])
    assert any(d["from"] == "alice" for d in eve["data"])
    # no canSubscribe: frank gets no tracks, though he sees the participants
    assert frank["tracks"] == {} and {"alice", "bob"} <= set(frank["remote_participants"])
    # every datagram the workers did not forward is accounted for, and none were bad
    # (a few may race the DTLS handshake: media before the keys are installed; a ring packet
    # may still arrive for a remote layer this worker released after a layer switch, as
    # tests/process/test_cross_worker_forwarding.py allows: seen once with two workers)
    for w in r["server_stats"]:
        assert set(w["drops"]) <= {"unknown_source", "unknown_ssrc", "consumer_paused", "no_srtp",
                                   "ring_unknown_producer"}, w
        assert w["drops"].get("no_srtp", 0) < 50 and w["drops"].get("ring_unknown_producer", 0) <= 20, w
    print("\njoin ms:", {k: round(v["join_ms"]) for k, v in (("bob", bob), ("alice", alice), ("carol", carol))},
          "first frame ms (carol):", {k: v["first_ms"] and round(v["first_ms"]) for k, v in carol["tracks"].items()})


@pytest.mark.timeout(300)
@pytest.mark.parametrize("scenario", ["rpc", "rpc_v0"])
def test_rpc_both_ways(scenario):
    """perform_rpc / register_rpc_method: the SDK gates RPC on the server's version; each
    participant calls the other and gets the callee's answer"""
    r = run_scenario(scenario)
    for me, other in (("alice", "bob"), ("bob", "alice")):
        who = r[me]
        assert who.get("rc") == 0 and "connect_error" not in who, who
        calls = [a for a in who["actions_done"] if a["do"] == "rpc"]
        assert calls == [{"t": calls[0]["t"], "do": "rpc", "track": other, "response": json.dumps(
            {"by": other, "caller": me, "payload": f"ping from {me}"})}], who["actions_done"]
        assert who["rpc_received"] == [{"from": other, "payload": f"ping from {other}"}], who


@pytest.mark.timeout(300)
def test_bad_input_is_refused_and_other_rooms_keep_forwarding():
    r = run_scenario("bad_input")
    assert r["bad_token_status"] == 401
    assert r["validate_status"] == 401 and "invalid access token" in r["validate_text"]
    assert r["validate_ok"] == [200, "success"]
    assert r["garbage_join_ok"] and r["garbage_close"][1] == 1003 and "leave" in r["garbage_responses"]
    assert r["badjson_close"] == 1003
    assert r["bad_sdp_reason"] == "INVALID_REQUEST" and "SDP" in r["bad_sdp_message"]
    assert r["pong_after_bad_sdp"] == 123
    # the healthy room forwarded throughout
    w = r["healthy_watcher"]
    check_received(w["tracks"]["source/audio"], pitch=440, seconds=7)
    check_received(w["tracks"]["source/video"], color=[200, 30, 30], seconds=7)
    drops: dict[str, int] = {}
    for w in r["server_stats"]:
        for k, v in w["drops"].items():
            drops[k] = drops.get(k, 0) + v
    assert drops.get("bad_stun", 0) + drops.get("unknown_source", 0) + drops.get("too_short", 0) >= 390, drops


@pytest.mark.timeout(300)
@pytest.mark.parametrize("scenario", ["lifecycle", "lifecycle_v0"])
def test_mute_resume_resubscribe_unpublish(scenario):
    r = run_scenario(scenario)
    alice, bob = r["alice"], r["bob"]
    assert alice["rc"] == 0 and bob["rc"] == 0
    assert not any("error" in a for a in alice["actions_done"] + bob["actions_done"]), (alice, bob)
    ev = [(e["event"], e.get("who"), e.get("sid")) for e in bob["events"]]
    audio, video = bob["tracks"]["alice/audio"], bob["tracks"]["alice/video"]
    times = {e["event"]: e["t"] for e in bob["events"]}
    # mute / unmute reach the subscriber
    assert ("track_muted", "alice", audio["sid"]) in ev and ("track_unmuted", "alice", audio["sid"]) in ev
    # a signal-only reconnect (resume) completes and media keeps flowing through it
    assert times["reconnected"] - times["reconnecting"] < 4.0, bob["events"]
    per_s = video["per_second"]
    assert all(per_s.get(str(s), 0) >= 10 for s in range(3, 12)), per_s
    # unsubscribe (9.5 s) stops the audio, subscribing again (10.5 s) brings it back
    aps = audio["per_second"]
    assert ("track_unsubscribed", "alice", audio["sid"]) in ev
    assert aps.get("9", 0) + aps.get("10", 0) < 160 and aps.get("12", 0) > 80, aps
    # unpublishing the video on the client ends it for the subscriber, before alice leaves
    unpub = [e for e in bob["events"] if e["event"] == "track_unpublished" and e["sid"] == video["sid"]]
    left = [e for e in bob["events"] if e["event"] == "participant_disconnected"]
    assert unpub and left and unpub[0]["t"] < left[0]["t"] - 0.3, bob["events"]


@pytest.mark.timeout(300)
def test_simulcast_layers_follow_the_requested_quality():
    r = run_scenario("simulcast")
    bob = r["bob"]
    assert bob["rc"] == 0 and not any("error" in a for a in bob["actions_done"]), bob
    video = bob["tracks"]["alice/video"]
    sizes = [(s["t"], tuple(s["size"])) for s in video["sizes"]]
    why = (sizes, "\n".join(r["layer_log"]))
    # starts on the high layer; LOW (at 5 s) gives the quarter-size layer; HIGH (at 8.5 s) the full one
    assert sizes[0][1] == (1280, 720), why
    low = [t for t, sz in sizes if sz == (320, 180)]
    assert low and 5.0 <= low[0] < 6.5, why
    back = [t for t, sz in sizes if sz == (1280, 720) and t > low[0]]
    assert back and 8.5 <= back[0] < 10.0, why
    # frames keep coming through both switches
    per_s = video["per_second"]
    assert all(per_s.get(str(s), 0) >= 8 for s in range(2, 11)), per_s
    # the publisher's congestion control gets transport-cc feedback, so every layer keeps flowing
    assert sum(w["rtcp_sent"] for w in r["server_stats"]) > 50


@pytest.mark.timeout(300)
def test_cluster_cross_node_media():
    """two `sfu serve --redis` nodes; bob signals through the node that does not
    host the room (relayed over Redis), alice connects to the hosting node;
    media flows both ways through the hosting node's workers only"""
    r = run_scenario("cluster_media")
    bob, alice = r["bob"], r["alice"]
    for who in (bob, alice):
        assert who.get("rc") == 0 and "connect_error" not in who, (who, r["a_log_tail"], r["b_log_tail"])
    check_received(bob["tracks"]["alice/audio"], pitch=440, seconds=8)
    check_received(bob["tracks"]["alice/video"], color=[200, 30, 30], seconds=8)
    check_received(alice["tracks"]["bob/audio"], pitch=660, seconds=8)
    check_received(alice["tracks"]["bob/video"], color=[20, 40, 220], seconds=8)
    assert sum(w["tx"] for w in r["b_stats"]) > 1000
    assert sum(w["tx"] + w["rx"] for w in r["a_stats"]) == 0      # node A only relayed the signalling


FAILOVER_GONE_BOUND = 8.0        # documented: a SIGKILLed node leaves the registry within 8 s
FAILOVER_REJOIN_BOUND = 20.0     # both clients back in the room on a survivor, after the kill
FAILOVER_MEDIA_BOUND = 20.0      # each hears the other again, after the kill


def _audio_ok(p: list, pitch: float) -> bool:
    return abs(p[1] - pitch) < 5 and p[2] > 3000


@pytest.mark.timeout(120)
def test_cluster_failover_real_clients_recover_by_themselves():
    """three nodes; the room is on node B, bob signals through A and alice
    through C (relayed to B).  B is SIGKILLed mid-call: the unmodified SDKs try
    to resume through A / C, are told (leave, action RECONNECT) that their
    session is gone, rejoin with a full reconnect into the room re-created on a
    survivor, republish, and hear each other again"""
    r = run_scenario("cluster_failover")
    logs = (r["a_log_tail"], r["c_log_tail"], r["b_log_tail"])
    assert r["b_participants_before"], logs
    assert r["b_gone_s"] is not None and r["b_gone_s"] <= FAILOVER_GONE_BOUND, (r["b_gone_s"], logs)
    assert r["new_host"] in (r["nodes"]["a"], r["nodes"]["c"]), (r["new_host"], r["nodes"])
    assert r["rejoined_s"] is not None and r["rejoined_s"] <= FAILOVER_REJOIN_BOUND, (r["rejoined_s"], logs)
    media_back = {}
    for me, other, pitch in (("bob", "alice", 440), ("alice", "bob", 660)):
        c = r[me]
        assert c.get("rc") == 0 and "connect_error" not in c, (c, logs)
        kill = r["kill_mono"] - c["t0_mono"]       # the kill on this client's clock
        track = c["tracks"][f"{other}/audio"]
        before, after = track["streams"][0], track["streams"][-1]
        # before the kill: the other's sine, relayed through B
        early = [p for p in before.get("pitches", []) if 1.5 <= p[0] <= kill]
        assert len(early) >= 6 and all(_audio_ok(p, pitch) for p in early), (me, before)
        # the SDK noticed, and came back with a new subscription to a republished track
        assert any(e["event"] == "reconnecting" and e["t"] > kill for e in c["events"]), c["events"]
        assert after["start_ms"] / 1000 > kill and len(track["streams"]) >= 2, (me, track)
        subs = [e for e in c["events"] if e["event"] == "track_subscribed" and e["key"] == f"{other}/audio"]
        assert subs[-1]["sid"] != subs[0]["sid"], subs
        # after it: the other's sine again, until the end
        late = after.get("pitches", [])
        good = [p for p in late if _audio_ok(p, pitch)]
        assert good, (me, after)
        media_back[me] = round(good[0][0] - kill, 2)
        assert media_back[me] <= FAILOVER_MEDIA_BOUND, (me, media_back, after)
        steady = [p for p in late if p[0] >= good[0][0]]
        assert len(steady) >= 8 and all(_audio_ok(p, pitch) for p in steady), (me, after)
    print(f"\nfailover: B gone from the registry {r['b_gone_s']:.2f} s after the kill; both participants "
          f"rejoined on {r['new_host']} after {r['rejoined_s']:.2f} s; each hears the other again after "
          f"{media_back} s")
    for me in ("bob", "alice"):
        print(me, "SDK:", *[ln for ln in r[me].get("log", []) if "rtc_engine" in ln], sep="\n  ")


@pytest.mark.timeout(300)
def test_server_api_with_real_clients():
    """SendData, MutePublishedTrack and RemoveParticipant seen by the livekit rtc SDK
    (tests/interop/livekit_sdk/scenarios.py server_api, in a private network namespace)"""
    r = run_scenario("server_api")
    api, bob = r["api"], r["bob"]
    assert api["participants"] == ["alice", "bob"] and api["muted"]["muted"], r
    assert bob.get("rc") == 0 and "connect_error" not in bob, bob
    from_server = [d for d in bob["data"] if d["topic"] == "api"]
    assert sorted(d["payload"] for d in from_server) == ["api-all", "api-bob"], bob["data"]
    assert all(d["from"] is None for d in from_server), from_server        # sent by the server, no sender
    events = [(e["event"], e.get("who"), e.get("sid")) for e in bob["events"]]
    assert ("track_muted", "alice", api["muted"]["audio"]) in events, events
    assert ("participant_disconnected", "alice", None) in events, events
    assert api["after_remove"] == ["bob"]
