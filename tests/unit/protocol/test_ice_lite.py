"""ICE-lite agent: STUN vectors, errors, nomination, consent."""

from __future__ import annotations

import struct

import pytest
from aioice import stun

from sfu.protocol.common import Transmit
from sfu.protocol.ice_lite import (
    ERROR_REASONS,
    ICE_CHARS,
    IceLiteAgent,
    IceState,
    IceStateChanged,
    SelectedAddressChanged,
    StunError,
    candidate_priority,
    extract_local_ufrag,
    generate_pwd,
    generate_ufrag,
    host_candidates,
    parse_stun,
    tcp_host_candidates,
)

LOCAL_UFRAG = "srvU"
LOCAL_PWD = "serverpasswordserverpass"
REMOTE_UFRAG = "IviD"
REMOTE_PWD = "Clg7JRtD6628DvmcIQ9V4caR"
PEER = ("192.0.2.10", 50000)
PEER2 = ("198.51.100.7", 40000)


def make_agent(now: float = 0.0, **kwargs) -> IceLiteAgent:
    return IceLiteAgent(
        now,
        local_ufrag=LOCAL_UFRAG,
        local_pwd=LOCAL_PWD,
        remote_ufrag=REMOTE_UFRAG,
        remote_pwd=REMOTE_PWD,
        **kwargs,
    )


def binding_request(
    username: str | None = f"{LOCAL_UFRAG}:{REMOTE_UFRAG}",
    key: bytes | None = LOCAL_PWD.encode(),
    use_candidate: bool = False,
    controlled: bool = False,
    fingerprint: bool = True,
    transaction_id: bytes = b"0123456789ab",
) -> bytes:
    msg = stun.Message(stun.Method.BINDING, stun.Class.REQUEST, transaction_id=transaction_id)
    if username is not None:
        msg.attributes["USERNAME"] = username
    msg.attributes["PRIORITY"] = 1853824767
    if controlled:
        msg.attributes["ICE-CONTROLLED"] = 1
    else:
        msg.attributes["ICE-CONTROLLING"] = 0x1122334455667788
    if use_candidate:
        msg.attributes["USE-CANDIDATE"] = None
    if key is not None:
        msg.add_message_integrity(key)  # adds FINGERPRINT too
        if not fingerprint:
            msg.attributes.pop("FINGERPRINT")
    elif fingerprint:
        msg.add_fingerprint()
    return bytes(msg)


def only_response(out) -> stun.Message:
    assert len(out.transmits) == 1
    tx = out.transmits[0]
    assert isinstance(tx, Transmit)
    return parse_stun(tx.data), tx.addr


# ---------------------------------------------------------------- credentials and candidates


def test_generated_credentials_follow_rfc():
    for _ in range(20):
        ufrag, pwd = generate_ufrag(), generate_pwd()
        assert len(ufrag) >= 4 and len(pwd) >= 22
        assert set(ufrag) <= set(ICE_CHARS) and set(pwd) <= set(ICE_CHARS)
    with pytest.raises(ValueError):
        generate_ufrag(3)
    with pytest.raises(ValueError):
        generate_pwd(21)
    agent = IceLiteAgent(0.0)
    assert agent.local_ufrag != IceLiteAgent(0.0).local_ufrag


def test_host_candidate_lines():
    lines = host_candidates([("203.0.113.5", 7882), ("2001:db8::1", 7882), ("203.0.113.5", 7883)])
    assert lines[0].startswith("candidate:")
    fields = lines[0].split()
    assert fields[1:4] == ["1", "udp", str(candidate_priority(126, 65535, 1))]
    assert fields[4:8] == ["203.0.113.5", "7882", "typ", "host"]
    assert int(lines[1].split()[3]) < int(lines[0].split()[3])
    # same base address and protocol -> same foundation; different address -> different one
    assert lines[0].split()[0] == lines[2].split()[0]
    assert lines[0].split()[0] != lines[1].split()[0]
    assert candidate_priority(126, 65535, 1) == 2130706431


