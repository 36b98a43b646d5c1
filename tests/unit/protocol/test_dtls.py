"""DTLS driver: handshakes in memory, SRTP key agreement, failures, loss recovery on a fake clock."""

from __future__ import annotations

import random
import struct

import pylibsrtp
import pytest

from sfu.protocol.dtls import (
    DtlsClosed,
    DtlsConnected,
    DtlsData,
    DtlsError,
    DtlsFailed,
    DtlsRole,
    DtlsState,
    DtlsTransport,
    SrtpProfile,
    answer_setup,
    parse_fingerprint,
    role_for_local_setup,
    role_from_answer,
)
from sfu.protocol.dtls_certificate import Certificate, default_certificate, format_fingerprint
from sfu.protocol.dtls_records import pack_datagrams, split_records

from .netsim import Link

CERT_A = Certificate.generate()
CERT_B = Certificate.generate()

LIBSRTP_PROFILE = {
    SrtpProfile.AEAD_AES_128_GCM: pylibsrtp.Policy.SRTP_PROFILE_AEAD_AES_128_GCM,
    SrtpProfile.AES128_CM_SHA1_80: pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_80,
}


def make_pair(
    client_profiles=None,
    server_profiles=None,
    client_sees=None,
    server_sees=None,
    **kwargs,
) -> tuple[DtlsTransport, DtlsTransport]:
    client = DtlsTransport(
        DtlsRole.CLIENT,
        [client_sees or CERT_B.fingerprint()],
        certificate=CERT_A,
        **({"srtp_profiles": client_profiles} if client_profiles else {}),
        **kwargs,
    )
    server = DtlsTransport(
        DtlsRole.SERVER,
        [server_sees or CERT_A.fingerprint()],
        certificate=CERT_B,
        **({"srtp_profiles": server_profiles} if server_profiles else {}),
        **kwargs,
    )
    return client, server


def connect(link: Link, limit: float = 60.0) -> None:
    link.apply(link.a, link.a.transport.start(link.now))
    link.apply(link.b, link.b.transport.start(link.now))

    def settled():
        return all(ep.transport.state not in (DtlsState.NEW, DtlsState.CONNECTING) for ep in (link.a, link.b))

    link.run_until(settled, limit=limit)


def connected_event(events) -> DtlsConnected:
    found = [e for e in events if isinstance(e, DtlsConnected)]
    assert len(found) == 1, events
    return found[0]


def rtp_packet(seq: int, ssrc: int = 0x11223344, payload: bytes = b"\xab" * 40) -> bytes:
    return struct.pack("!BBHII", 0x80, 111, seq, seq * 960, ssrc) + payload


def assert_srtp_roundtrip(sender_key: bytes, receiver_key: bytes, profile: SrtpProfile) -> None:
    tx = pylibsrtp.Session(
        pylibsrtp.Policy(
            key=sender_key, ssrc_type=pylibsrtp.Policy.SSRC_ANY_OUTBOUND, srtp_profile=LIBSRTP_PROFILE[profile]
        )
    )
    rx = pylibsrtp.Session(
        pylibsrtp.Policy(
            key=receiver_key, ssrc_type=pylibsrtp.Policy.SSRC_ANY_INBOUND, srtp_profile=LIBSRTP_PROFILE[profile]
        )
    )
    for seq in range(1, 6):
        plain = rtp_packet(seq)
        protected = tx.protect(plain)
        assert protected != plain
        assert rx.unprotect(protected) == plain


# ---------------------------------------------------------------- helpers


def test_answer_setup_and_roles():
    assert answer_setup("actpass") == "active"
    assert answer_setup("actpass", prefer="passive") == "passive"
    assert answer_setup("active") == "passive"
    assert answer_setup("passive") == "active"
    with pytest.raises(DtlsError):
        answer_setup("holdconn")
    assert role_for_local_setup("active") == DtlsRole.CLIENT
    assert role_for_local_setup("passive") == DtlsRole.SERVER
    assert role_from_answer("active") == DtlsRole.SERVER
    assert role_from_answer("passive") == DtlsRole.CLIENT
    with pytest.raises(DtlsError):
        role_from_answer("actpass")


def test_fingerprint_format_and_parse():
    value = CERT_A.fingerprint()
    algorithm, digest = parse_fingerprint(value)
    assert algorithm == "sha-256" and len(digest) == 32
    assert value.startswith("sha-256 ") and value[8:] == value[8:].upper()
    assert len(value.split()[1].split(":")) == 32
    assert parse_fingerprint(value.lower())[1] == digest
    assert format_fingerprint(CERT_A.der, "sha-384").startswith("sha-384 ")
    for bad in ("sha-256", "sha-256 ZZ:00", "md5 00:11", "sha-256 00:11"):
        with pytest.raises(DtlsError):
            parse_fingerprint(bad)


def test_default_certificate_is_cached_ecdsa_p256():
    cert = default_certificate()
    assert default_certificate() is cert
    assert cert.key.curve.name == "secp256r1"


