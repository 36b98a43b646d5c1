"""A simulated WebRTC peer for load tests: one UDP socket, ICE, DTLS, SRTP keys.

It does the real handshake of a browser peer against any SFU (ours, which is ICE-lite,
or a full-ICE server such as Janus):

* ICE: connectivity checks to every remote host candidate (controlling or controlled),
  answers to the remote agent's checks, nomination with USE-CANDIDATE when controlling,
  and consent refreshes (RFC 7675) on the selected pair every ``CONSENT_INTERVAL``.
* DTLS 1.2 with the role the SDP setup attributes give, fingerprint verified, DTLS-SRTP
  keys exported into two :class:`sfu.srtp.Session` objects for the C packet engine.
* Data channels, when ``on_data`` is set before connecting: the SCTP association (the same
  aiortc stack the server runs, ``sfu.protocol.sctp``) accepts the channels the remote opens
  and hands every message to ``on_data(label, data)``.  Only for a peer whose socket stays
  here (the engine's receiver does not pass DTLS application data back).

Media never passes through here: after :meth:`Peer.connect` the socket is handed to the
engine's receiver thread (``sfu.loadtest.engine``), which queues STUN and DTLS datagrams
back to :meth:`Peer.on_control`.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import socket
import time
from dataclasses import dataclass, field
from typing import Callable

from aioice import stun

from .. import srtp
from ..protocol import dtls as dtlsmod
from ..protocol.dtls_certificate import Certificate
from ..protocol.common import Output
from ..protocol.ice_lite import generate_pwd, generate_ufrag, parse_stun
from ..protocol.sdp import SessionDescription

log = logging.getLogger("sfu.loadtest.peer")

CHECK_INTERVAL = 0.05        # connectivity check retransmission while connecting
CONSENT_INTERVAL = 2.5       # consent refresh on the selected pair (RFC 7675: 4-6 s is typical)
RECV_BUFFER = 4 * 1024 * 1024
PRIORITY_HOST = (126 << 24) | (65535 << 8) | 255


class PeerError(Exception):
    """The handshake with the server failed (ICE or DTLS), with the reason."""


@dataclass
class RemoteTransport:
    """What a peer needs from the remote SDP."""

    ufrag: str
    pwd: str
    candidates: list[tuple[str, int]]
    fingerprints: list[str]
    setup: str                       # the remote a=setup value

    @classmethod
    def from_sdp(cls, text: str) -> RemoteTransport:
        desc = SessionDescription.parse(text)
        ufrag = desc.transport_attribute("ice-ufrag")
        pwd = desc.transport_attribute("ice-pwd")
        setup = desc.transport_attribute("setup") or "actpass"
        if not ufrag or not pwd:
            raise PeerError("remote SDP has no ICE credentials")
        cands: list[tuple[str, int]] = []
        for media in desc.media:
            for value in media.attributes("candidate"):
                parts = value.split()
                # foundation component transport priority ip port typ type ...
                if len(parts) >= 8 and parts[2].lower() == "udp" and parts[1] == "1" and ":" not in parts[4]:
                    addr = (parts[4], int(parts[5]))
                    if addr not in cands:
                        cands.append(addr)
        if not cands:
            raise PeerError("remote SDP has no IPv4 UDP candidate")
        fps = desc.fingerprints()
        if not fps:
            raise PeerError("remote SDP has no DTLS fingerprint")
        return cls(ufrag, pwd, cands, fps, setup)


_certificate: Certificate | None = None


def shared_certificate() -> Certificate:
    """One certificate for all peers of a load-test process (key generation is not free)."""
    global _certificate
    if _certificate is None:
        _certificate = Certificate.generate()
    return _certificate


def local_ip_towards(host: str, port: int = 9) -> str:
    """The source address the kernel picks to reach ``host``."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.connect((host, port))
        return s.getsockname()[0]
    finally:
        s.close()