def test_tcp_candidates_are_passive_and_below_every_udp_one():
    udp = host_candidates([("203.0.113.5", 7882), ("2001:db8::1", 7882)])
    tcp = tcp_host_candidates([("203.0.113.5", 7881), ("2001:db8::1", 7881)])
    f = tcp[0].split()
    assert f[1:3] == ["1", "tcp"] and f[4:] == ["203.0.113.5", "7881", "typ", "host", "tcptype", "passive"]
    # RFC 6544 4.2: local preference 2^13 * 4 (passive) + 8191
    assert int(f[3]) == candidate_priority(126, (4 << 13) + 8191, 1)
    assert max(int(c.split()[3]) for c in tcp) < min(int(c.split()[3]) for c in udp)
    assert int(tcp[1].split()[3]) < int(tcp[0].split()[3])
    assert tcp[0].split()[0] != udp[0].split()[0]          # another protocol: another foundation


# ---------------------------------------------------------------- routing helper


def test_extract_local_ufrag():
    assert extract_local_ufrag(binding_request()) == LOCAL_UFRAG
    assert extract_local_ufrag(binding_request(username="abcd:efgh")) == "abcd"
    assert extract_local_ufrag(binding_request(username=None, key=None)) is None
    assert extract_local_ufrag(binding_request(username="nocolon")) is None
    assert extract_local_ufrag(binding_request(username=":x")) is None
    assert extract_local_ufrag(b"") is None
    assert extract_local_ufrag(b"\x80" * 40) is None  # RTP-looking bytes
    assert extract_local_ufrag(binding_request()[:-3]) is None
    # a response is not routed by ufrag
    response = stun.Message(stun.Method.BINDING, stun.Class.RESPONSE)
    response.attributes["USERNAME"] = "abcd:efgh"
    assert extract_local_ufrag(bytes(response)) is None


def test_extract_local_ufrag_never_raises_on_garbage():
    valid = binding_request()
    for cut in range(len(valid)):
        extract_local_ufrag(valid[:cut])
    for i in range(len(valid)):
        corrupted = bytearray(valid)
        corrupted[i] ^= 0xFF
        extract_local_ufrag(bytes(corrupted))


# ---------------------------------------------------------------- framing


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "truncated STUN header"),
        (b"\x00\x01\x00\x00\x21\x12\xa4", "truncated STUN header"),
        (b"\x80" + b"\x00" * 19, "leading bits"),
        (b"\x00\x01\x00\x00" + b"\x00" * 16, "magic cookie"),
        (b"\x00\x01\x00\x03\x21\x12\xa4\x42" + b"\x00" * 12 + b"\x00" * 3, "multiple of 4"),
        (b"\x00\x01\x00\x08\x21\x12\xa4\x42" + b"\x00" * 12 + b"\x00" * 4, "length mismatch"),
        (b"\x00\x01\x00\x04\x21\x12\xa4\x42" + b"\x00" * 12 + b"\x00\x06\x00\x08", "overruns"),
    ],
)
def test_parse_rejects_bad_framing(data, message):
    with pytest.raises(StunError, match=message):
        parse_stun(data)


def test_parse_rejects_bad_fingerprint():
    data = bytearray(binding_request())
    data[-1] ^= 0x01
    with pytest.raises(StunError, match="fingerprint"):
        parse_stun(bytes(data))


def test_parse_rejects_bad_attribute_value():
    # PRIORITY with 2 bytes instead of 4: aioice would raise struct.error; we report StunError
    body = struct.pack("!HH", 0x0024, 2) + b"\x00\x01\x00\x00"
    data = struct.pack("!HHI12s", 1, len(body), 0x2112A442, b"x" * 12) + body
    with pytest.raises(StunError):
        parse_stun(data)


