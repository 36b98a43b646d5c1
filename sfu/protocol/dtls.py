"""DTLS 1.2 driver for DTLS-SRTP and SCTP-over-DTLS, sans-IO, over pyOpenSSL memory BIOs.

One :class:`DtlsTransport` per PeerConnection (BUNDLE means one DTLS association). Inputs are
``start(now)``, ``handle_datagram(now, data)``, ``handle_timeout(now)``, ``send(now, data)``
(application data, i.e. SCTP packets) and ``close(now)``; each returns an :class:`Output`
whose transmits have ``addr=None`` (send them to the ICE-selected address).

Events: :class:`DtlsConnected` (SRTP profile and the local/remote master key+salt),
:class:`DtlsData` (decrypted application data), :class:`DtlsFailed` (reason) and
:class:`DtlsClosed`.

Security: the peer's certificate is self-signed; it is trusted only if its digest matches a
fingerprint from the remote SDP. The check runs in OpenSSL's verify callback (so a mismatch
aborts the handshake with a bad_certificate alert) and again before keys are exported.
Without a remote fingerprint the transport refuses to start (fail closed).

Retransmission: OpenSSL's DTLS timer runs on its own real-time clock, which the caller's
``now`` need not follow (simulated time in tests, drift in production). The driver therefore
owns the schedule: it starts at ``initial_rto`` and doubles up to ``max_rto``. When the schedule
fires it first asks OpenSSL (``DTLSv1_handle_timeout``); if OpenSSL's own timer has not expired
yet, the driver resends the last flight it emitted byte for byte. A lost flight is thus always
repeated, with the same records OpenSSL would accept again. The defaults (1 s, doubling) match
OpenSSL's, so in production both clocks agree and OpenSSL does the resending.
"""

from __future__ import annotations

import enum
import hmac
import weakref
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from OpenSSL import SSL

from .common import Output, Transmit
from .dtls_certificate import Certificate, default_certificate, format_fingerprint
from .dtls_setup import (HASHES, DtlsError, DtlsRole, answer_setup, parse_fingerprint,  # noqa: F401 (re-exported)
                         role_for_local_setup, role_from_answer)
from .dtls_records import has_handshake_record, is_dtls, pack_datagrams, split_records

DTLS1_2_VERSION = 0xFEFD
EXPORTER_LABEL = b"EXTRACTOR-dtls_srtp"  # RFC 5764 section 4.2
DEFAULT_MTU = 1200
DEFAULT_INITIAL_RTO = 1.0
DEFAULT_MAX_RTO = 8.0
DEFAULT_HANDSHAKE_TIMEOUT = 30.0
CIPHERS = (
    b"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    b"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    b"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
    b"ECDHE-ECDSA-AES128-SHA:ECDHE-RSA-AES128-SHA"
)
FINAL_FLIGHT_REPLAY_INTERVAL = 0.1



class SrtpProfile(enum.Enum):
    """Negotiated DTLS-SRTP protection profile (value = RFC 5764 / IANA id, as libsrtp numbers them)."""

    AEAD_AES_128_GCM = 0x0007
    AES128_CM_SHA1_80 = 0x0001

    @property
    def openssl_name(self) -> str:
        return {0x0007: "SRTP_AEAD_AES_128_GCM", 0x0001: "SRTP_AES128_CM_SHA1_80"}[self.value]

    @property
    def key_length(self) -> int:
        return 16

    @property
    def salt_length(self) -> int:
        return 12 if self is SrtpProfile.AEAD_AES_128_GCM else 14

    @classmethod
    def from_openssl_name(cls, name: str) -> SrtpProfile:
        for profile in cls:
            if profile.openssl_name == name:
                return profile
        raise DtlsError(f"unsupported SRTP profile {name!r}")


DEFAULT_SRTP_PROFILES = (SrtpProfile.AEAD_AES_128_GCM, SrtpProfile.AES128_CM_SHA1_80)


class DtlsState(enum.Enum):
    NEW = "new"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    FAILED = "failed"
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class DtlsConnected:
    """Handshake done and fingerprint verified. Keys are master key + master salt."""

    profile: SrtpProfile
    local_key: bytes  # protects what we send
    remote_key: bytes  # unprotects what we receive


