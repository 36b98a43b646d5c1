"""The control-plane side of a WebRTC transport inside a media worker.

The C loop owns the socket and the media; this object owns ICE-lite, DTLS
and the SCTP data channels of one transport (sfu.protocol objects) and
follows their drain rule: every Output is applied (datagrams sent through
the loop's socket, events handled, the object's one timer re-armed) before
the next input.  When DTLS is up, the exported SRTP keys go to the C loop;
from then on media never passes through Python.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from typing import Any, Callable

from ..protocol.common import Output
from ..protocol.dtls import (DtlsClosed, DtlsConnected, DtlsData, DtlsFailed, DtlsRole, DtlsState,
                             DtlsTransport)
from ..protocol.dtls_certificate import default_certificate
from ..protocol.ice_lite import IceLiteAgent, IceState, IceStateChanged, SelectedAddressChanged

log = logging.getLogger("sfu.webrtc")

Addr = tuple   # (ip, port) on UDP, (ip, port, socket_id) on an ICE-TCP connection (sfu.protocol.common)

class WebRtcSession:
    """ICE + DTLS + SCTP of one transport.

    `send(data, addr)` transmits through the loop's socket; `set_remote(addr)`
    and `set_srtp(profile, recv_key, send_key)` drive the C transport;
    `emit(event, data)` reports to the main process.
    """

    def __init__(self, tid: int, ice_ufrag: str, ice_pwd: str, *,
                 send: Callable[[bytes, Addr], None], set_remote: Callable[[Addr], None],
                 add_addr: Callable[[Addr], None],
                 set_srtp: Callable[[str, bytes, bytes], None], emit: Callable[[str, dict], None]) -> None:
        self.id = tid
        self.loop = asyncio.get_running_loop()
        self.ice = IceLiteAgent(self.loop.time(), local_ufrag=ice_ufrag, local_pwd=ice_pwd)
        self.dtls: DtlsTransport | None = None
        self.sctp: Any = None
        self._send = send
        self._set_remote = set_remote
        self._add_addr = add_addr
        self.rx_addrs: set[Addr] = set()
        self._set_srtp = set_srtp
        self._emit = emit
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self.c_remote: Addr | None = None
        self.state = "new"
        self.want_sctp = False
        self.open_channels: list[dict] = []
        self.channels: dict[str, Any] = {}
        self.closed = False
        self.apply("ice", self.ice.handle_timeout(self.loop.time()))  # arms the connect timeout

    @staticmethod
    def fingerprint() -> str:
        return default_certificate().fingerprint()

    # -- configuration from the main process ------------------------------------
    def set_remote_params(self, ufrag: str, pwd: str, fingerprints: list[str], dtls_role: str,
                          sctp: bool, open_channels: list[dict]) -> None:
        """from every remote description: the first creates DTLS; a later one may add the data
        channel m-line (a publisher that negotiated media first), which starts SCTP at once if
        DTLS is already up; an association, once there, stays"""
        self.ice.set_remote_credentials(ufrag, pwd)
        self.want_sctp = self.want_sctp or sctp
        self.open_channels = list(open_channels)
        if self.dtls is None:
            self.dtls = DtlsTransport(DtlsRole(dtls_role), fingerprints)
            if self.dtls.role == DtlsRole.CLIENT and self.ice.selected is not None:
                self.apply("dtls", self.dtls.start(self.loop.time()))
        elif self.want_sctp and self.sctp is None and self.dtls.state == DtlsState.CONNECTED and not self.closed:
            self._start_sctp()

    def ice_restart(self, ufrag: str, pwd: str, remote_ufrag: str | None, remote_pwd: str | None) -> None:
        self.apply("ice", self.ice.restart(self.loop.time(), remote_ufrag, remote_pwd, ufrag, pwd))

    # -- input ------------------------------------------------------------------
    def on_stun(self, data: bytes, addr: Addr) -> None:
        now = self.loop.time()
        self.apply("ice", self.ice.handle_datagram(now, data, addr))
        # DTLS and media may come over any pair with a valid check (before or
        # after nomination): the C loop accepts packets from all of them and
        # sends to the first, then to the selected one
        if addr in self.ice.pairs and addr not in self.rx_addrs and not self.closed:
            if self.c_remote is None:
                self._route(addr)
            else:
                self.rx_addrs.add(addr)
                self._add_addr(addr)

    def on_path_closed(self, addr: Addr) -> None:
        """the ICE-TCP connection of `addr` closed (the C loop forgot it already)"""
        self.rx_addrs.discard(addr)
        if self.closed:
            return
        now = self.loop.time()
        self.apply("ice", self.ice.remove_pair(now, addr))
        if self.c_remote == addr:
            # until the peer nominates again, send on the pair that was valid last
            others = [p for p in self.ice.pairs.values() if self.ice.has_consent(now, p.remote)]
            self.c_remote = None
            if others:
                self._route(max(others, key=lambda p: p.last_valid).remote)

    def on_dtls(self, data: bytes, addr: Addr) -> None:
        if self.dtls is None or self.closed:
            return
        now = self.loop.time()
        if not self.ice.has_consent(now, addr):
            return
        self.apply("dtls", self.dtls.handle_datagram(now, data))

    # -- the drain rule -----------------------------------------------------------
    def apply(self, name: str, out: Output) -> None:
        for tx in out.transmits:
            addr = tx.addr or self.ice.selected or self.c_remote
            if addr is not None:
                self._send(tx.data, addr)
        for ev in out.events:
            self._on_event(ev)
        h = self._timers.pop(name, None)
        if h is not None:
            h.cancel()
        if out.deadline is not None and not self.closed:
            self._timers[name] = self.loop.call_at(out.deadline, self._on_timer, name)

    def _on_timer(self, name: str) -> None:
        self._timers.pop(name, None)
        obj = self.ice if name == "ice" else self.dtls
        if obj is not None and not self.closed:
            self.apply(name, obj.handle_timeout(self.loop.time()))

    def _route(self, addr: Addr) -> None:
        self.c_remote = addr
        self.rx_addrs.add(addr)
        self._set_remote(addr)

    def _on_event(self, ev: Any) -> None:
        if isinstance(ev, SelectedAddressChanged):
            self._route(ev.addr)
            if self.dtls is not None and self.dtls.state == DtlsState.NEW and self.dtls.role == DtlsRole.CLIENT:
                self.apply("dtls", self.dtls.start(self.loop.time()))
        elif isinstance(ev, IceStateChanged):
            if ev.state in (IceState.FAILED, IceState.DISCONNECTED):
                self._state("failed" if ev.state == IceState.FAILED else "disconnected", ev.reason)
            elif ev.state == IceState.CONNECTED and self.state == "disconnected":
                self._state("connected", "")
        elif isinstance(ev, DtlsConnected):
            self._set_srtp(ev.profile.openssl_name, ev.remote_key, ev.local_key)
            self._state("connected", ev.profile.openssl_name)
            if self.want_sctp:
                self._start_sctp()
        elif isinstance(ev, DtlsData):
            if self.sctp is not None:
                self.sctp.receive(ev.data)
        elif isinstance(ev, DtlsFailed):
            self._state("failed", f"DTLS: {ev.reason}")
        elif isinstance(ev, DtlsClosed):
            self._state("closed", "DTLS close_notify")

    def _state(self, state: str, reason: str) -> None:
        if state == self.state:
            return
        self.state = state
        self._emit("webrtc_state", {"id": self.id, "state": state, "reason": reason})

    # -- data channels --------------------------------------------------------------
    def _start_sctp(self) -> None:
        from ..protocol.sctp import SctpDataChannels

        assert self.dtls is not None

        def send(packet: bytes) -> None:
            if self.dtls is not None and self.dtls.state == DtlsState.CONNECTED:
                self.apply("dtls", self.dtls.send(self.loop.time(), packet))

        self.sctp = SctpDataChannels(self.dtls.role, send, on_channel=self._on_channel, on_message=self._on_message)
        self.loop.create_task(self._run_sctp())

    async def _run_sctp(self) -> None:
        try:
            await self.sctp.start()
        except Exception as e:  # a broken association ends data for this transport only
            log.warning("transport %d: SCTP start failed: %s", self.id, e)
            return
        for ch in self.open_channels:
            c = self.sctp.open_channel(ch["label"], ordered=ch.get("ordered", True),
                                       max_retransmits=ch.get("max_retransmits"))
            self.channels[c.label] = c
            # the main process learns that it may send on it, as for the peer's channels
            c.on("open", lambda c=c: self._channel_open(c))
            if c.readyState == "open":
                self._channel_open(c)

    def _on_channel(self, channel: Any) -> None:
        self.channels.setdefault(channel.label, channel)
        self._channel_open(channel)

    def _channel_open(self, channel: Any) -> None:
        self._emit("data_channel", {"id": self.id, "label": channel.label, "ordered": bool(channel.ordered),
                                    "max_retransmits": channel.maxRetransmits})

    def _on_message(self, channel: Any, message: str | bytes) -> None:
        data = message.encode() if isinstance(message, str) else message
        self._emit("data_message", {"id": self.id, "label": channel.label,
                                    "data": base64.b64encode(data).decode()})

    def send_data(self, label: str, data: bytes) -> bool:
        ch = self.channels.get(label)
        if ch is None or ch.readyState != "open":
            return False
        ch.send(data)
        return True

    def describe(self) -> dict:
        st = self.ice.stats
        return {"state": self.state, "ice": self.ice.state.value, "selected": self.ice.selected,
                "routed": self.c_remote, "checks_ok": st.requests_ok, "unauthorized": st.unauthorized,
                "bad_request": st.bad_request, "malformed": st.malformed,
                "dtls": self.dtls.state.value if self.dtls else None,
                "dtls_role": self.dtls.role.value if self.dtls else None,
                "channels": sorted(self.channels)}

    # -- teardown -------------------------------------------------------------------
    def abort(self) -> None:
        """stop without goodbyes (the worker is shutting down)"""
        self.closed = True
        for h in self._timers.values():
            h.cancel()
        self._timers.clear()

    async def close(self) -> None:
        if self.closed:
            return
        if self.sctp is not None:
            try:
                await self.sctp.close()
            except Exception:
                pass
        if self.dtls is not None and self.dtls.state == DtlsState.CONNECTED:
            self.apply("dtls", self.dtls.close(self.loop.time()))
        self.closed = True
        for h in self._timers.values():
            h.cancel()
        self._timers.clear()