@dataclass
class PeerStats:
    checks_sent: int = 0
    checks_answered: int = 0
    consent_sent: int = 0
    consent_ok: int = 0
    control_in: int = 0
    setup_ms: float = 0.0
    errors: list[str] = field(default_factory=list)


class Peer:
    """One simulated PeerConnection (BUNDLE: one socket, one DTLS association)."""

    def __init__(self, bind_ip: str, *, certificate: Certificate | None = None,
                 srtp_profiles: tuple[dtlsmod.SrtpProfile, ...] | None = None) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECV_BUFFER)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, RECV_BUFFER)
        self.sock.bind((bind_ip, 0))
        self.sock.setblocking(False)
        self.ip, self.port = self.sock.getsockname()
        self.ufrag = generate_ufrag()
        self.pwd = generate_pwd()
        self.certificate = certificate or shared_certificate()
        self.srtp_profiles = srtp_profiles or dtlsmod.DEFAULT_SRTP_PROFILES
        self.tie_breaker = secrets.randbits(63)
        self.remote: RemoteTransport | None = None
        self.controlling = True
        self.selected: tuple[str, int] | None = None
        self.dtls: dtlsmod.DtlsTransport | None = None
        self.profile: str | None = None
        self.tx: srtp.Session | None = None          # protects what we send
        self.rx: srtp.Session | None = None          # unprotects what we receive
        self.stats = PeerStats()
        self._pending: dict[bytes, tuple[str, int]] = {}   # our check transaction -> address
        self._succeeded: set[tuple[str, int]] = set()      # pairs whose check got a response
        self._nominated_by_remote: set[tuple[str, int]] = set()
        self._connected = asyncio.Event()
        self._failed: str | None = None
        self._dtls_timer: asyncio.TimerHandle | None = None
        self._reading = False
        self._keepalive: asyncio.Task | None = None
        self._closed = False
        self.on_data: Callable[[str, bytes], None] | None = None
        self.sctp = None                              # sfu.protocol.sctp.SctpDataChannels once DTLS is up

    # ------------------------------------------------------------------ SDP

    def fingerprint(self) -> str:
        return self.certificate.fingerprint()

    def transport_lines(self, setup: str) -> list[str]:
        """The a= lines of this transport for a media section (without "a=" dropped)."""
        foundation = "1"
        return [
            f"a=ice-ufrag:{self.ufrag}",
            f"a=ice-pwd:{self.pwd}",
            f"a=fingerprint:{self.fingerprint()}",
            f"a=setup:{setup}",
            f"a=candidate:{foundation} 1 udp {PRIORITY_HOST} {self.ip} {self.port} typ host",
            "a=end-of-candidates",
        ]

    # ------------------------------------------------------------------ handshake

    async def connect(self, remote: RemoteTransport, *, local_setup: str, controlling: bool,
                      timeout: float = 10.0) -> None:
        """ICE then DTLS; returns with ``tx``/``rx`` SRTP sessions or raises PeerError."""
        loop = asyncio.get_running_loop()
        t0 = time.monotonic()
        self.remote = remote
        self.controlling = controlling
        role = dtlsmod.role_for_local_setup(local_setup)
        self.dtls = dtlsmod.DtlsTransport(role, remote.fingerprints, certificate=self.certificate,
                                          srtp_profiles=self.srtp_profiles)
        loop.add_reader(self.sock.fileno(), self._on_readable)
        self._reading = True
        try:
            await asyncio.wait_for(self._run_checks(), timeout)
            self._dtls_output(self.dtls.start(loop.time()))
            await asyncio.wait_for(self._connected.wait(), max(0.1, timeout - (time.monotonic() - t0)))
        except asyncio.TimeoutError:
            state = "ICE" if self.selected is None else "DTLS"
            raise PeerError(f"{state} did not complete within {timeout:.0f} s"
                            + (f": {self._failed}" if self._failed else "")) from None
        if self._failed:
            raise PeerError(self._failed)
        self.stats.setup_ms = (time.monotonic() - t0) * 1000

    async def _run_checks(self) -> None:
        assert self.remote is not None
        while self.selected is None:
            if self._failed:
                raise PeerError(self._failed)
            for addr in self.remote.candidates:
                self._send_check(addr, nominate=self.controlling)
            await asyncio.sleep(CHECK_INTERVAL)
            if not self.controlling:
                # controlled: the remote nominates; we take a nominated pair once our own check
                # on it succeeded (or any nominated pair, if the remote never answers us)
                for addr in self._nominated_by_remote:
                    if addr in self._succeeded:
                        self.selected = addr

    def _send_check(self, addr: tuple[str, int], *, nominate: bool, consent: bool = False) -> None:
        assert self.remote is not None
        msg = stun.Message(stun.Method.BINDING, stun.Class.REQUEST)
        msg.attributes["USERNAME"] = f"{self.remote.ufrag}:{self.ufrag}"
        msg.attributes["PRIORITY"] = PRIORITY_HOST
        if self.controlling:
            msg.attributes["ICE-CONTROLLING"] = self.tie_breaker
            if nominate:
                msg.attributes["USE-CANDIDATE"] = None
        else:
            msg.attributes["ICE-CONTROLLED"] = self.tie_breaker
        msg.add_message_integrity(self.remote.pwd.encode())
        self._pending[msg.transaction_id] = addr
        if len(self._pending) > 256:
            self._pending.pop(next(iter(self._pending)))
        self._sendto(bytes(msg), addr)
        if consent:
            self.stats.consent_sent += 1
        else:
            self.stats.checks_sent += 1

    def _sendto(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            self.sock.sendto(data, addr)
        except (BlockingIOError, InterruptedError):
            pass                      # a lost control datagram is retransmitted by its protocol
        except OSError as exc:
            if not self._closed:
                self.stats.errors.append(f"send: {exc}")

    def _on_readable(self) -> None:
        for _ in range(64):
            if self._closed:
                return
            try:
                data, addr = self.sock.recvfrom(2048)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            try:
                self.on_control(data, addr)
            except Exception as exc:          # never let one bad datagram stop the reader
                self.stats.errors.append(f"control: {exc!r}")

    def on_control(self, data: bytes, addr: tuple[str, int]) -> None:
        """A STUN or DTLS datagram (from the socket, or queued by the engine's receiver)."""
        self.stats.control_in += 1
        if not data:
            return
        first = data[0]
        if first < 4:
            self._on_stun(data, addr)
        elif 20 <= first < 64 and self.dtls is not None:
            loop = asyncio.get_running_loop()
            self._dtls_output(self.dtls.handle_datagram(loop.time(), data))
        # anything else (RTP/RTCP while connecting) is ignored

    def _on_stun(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            msg = parse_stun(data)
        except Exception:
            return
        if msg.message_class == stun.Class.REQUEST and msg.message_method == stun.Method.BINDING:
            username = msg.attributes.get("USERNAME", "")
            if username.split(":", 1)[0] != self.ufrag:
                return
            if not msg.check_message_integrity(self.pwd.encode()):
                return
            resp = stun.Message(stun.Method.BINDING, stun.Class.RESPONSE, transaction_id=msg.transaction_id)
            resp.attributes["XOR-MAPPED-ADDRESS"] = addr
            resp.add_message_integrity(self.pwd.encode())
            self._sendto(bytes(resp), addr)
            self.stats.checks_answered += 1
            if "USE-CANDIDATE" in msg.attributes and not self.controlling:
                self._nominated_by_remote.add(addr)
                if self.selected is None and addr not in self._succeeded:
                    self._send_check(addr, nominate=False)      # triggered check
        elif msg.message_class == stun.Class.RESPONSE:
            sent_to = self._pending.pop(msg.transaction_id, None)
            if sent_to is None or self.remote is None:
                return
            if not msg.check_message_integrity(self.remote.pwd.encode()):
                return
            self._succeeded.add(sent_to)
            if self.selected is None and self.controlling:
                self.selected = sent_to
            elif sent_to == self.selected:
                self.stats.consent_ok += 1
        elif msg.message_class == stun.Class.ERROR:
            sent_to = self._pending.pop(msg.transaction_id, None)
            if sent_to is not None:
                err = msg.attributes.get("ERROR-CODE")
                self.stats.errors.append(f"check to {sent_to} refused: {err}")

    # ------------------------------------------------------------------ DTLS

    def _dtls_output(self, out: Output) -> None:
        loop = asyncio.get_running_loop()
        if self.selected is not None:
            for t in out.transmits:
                self._sendto(t.data, t.addr or self.selected)
        for ev in out.events:
            if isinstance(ev, dtlsmod.DtlsConnected):
                self.profile = ev.profile.openssl_name
                self.tx = srtp.Session(self.profile, ev.local_key, outbound=True)
                self.rx = srtp.Session(self.profile, ev.remote_key, outbound=False)
                if self.on_data is not None:
                    self._start_sctp()
                self._connected.set()
            elif isinstance(ev, dtlsmod.DtlsData):
                if self.sctp is not None:
                    self.sctp.receive(ev.data)
            elif isinstance(ev, dtlsmod.DtlsFailed):
                self._failed = f"DTLS failed: {ev.reason}"
                self._connected.set()
        if self._dtls_timer is not None:
            self._dtls_timer.cancel()
            self._dtls_timer = None
        if out.deadline is not None and not self._closed:
            self._dtls_timer = loop.call_at(out.deadline, self._dtls_timeout)

    def _start_sctp(self) -> None:
        from ..protocol.sctp import SctpDataChannels

        assert self.dtls is not None and self.on_data is not None
        on_data = self.on_data

        def send(packet: bytes) -> None:
            if self.dtls is not None and not self._closed:
                self._dtls_output(self.dtls.send(asyncio.get_running_loop().time(), packet))

        def message(channel, data: str | bytes) -> None:
            on_data(channel.label, data.encode() if isinstance(data, str) else data)

        self.sctp = SctpDataChannels(self.dtls.role, send, on_message=message)
        asyncio.get_running_loop().create_task(self.sctp.start())

    def _dtls_timeout(self) -> None:
        self._dtls_timer = None
        if self.dtls is not None and not self._closed:
            self._dtls_output(self.dtls.handle_timeout(asyncio.get_running_loop().time()))

    # ------------------------------------------------------------------ run

    def detach(self) -> None:
        """Stop reading the socket here: the engine's receiver thread owns it from now on."""
        if self._reading:
            asyncio.get_running_loop().remove_reader(self.sock.fileno())
            self._reading = False

    def start_consent(self) -> None:
        """Send consent refreshes on the selected pair until close()."""
        if self._keepalive is None:
            self._keepalive = asyncio.get_running_loop().create_task(self._consent_loop())

    async def _consent_loop(self) -> None:
        while not self._closed:
            await asyncio.sleep(CONSENT_INTERVAL)
            if self.selected is not None and not self._closed:
                self._send_check(self.selected, nominate=False, consent=True)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._keepalive is not None:
            self._keepalive.cancel()
        if self._dtls_timer is not None:
            self._dtls_timer.cancel()
        if self.sctp is not None:
            try:
                asyncio.get_running_loop().create_task(self.sctp.close())
            except RuntimeError:
                pass
        try:
            self.detach()
        except RuntimeError:
            pass
        self.sock.close()

    def release_srtp(self) -> None:
        """Free the SRTP sessions (only after the engine threads stopped)."""
        for s in (self.tx, self.rx):
            if s is not None:
                s.close()
        self.tx = self.rx = None