@dataclass(frozen=True, slots=True)
class DtlsData:
    data: bytes


@dataclass(frozen=True, slots=True)
class DtlsFailed:
    reason: str


@dataclass(frozen=True, slots=True)
class DtlsClosed:
    pass


# ---------------------------------------------------------------------- transport

# One SSL context per (certificate, SRTP profiles), shared by every transport using them: a
# context costs ~22 KB and ~0.2 ms to build (OpenSSL 3), a connection on a shared one ~22 KB and
# ~0.01 ms.  Each connection finds its transport (whose fingerprints it checks) in its app data.
_CONTEXTS: dict[tuple[int, tuple[SrtpProfile, ...]], tuple[Certificate, SSL.Context]] = {}
_CONTEXTS_MAX = 8


def _verify_peer(conn: SSL.Connection, cert, errno: int, depth: int, ok: int) -> bool:
    ref = conn.get_app_data()
    transport = ref() if ref is not None else None
    return transport is not None and transport._verify(conn, cert, errno, depth, ok)


def _shared_context(certificate: Certificate, profiles: tuple[SrtpProfile, ...]) -> SSL.Context:
    key = (id(certificate), profiles)
    hit = _CONTEXTS.get(key)
    if hit is not None and hit[0] is certificate:
        return hit[1]
    ctx = SSL.Context(SSL.DTLS_METHOD)
    ctx.set_min_proto_version(DTLS1_2_VERSION)
    ctx.set_max_proto_version(DTLS1_2_VERSION)
    ctx.use_certificate(certificate.cert)
    ctx.use_privatekey(certificate.key)
    ctx.check_privatekey()
    ctx.set_cipher_list(CIPHERS)
    ctx.set_options(SSL.OP_NO_QUERY_MTU | SSL.OP_NO_TICKET)
    ctx.set_verify(SSL.VERIFY_PEER | SSL.VERIFY_FAIL_IF_NO_PEER_CERT, _verify_peer)
    ctx.set_tlsext_use_srtp(":".join(p.openssl_name for p in profiles).encode())
    if len(_CONTEXTS) >= _CONTEXTS_MAX:         # certificates are few (one per process)
        _CONTEXTS.pop(next(iter(_CONTEXTS)))
    _CONTEXTS[key] = (certificate, ctx)
    return ctx