def test_fingerprint_must_be_last():
    msg = stun.Message(stun.Method.BINDING, stun.Class.REQUEST)
    msg.attributes["FINGERPRINT"] = 0
    msg.attributes["PRIORITY"] = 1
    with pytest.raises(StunError, match="last"):
        parse_stun(bytes(msg))


# ---------------------------------------------------------------- binding requests


def test_valid_request_gets_authenticated_success():
    agent = make_agent()
    req = binding_request()
    out = agent.handle_datagram(1.0, req, PEER)
    resp, addr = only_response(out)
    assert addr == PEER
    assert resp.message_class == stun.Class.RESPONSE
    assert resp.transaction_id == b"0123456789ab"
    assert resp.attributes["XOR-MAPPED-ADDRESS"] == PEER
    assert resp.check_message_integrity(LOCAL_PWD.encode())
    assert "FINGERPRINT" in resp.attributes
    assert agent.state == IceState.CHECKING
    assert out.events == [IceStateChanged(IceState.CHECKING)]
    assert agent.selected is None
    assert PEER in agent.pairs


def test_success_response_ipv6():
    agent = make_agent()
    peer6 = ("2001:db8::42", 61000)
    resp, addr = only_response(agent.handle_datagram(1.0, binding_request(), peer6))
    assert resp.attributes["XOR-MAPPED-ADDRESS"] == peer6


def test_use_candidate_nominates_and_connects():
    agent = make_agent()
    out = agent.handle_datagram(1.0, binding_request(use_candidate=True), PEER)
    assert out.events == [
        IceStateChanged(IceState.CHECKING),
        SelectedAddressChanged(PEER),
        IceStateChanged(IceState.CONNECTED),
    ]
    assert agent.selected == PEER and agent.pairs[PEER].nominated
    assert out.deadline == 1.0 + agent.disconnected_timeout


def test_nomination_switches_to_latest():
    agent = make_agent()
    agent.handle_datagram(1.0, binding_request(use_candidate=True), PEER)
    out = agent.handle_datagram(2.0, binding_request(), PEER2)  # check only: no switch
    assert agent.selected == PEER and not out.events
    out = agent.handle_datagram(3.0, binding_request(use_candidate=True), PEER2)
    assert out.events == [SelectedAddressChanged(PEER2)]
    assert agent.selected == PEER2
    out = agent.handle_datagram(4.0, binding_request(use_candidate=True), PEER2)
    assert out.events == []  # renominating the same pair changes nothing


@pytest.mark.parametrize(
    "kwargs, code, reason",
    [
        (dict(username=f"wrong:{REMOTE_UFRAG}"), 401, "unknown_local_ufrag"),
        (dict(username=f"{LOCAL_UFRAG}:other"), 401, "remote_ufrag_mismatch"),
        (dict(username="nocolon"), 401, "unknown_local_ufrag"),
        (dict(key=b"not-the-password-at-all"), 401, "bad_integrity"),
        (dict(username=None), 400, "missing_credentials"),
        (dict(key=None), 400, "missing_credentials"),
        (dict(fingerprint=False), 400, "missing_fingerprint"),
        (dict(controlled=True), 487, "role_conflict"),
    ],
)
def test_error_responses(kwargs, code, reason):
    agent = make_agent()
    out = agent.handle_datagram(1.0, binding_request(use_candidate=True, **kwargs), PEER)
    assert agent.stats.errors_by_reason == {**dict.fromkeys(ERROR_REASONS, 0), reason: 1}
    resp, addr = only_response(out)
    assert addr == PEER
    assert resp.message_class == stun.Class.ERROR
    assert resp.error_code == code
    assert resp.transaction_id == b"0123456789ab"
    assert "FINGERPRINT" in resp.attributes
    if code == 487:
        assert resp.check_message_integrity(LOCAL_PWD.encode())
    else:
        assert "MESSAGE-INTEGRITY" not in resp.attributes
    assert agent.selected is None and not agent.pairs
    assert agent.state == IceState.NEW
    assert out.events == []