def test_record_splitting_and_packing():
    def record(n: int) -> bytes:
        return bytes([22, 0xFE, 0xFD]) + b"\x00" * 8 + struct.pack("!H", n) + b"x" * n

    stream = record(10) + record(700) + record(700) + record(3)
    records = split_records(stream)
    assert [len(r) for r in records] == [23, 713, 713, 16]
    datagrams = pack_datagrams(records, 1200)
    assert [len(d) for d in datagrams] == [736, 729]
    assert b"".join(datagrams) == stream


# ---------------------------------------------------------------- handshakes


@pytest.mark.parametrize("client_first", [True, False])
@pytest.mark.parametrize(
    "client_profiles, server_profiles, expected",
    [
        (None, None, SrtpProfile.AEAD_AES_128_GCM),  # both sides prefer GCM
        ((SrtpProfile.AES128_CM_SHA1_80,), None, SrtpProfile.AES128_CM_SHA1_80),
        (None, (SrtpProfile.AES128_CM_SHA1_80,), SrtpProfile.AES128_CM_SHA1_80),
        ((SrtpProfile.AEAD_AES_128_GCM,), (SrtpProfile.AEAD_AES_128_GCM,), SrtpProfile.AEAD_AES_128_GCM),
    ],
)
def test_handshake_derives_mirrored_keys(client_first, client_profiles, server_profiles, expected):
    client, server = make_pair(client_profiles, server_profiles)
    link = Link(client, server) if client_first else Link(server, client)
    connect(link)
    assert client.state == server.state == DtlsState.CONNECTED
    c = connected_event(link.a.events if client_first else link.b.events)
    s = connected_event(link.b.events if client_first else link.a.events)
    assert c.profile == s.profile == expected
    assert c.local_key == s.remote_key and c.remote_key == s.local_key
    assert c.local_key != c.remote_key
    assert len(c.local_key) == 16 + expected.salt_length
    assert_srtp_roundtrip(c.local_key, s.remote_key, expected)  # client -> server media
    assert_srtp_roundtrip(s.local_key, c.remote_key, expected)  # server -> client media
    assert client.remote_certificate_der == CERT_B.der
    assert server.remote_certificate_der == CERT_A.der
    assert link.dropped == 0 and link.now < 1.0  # no retransmission needed


def test_wrong_fingerprint_fails_closed_on_client():
    other = Certificate.generate()
    client, server = make_pair(client_sees=other.fingerprint())
    link = Link(client, server)
    connect(link)
    assert client.state == DtlsState.FAILED
    failed = [e for e in link.a.events if isinstance(e, DtlsFailed)]
    assert failed and "fingerprint" in failed[0].reason
    assert not [e for e in link.a.events + link.b.events if isinstance(e, DtlsConnected)]
    assert server.state == DtlsState.FAILED  # it got our bad_certificate alert


def test_wrong_fingerprint_fails_closed_on_server():
    client, server = make_pair(server_sees=Certificate.generate().fingerprint())
    link = Link(client, server)
    connect(link)
    assert server.state == DtlsState.FAILED
    assert any("fingerprint" in e.reason for e in link.b.events if isinstance(e, DtlsFailed))
    assert not [e for e in link.b.events if isinstance(e, DtlsConnected)]
    assert client.state != DtlsState.CONNECTED or not [e for e in link.b.events if isinstance(e, DtlsConnected)]


def test_transports_of_one_certificate_share_a_context_and_each_checks_its_own_peer():
    """one SSL context per certificate and SRTP profiles (a context is ~22 KB and 0.2 ms); the
    fingerprint check stays the transport's own: a right and a wrong one side by side"""
    good_client, good_server = make_pair()
    bad_client, bad_server = make_pair(client_sees=Certificate.generate().fingerprint())
    assert good_client._conn.get_context() is bad_client._conn.get_context()
    assert good_server._conn.get_context() is bad_server._conn.get_context()
    bad, good = Link(bad_client, bad_server), Link(good_client, good_server)
    connect(bad)
    connect(good)
    assert bad_client.state == DtlsState.FAILED and good_client.state == good_server.state == DtlsState.CONNECTED
    gcm_only = DtlsTransport(DtlsRole.CLIENT, [CERT_B.fingerprint()], certificate=CERT_A,
                             srtp_profiles=(SrtpProfile.AEAD_AES_128_GCM,))
    assert gcm_only._conn.get_context() is not good_client._conn.get_context()


def test_no_fingerprint_refuses_to_start():
    transport = DtlsTransport(DtlsRole.CLIENT, [], certificate=CERT_A)
    out = transport.start(0.0)
    assert transport.state == DtlsState.FAILED
    assert out.transmits == [] and isinstance(out.events[0], DtlsFailed)


def test_fingerprint_with_other_hash_accepted():
    client = DtlsTransport(DtlsRole.CLIENT, [format_fingerprint(CERT_B.der, "sha-512")], certificate=CERT_A)
    server = DtlsTransport(DtlsRole.SERVER, [CERT_A.fingerprint("sha-384")], certificate=CERT_B)
    link = Link(client, server)
    connect(link)
    assert client.state == server.state == DtlsState.CONNECTED