class DtlsTransport:
    def __init__(
        self,
        role: DtlsRole,
        remote_fingerprints: Iterable[str],
        *,
        certificate: Certificate | None = None,
        srtp_profiles: Iterable[SrtpProfile] = DEFAULT_SRTP_PROFILES,
        mtu: int = DEFAULT_MTU,
        initial_rto: float = DEFAULT_INITIAL_RTO,
        max_rto: float = DEFAULT_MAX_RTO,
        handshake_timeout: float = DEFAULT_HANDSHAKE_TIMEOUT,
    ) -> None:
        self.role = role
        self.remote_fingerprints = [parse_fingerprint(f) for f in remote_fingerprints]
        self.certificate = certificate or default_certificate()
        self.srtp_profiles = tuple(srtp_profiles)
        if not self.srtp_profiles:
            raise ValueError("at least one SRTP profile is required")
        self.mtu = mtu
        self.initial_rto = initial_rto
        self.max_rto = max_rto
        self.handshake_timeout = handshake_timeout
        self.state = DtlsState.NEW
        self.profile: SrtpProfile | None = None
        self.remote_certificate_der: bytes | None = None

        self._verify_error: str | None = None
        self._flight: list[bytes] = []
        self._final_flight: list[bytes] = []
        self._last_final_replay = float("-inf")
        self._rto = initial_rto
        self._rtx_at: float | None = None
        self._handshake_deadline: float | None = None
        self._conn = self._make_connection()

    # ------------------------------------------------------------------ setup

    def _make_connection(self) -> SSL.Connection:
        conn = SSL.Connection(_shared_context(self.certificate, self.srtp_profiles), None)  # memory BIOs
        conn.set_app_data(weakref.ref(self))       # no cycle: the transport owns the connection
        conn.set_ciphertext_mtu(self.mtu)
        if self.role == DtlsRole.CLIENT:
            conn.set_connect_state()
        else:
            conn.set_accept_state()
        return conn

    def _verify(self, conn: SSL.Connection, cert, errno: int, depth: int, ok: int) -> bool:
        # Self-signed peers fail chain validation by design; the SDP fingerprint is the trust anchor.
        if depth != 0:
            return True
        der = cert.to_cryptography().public_bytes(serialization.Encoding.DER)
        if self._fingerprint_matches(der):
            return True
        self._verify_error = "remote certificate does not match the SDP fingerprint"
        return False

    def _fingerprint_matches(self, der: bytes) -> bool:
        return any(
            hmac.compare_digest(HASHES[algorithm](der).digest(), digest)
            for algorithm, digest in self.remote_fingerprints
        )

    # ------------------------------------------------------------------ inputs

    def start(self, now: float) -> Output:
        """Begin the handshake (the client sends its ClientHello; the server waits)."""
        out = Output()
        if self.state != DtlsState.NEW:
            out.deadline = self._deadline()
            return out
        if not self.remote_fingerprints:
            self._fail("no remote fingerprint: refusing to connect unauthenticated", out)
            return out
        self.state = DtlsState.CONNECTING
        self._handshake_deadline = now + self.handshake_timeout
        if self.role == DtlsRole.CLIENT:
            self._step_handshake(now, out)
        out.deadline = self._deadline()
        return out

    def handle_datagram(self, now: float, data: bytes) -> Output:
        out = Output()
        if self.state == DtlsState.NEW:
            out.extend(self.start(now))
        if self.state not in (DtlsState.CONNECTING, DtlsState.CONNECTED) or not is_dtls(data):
            out.deadline = self._deadline()
            return out
        was_connected = self.state == DtlsState.CONNECTED
        self._conn.bio_write(data)
        if self.state == DtlsState.CONNECTING:
            self._step_handshake(now, out)
        if self.state == DtlsState.CONNECTED:
            self._read_application_data(out)
            resent = self._drain()  # OpenSSL answering a repeated Finished with its last flight
            if not resent and was_connected and has_handshake_record(data):
                resent = self._replay_final_flight(now)
            out.transmits.extend(Transmit(d) for d in resent)
        out.deadline = self._deadline()
        return out

    def handle_timeout(self, now: float) -> Output:
        out = Output()
        if self.state != DtlsState.CONNECTING:
            out.deadline = self._deadline()
            return out
        if self._handshake_deadline is not None and now >= self._handshake_deadline:
            self._fail("handshake timed out", out)
            return out
        if self._rtx_at is not None and now >= self._rtx_at:
            try:
                self._conn.DTLSv1_handle_timeout()
            except SSL.Error as exc:
                self._fail(f"handshake failed on retransmission: {_ssl_reason(exc)}", out)
                return out
            resent = self._drain()
            if resent:
                self._flight = resent
            else:
                resent = list(self._flight)  # OpenSSL's clock is behind ours: replay the flight
            out.transmits.extend(Transmit(d) for d in resent)
            self._rto = min(self._rto * 2, self.max_rto)
            self._rtx_at = now + self._rto
        out.deadline = self._deadline()
        return out

    def send(self, now: float, data: bytes) -> Output:
        """Encrypt application data (an SCTP packet). Only valid once connected."""
        if self.state != DtlsState.CONNECTED:
            raise DtlsError(f"cannot send application data in state {self.state.value}")
        out = Output()
        try:
            self._conn.send(data)
        except SSL.Error as exc:
            self._fail(f"send failed: {_ssl_reason(exc)}", out)
            return out
        out.transmits.extend(Transmit(d) for d in self._drain())
        out.deadline = self._deadline()
        return out

    def close(self, now: float) -> Output:
        """Send close_notify (if connected) and stop."""
        out = Output()
        if self.state in (DtlsState.CLOSED, DtlsState.FAILED):
            return out
        if self.state == DtlsState.CONNECTED:
            try:
                self._conn.shutdown()
            except SSL.Error:
                pass
            out.transmits.extend(Transmit(d) for d in self._drain())
        self.state = DtlsState.CLOSED
        self._rtx_at = None
        out.events.append(DtlsClosed())
        return out

    # ------------------------------------------------------------------ internals

    def _step_handshake(self, now: float, out: Output) -> None:
        try:
            self._conn.do_handshake()
            done = True
        except SSL.WantReadError:
            done = False
        except SSL.Error as exc:
            out.transmits.extend(Transmit(d) for d in self._drain())  # the alert, if any
            self._fail(self._verify_error or f"handshake failed: {_ssl_reason(exc)}", out)
            return
        flight = self._drain()
        if flight:
            out.transmits.extend(Transmit(d) for d in flight)
            self._flight = flight
            self._rto = self.initial_rto
            self._rtx_at = now + self._rto
        if done:
            self._rtx_at = None
            self._final_flight = flight
            self._on_handshake_done(out)

    def _replay_final_flight(self, now: float) -> list[bytes]:
        """The peer repeats its last flight, so ours was lost: send it again (rate-limited).

        OpenSSL does this itself when the repeat carries fresh record numbers; a byte-identical
        repeat (see the module docstring) is dropped by its replay window, hence this path.
        """
        if not self._final_flight or now < self._last_final_replay + FINAL_FLIGHT_REPLAY_INTERVAL:
            return []
        self._last_final_replay = now
        return list(self._final_flight)

    def _on_handshake_done(self, out: Output) -> None:
        peer = self._conn.get_peer_certificate(as_cryptography=True)
        if peer is None:
            self._fail("peer sent no certificate", out)
            return
        der = peer.public_bytes(serialization.Encoding.DER)
        if not self._fingerprint_matches(der):
            self._fail("remote certificate does not match the SDP fingerprint", out)
            return
        self.remote_certificate_der = der
        try:
            name = self._conn.get_selected_srtp_profile().decode()
        except SSL.Error:
            name = ""
        if not name:
            self._fail("peer did not negotiate DTLS-SRTP (use_srtp)", out)
            return
        try:
            profile = SrtpProfile.from_openssl_name(name)
        except DtlsError as exc:
            self._fail(str(exc), out)
            return
        klen, slen = profile.key_length, profile.salt_length
        material = self._conn.export_keying_material(EXPORTER_LABEL, 2 * (klen + slen))
        client_key = material[:klen]
        server_key = material[klen : 2 * klen]
        client_salt = material[2 * klen : 2 * klen + slen]
        server_salt = material[2 * klen + slen :]
        if self.role == DtlsRole.CLIENT:
            local, remote = client_key + client_salt, server_key + server_salt
        else:
            local, remote = server_key + server_salt, client_key + client_salt
        self.profile = profile
        self.state = DtlsState.CONNECTED
        out.events.append(DtlsConnected(profile, local, remote))

    def _read_application_data(self, out: Output) -> None:
        while True:
            try:
                data = self._conn.recv(65536)
            except SSL.WantReadError:
                return
            except SSL.ZeroReturnError:
                self.state = DtlsState.CLOSED
                out.events.append(DtlsClosed())
                return
            except SSL.Error as exc:
                out.transmits.extend(Transmit(d) for d in self._drain())
                self._fail(f"connection failed: {_ssl_reason(exc)}", out)
                return
            if data:
                out.events.append(DtlsData(data))

    def _drain(self) -> list[bytes]:
        pending = b""
        while True:
            try:
                chunk = self._conn.bio_read(65536)
            except SSL.WantReadError:
                break
            if not chunk:
                break
            pending += chunk
        if not pending:
            return []
        return pack_datagrams(split_records(pending), self.mtu)

    def _fail(self, reason: str, out: Output) -> None:
        self.state = DtlsState.FAILED
        self._rtx_at = None
        out.events.append(DtlsFailed(reason))
        out.deadline = None

    def _deadline(self) -> float | None:
        if self.state != DtlsState.CONNECTING:
            return None
        candidates = [t for t in (self._rtx_at, self._handshake_deadline) if t is not None]
        return min(candidates) if candidates else None


def _ssl_reason(exc: SSL.Error) -> str:
    details = []
    for entry in exc.args[0] if exc.args and isinstance(exc.args[0], list) else []:
        if isinstance(entry, tuple) and entry:
            details.append(str(entry[-1]))
    return ", ".join(details) or exc.__class__.__name__