def test_unknown_remote_ufrag_accepted_until_known():
    agent = IceLiteAgent(0.0, local_ufrag=LOCAL_UFRAG, local_pwd=LOCAL_PWD)
    resp, _ = only_response(agent.handle_datagram(1.0, binding_request(username=f"{LOCAL_UFRAG}:zzzz"), PEER))
    assert resp.message_class == stun.Class.RESPONSE


@pytest.mark.parametrize("cut", [0, 1, 19, 20, 21, 40, -9, -1])
def test_truncated_datagrams_are_dropped_and_counted(cut):
    agent = make_agent()
    out = agent.handle_datagram(1.0, binding_request()[:cut], PEER)
    assert out.transmits == [] and out.events == []
    assert agent.stats.malformed == 1


def test_bad_fingerprint_is_dropped_silently():
    agent = make_agent()
    data = bytearray(binding_request())
    data[-2] ^= 0x40
    out = agent.handle_datagram(1.0, bytes(data), PEER)
    assert out.transmits == [] and agent.stats.malformed == 1


def test_non_request_messages_ignored():
    agent = make_agent()
    indication = stun.Message(stun.Method.BINDING, stun.Class.INDICATION)
    indication.add_fingerprint()
    response = stun.Message(stun.Method.BINDING, stun.Class.RESPONSE)
    response.add_fingerprint()
    for data in (bytes(indication), bytes(response)):
        out = agent.handle_datagram(1.0, data, PEER)
        assert out.transmits == []
    assert agent.stats.ignored == 2


def test_malformed_sweep_never_raises():
    """Every truncation and single-byte corruption of a valid request is handled without raising."""
    agent = make_agent()
    valid = binding_request(use_candidate=True)
    for cut in range(len(valid)):
        agent.handle_datagram(1.0, valid[:cut], PEER)
    for i in range(len(valid)):
        for flip in (0x01, 0x80, 0xFF):
            corrupted = bytearray(valid)
            corrupted[i] ^= flip
            agent.handle_datagram(1.0, bytes(corrupted), PEER)
    assert agent.stats.requests_ok == 0 or agent.selected == PEER


# ---------------------------------------------------------------- consent and timers


def test_consent_disconnect_recover_then_fail():
    agent = make_agent(consent_timeout=30.0, disconnected_timeout=10.0)
    out = agent.handle_datagram(1.0, binding_request(use_candidate=True), PEER)
    assert out.deadline == 11.0
    assert agent.handle_timeout(10.9).events == []
    out = agent.handle_timeout(11.0)
    assert out.events == [IceStateChanged(IceState.DISCONNECTED, "no connectivity check received")]
    assert out.deadline == 31.0
    # a consent check on the selected pair brings it back
    out = agent.handle_datagram(12.0, binding_request(), PEER)
    assert out.events == [IceStateChanged(IceState.CONNECTED)]
    assert agent.has_consent(12.0, PEER)
    agent.handle_timeout(22.0)
    out = agent.handle_timeout(42.0)
    assert out.events == [IceStateChanged(IceState.FAILED, "consent expired")]
    assert out.deadline is None
    assert not agent.has_consent(42.0, PEER)
    # terminal: later checks are not answered
    assert agent.handle_datagram(43.0, binding_request(use_candidate=True), PEER).transmits == []


TCP_PEER = ("192.0.2.10", 50001, 7)     # an ICE-TCP path: the peer's address and its connection


def test_a_tcp_path_is_its_own_pair_and_maps_to_its_address():
    agent = make_agent()
    resp, addr = only_response(agent.handle_datagram(1.0, binding_request(use_candidate=True), TCP_PEER))
    assert addr == TCP_PEER and resp.attributes["XOR-MAPPED-ADDRESS"] == TCP_PEER[:2]
    assert agent.selected == TCP_PEER