def every_third(n: int) -> bool:
    return n % 3 == 2


def seeded_loss(seed: int, rate: float):
    rng = random.Random(seed)
    decisions: dict[int, bool] = {}

    def drop(n: int) -> bool:
        if n not in decisions:
            decisions[n] = rng.random() < rate
        return decisions[n]

    return drop


@pytest.mark.parametrize("drop", [every_third, seeded_loss(1, 0.3), seeded_loss(2, 0.3), seeded_loss(3, 0.4)], ids=str)
def test_lossy_link_completes_via_timers_on_fake_clock(drop):
    client, server = make_pair()
    link = Link(client, server, drop=drop)
    connect(link, limit=60.0)
    assert client.state == server.state == DtlsState.CONNECTED
    assert link.dropped >= 1
    assert link.now > client.initial_rto  # recovery needed at least one timer
    c, s = connected_event(link.a.events), connected_event(link.b.events)
    assert c.local_key == s.remote_key and c.remote_key == s.local_key


def test_lost_final_flight_is_recovered():
    """Drop every datagram the server sends the first time: its last flight must be resent."""
    seen: set[int] = set()
    client, server = make_pair()
    link = Link(client, server)
    original_apply = link.apply

    def apply(ep, out):
        if ep is link.b and out.transmits and len(seen) < 2:
            seen.add(len(seen))
            out.transmits = []  # lose the whole flight
        original_apply(ep, out)

    link.apply = apply
    connect(link)
    assert client.state == server.state == DtlsState.CONNECTED


def test_handshake_timeout_when_peer_silent():
    client, _ = make_pair(handshake_timeout=10.0)
    out = client.start(0.0)
    assert len(out.transmits) == 1  # ClientHello
    now, resends = 0.0, 0
    while client.state == DtlsState.CONNECTING:
        now = out.deadline
        out = client.handle_timeout(now)
        resends += len(out.transmits)
    assert client.state == DtlsState.FAILED and now == 10.0
    assert resends == 3  # at 1, 3, 7 seconds (doubling)
    assert isinstance(out.events[-1], DtlsFailed) and "timed out" in out.events[-1].reason


def test_application_data_both_ways_and_close_notify():
    client, server = make_pair()
    link = Link(client, server)
    connect(link)
    link.apply(link.a, client.send(link.now, b"hello from client"))
    link.apply(link.b, server.send(link.now, b"x" * 1100))
    link.run_until(lambda: False, limit=link.now + 1)
    assert [e.data for e in link.b.events if isinstance(e, DtlsData)] == [b"hello from client"]
    assert [e.data for e in link.a.events if isinstance(e, DtlsData)] == [b"x" * 1100]
    link.apply(link.a, client.close(link.now))
    link.run_until(lambda: False, limit=link.now + 1)
    assert client.state == DtlsState.CLOSED and server.state == DtlsState.CLOSED
    assert any(isinstance(e, DtlsClosed) for e in link.b.events)
    with pytest.raises(DtlsError):
        client.send(link.now, b"late")


def test_send_before_connected_is_an_error():
    client, _ = make_pair()
    with pytest.raises(DtlsError):
        client.send(0.0, b"x")


def test_garbage_does_not_break_handshake_or_raise():
    client, server = make_pair()
    link = Link(client, server)
    for junk in (b"", b"\x16", b"\x16" + b"\x00" * 30, b"\x17\xfe\xfd" + b"\xff" * 60, b"\x80" * 50):
        link.apply(link.b, server.handle_datagram(0.0, junk))
    assert server.state == DtlsState.CONNECTING
    connect(link)
    assert client.state == server.state == DtlsState.CONNECTED
    for junk in (b"\x17\xfe\xfd" + b"\x00\x01" + b"\x00" * 6 + b"\x00\x10" + b"\x00" * 16, b"\x15" * 20):
        out = server.handle_datagram(link.now, junk)
        assert not [e for e in out.events if isinstance(e, DtlsData)]


def test_malformed_sweep_never_raises():
    """Truncations and byte flips of real handshake datagrams go through the public input path
    without an exception escaping; a fresh handshake still works afterwards."""
    client, server = make_pair()
    hello = client.start(0.0).transmits[0].data
    flight = server.handle_datagram(0.0, hello).transmits
    assert flight
    samples = [hello] + [tx.data for tx in flight]
    victims = [make_pair()[1] for _ in range(2)] + [make_pair()[0]]
    victims[2].start(0.0)
    for data in samples:
        for cut in range(0, len(data), 7):
            for victim in victims:
                victim.handle_datagram(0.1, data[:cut])
        for i in range(0, len(data), 3):
            corrupted = bytearray(data)
            corrupted[i] ^= 0xA5
            for victim in victims:
                victim.handle_datagram(0.1, bytes(corrupted))
                victim.handle_timeout(0.2)
    for victim in victims:
        assert victim.state in (DtlsState.CONNECTING, DtlsState.FAILED)
    client, server = make_pair()
    link = Link(client, server)
    connect(link)
    assert client.state == server.state == DtlsState.CONNECTED