def test_losing_the_selected_path_disconnects_then_renomination_or_consent_decides():
    agent = make_agent(consent_timeout=30.0, disconnected_timeout=10.0)
    agent.handle_datagram(1.0, binding_request(), PEER)
    agent.handle_datagram(2.0, binding_request(use_candidate=True), TCP_PEER)
    assert agent.state == IceState.CONNECTED
    out = agent.remove_pair(3.0, TCP_PEER)
    assert out.events == [IceStateChanged(IceState.DISCONNECTED, "selected path closed")]
    assert agent.selected is None and TCP_PEER not in agent.pairs
    assert out.deadline == 32.0                   # consent runs out from the lost pair's last check
    # the peer nominates the pair it still has
    out = agent.handle_datagram(4.0, binding_request(use_candidate=True), PEER)
    assert SelectedAddressChanged(PEER) in out.events and agent.state == IceState.CONNECTED
    # ... or nothing comes: failed once consent is over
    other = make_agent(consent_timeout=30.0, disconnected_timeout=10.0)
    other.handle_datagram(2.0, binding_request(use_candidate=True), TCP_PEER)
    other.remove_pair(3.0, TCP_PEER)
    assert other.handle_timeout(31.9).events == []
    assert other.handle_timeout(32.0).events == [IceStateChanged(IceState.FAILED, "consent expired")]
    # a path that was not selected just goes
    third = make_agent()
    third.handle_datagram(1.0, binding_request(use_candidate=True), PEER)
    assert third.remove_pair(2.0, TCP_PEER).events == [] and third.state == IceState.CONNECTED


def test_checks_on_other_pairs_do_not_refresh_selected_consent():
    agent = make_agent(consent_timeout=30.0, disconnected_timeout=10.0)
    agent.handle_datagram(0.0, binding_request(use_candidate=True), PEER)
    for t in range(1, 31, 2):
        agent.handle_datagram(float(t), binding_request(), PEER2)
    assert agent.handle_timeout(30.0).events[-1].state == IceState.FAILED


def test_connect_timeout_without_nomination():
    agent = make_agent(now=5.0, connect_timeout=15.0)
    assert agent.handle_timeout(5.0).deadline == 20.0
    agent.handle_datagram(6.0, binding_request(), PEER)  # checking, never nominated
    out = agent.handle_timeout(20.0)
    assert out.events == [IceStateChanged(IceState.FAILED, "no nomination before the connect timeout")]


def test_ice_restart_rotates_local_credentials():
    agent = make_agent()
    agent.handle_datagram(1.0, binding_request(use_candidate=True), PEER)
    agent.restart(2.0, "newU", "newremotepasswordnewrem")
    assert agent.local_ufrag != LOCAL_UFRAG
    resp, _ = only_response(agent.handle_datagram(3.0, binding_request(), PEER))
    assert resp.error_code == 401
    fresh = binding_request(username=f"{agent.local_ufrag}:newU", key=agent.local_pwd.encode(), use_candidate=True)
    resp, _ = only_response(agent.handle_datagram(3.0, fresh, PEER2))
    assert resp.message_class == stun.Class.RESPONSE and agent.selected == PEER2


def test_pair_table_is_bounded():
    agent = make_agent()
    agent.handle_datagram(0.0, binding_request(use_candidate=True), PEER)
    for i in range(100):
        agent.handle_datagram(1.0 + i, binding_request(), ("192.0.2.99", 1000 + i))
    assert len(agent.pairs) <= 32 and PEER in agent.pairs


def test_error_counters_stay_a_fixed_set_whatever_arrives():
    import os

    agent = make_agent()
    for i in range(200):       # garbage of every length, and STUN-like headers with random bodies
        agent.handle_datagram(1.0, os.urandom(i % 60), PEER)
        agent.handle_datagram(1.0, bytes([0, 1, 0, 8]) + b"\x21\x12\xa4\x42" + os.urandom(20), PEER)
    assert set(agent.stats.errors_by_reason) == set(ERROR_REASONS)
    assert agent.stats.errors_by_reason["malformed"] == agent.stats.malformed > 0
