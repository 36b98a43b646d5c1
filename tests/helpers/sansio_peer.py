"""A tiny asyncio driver around the sans-IO objects, standing in for the SFU's real I/O layer.

It owns one UDP socket and the clock; the protocol decisions are all made by ice_lite, dtls and
sdp (and, for data channels, the sctp adapter). It follows the drain rule: every Output is
fully applied (transmits, then events, then the timer) before the next input.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pylibsrtp

from sfu.protocol.common import Addr, Output
from sfu.protocol.dtls import (
    DtlsClosed,
    DtlsConnected,
    DtlsData,
    DtlsFailed,
    DtlsRole,
    DtlsState,
    DtlsTransport,
    SrtpProfile,
    answer_setup,
    role_for_local_setup,
)
from sfu.protocol.dtls_certificate import default_certificate
from sfu.protocol.ice_lite import IceLiteAgent, SelectedAddressChanged, host_candidates
from sfu.protocol.sdp import Answer, SessionDescription, TransportParams, build_answer

LIBSRTP_PROFILE = {
    SrtpProfile.AEAD_AES_128_GCM: pylibsrtp.Policy.SRTP_PROFILE_AEAD_AES_128_GCM,
    SrtpProfile.AES128_CM_SHA1_80: pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_80,
}


class SansIoPeer(asyncio.DatagramProtocol):
    def __init__(self, prefer_setup: str = "active", with_data_channels: bool = False) -> None:
        self.loop = asyncio.get_running_loop()
        self.prefer_setup = prefer_setup
        self.with_data_channels = with_data_channels
        self.agent = IceLiteAgent(self.loop.time())
        self.dtls: DtlsTransport | None = None
        self.answer: Answer | None = None
        self.transport: asyncio.DatagramTransport | None = None
        self.timers: dict[str, asyncio.TimerHandle] = {}
        self.events: list[Any] = []
        self.connected: asyncio.Future[DtlsConnected] = self.loop.create_future()
        self.srtp_rx: pylibsrtp.Session | None = None
        self.srtp_tx: pylibsrtp.Session | None = None
        self.rtp: list[bytes] = []
        self.rtcp: list[bytes] = []
        self.rtp_arrived = asyncio.Event()
        self.srtp_errors = 0
        self.sctp = None  # SctpDataChannels, when with_data_channels
        self.on_channel = None  # handed to SctpDataChannels when it is created
        self.on_message = None

    # ------------------------------------------------------------------ setup

    @classmethod
    async def create(cls, host: str = "127.0.0.1", **kwargs: Any) -> SansIoPeer:
        loop = asyncio.get_running_loop()
        peer = cls(**kwargs)
        await loop.create_datagram_endpoint(lambda: peer, local_addr=(host, 0))
        return peer

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    @property
    def local_addr(self) -> Addr:
        return self.transport.get_extra_info("sockname")[:2]

    def answer_offer(self, offer_sdp: str) -> str:
        offer = SessionDescription.parse(offer_sdp)
        setup = answer_setup(offer.transport_attribute("setup") or "actpass", self.prefer_setup)
        self.dtls = DtlsTransport(role_for_local_setup(setup), offer.fingerprints())
        self.agent.set_remote_credentials(offer.transport_attribute("ice-ufrag"), offer.transport_attribute("ice-pwd"))
        params = TransportParams(
            ice_ufrag=self.agent.local_ufrag,
            ice_pwd=self.agent.local_pwd,
            fingerprint=default_certificate().fingerprint(),
            setup=setup,
            candidates=host_candidates([self.local_addr]),
        )
        self.answer = build_answer(offer, params)
        if self.dtls.role == DtlsRole.SERVER:
            self.apply("dtls", self.dtls.start(self.loop.time()))
        return self.answer.sdp.serialize()

    # ------------------------------------------------------------------ input

    def datagram_received(self, data: bytes, addr: Addr) -> None:
        now = self.loop.time()
        addr = addr[:2]
        first = data[0] if data else 255
        if first < 4:
            self.apply("ice", self.agent.handle_datagram(now, data, addr))
        elif 20 <= first <= 63:
            if self.dtls is not None and self.agent.has_consent(now, addr):
                self.apply("dtls", self.dtls.handle_datagram(now, data))
        elif 128 <= first <= 191 and self.srtp_rx is not None:
            try:
                if 192 <= data[1] <= 223:
                    self.rtcp.append(self.srtp_rx.unprotect_rtcp(data))
                else:
                    self.rtp.append(self.srtp_rx.unprotect(data))
                    self.rtp_arrived.set()
            except pylibsrtp.Error:
                self.srtp_errors += 1

    # ------------------------------------------------------------------ the drain rule

    def apply(self, name: str, out: Output) -> None:
        for tx in out.transmits:
            addr = tx.addr or self.agent.selected
            if addr is not None and self.transport is not None:
                self.transport.sendto(tx.data, addr)
        for event in out.events:
            self.events.append(event)
            self.on_event(event)
        handle = self.timers.pop(name, None)
        if handle is not None:
            handle.cancel()
        if out.deadline is not None:
            self.timers[name] = self.loop.call_at(out.deadline, self.on_timer, name)

    def on_timer(self, name: str) -> None:
        self.timers.pop(name, None)
        now = self.loop.time()
        obj = self.agent if name == "ice" else self.dtls
        self.apply(name, obj.handle_timeout(now))

    def on_event(self, event: Any) -> None:
        now = self.loop.time()
        if isinstance(event, SelectedAddressChanged):
            if self.dtls is not None and self.dtls.state == DtlsState.NEW and self.dtls.role == DtlsRole.CLIENT:
                self.apply("dtls", self.dtls.start(now))
        elif isinstance(event, DtlsConnected):
            profile = LIBSRTP_PROFILE[event.profile]
            self.srtp_rx = pylibsrtp.Session(
                pylibsrtp.Policy(
                    key=event.remote_key, ssrc_type=pylibsrtp.Policy.SSRC_ANY_INBOUND, srtp_profile=profile
                )
            )
            self.srtp_tx = pylibsrtp.Session(
                pylibsrtp.Policy(
                    key=event.local_key, ssrc_type=pylibsrtp.Policy.SSRC_ANY_OUTBOUND, srtp_profile=profile
                )
            )
            if self.with_data_channels:
                self.start_data_channels()
            if not self.connected.done():
                self.connected.set_result(event)
        elif isinstance(event, DtlsFailed):
            if not self.connected.done():
                self.connected.set_exception(RuntimeError(f"DTLS failed: {event.reason}"))
        elif isinstance(event, DtlsData):
            if self.sctp is not None:
                self.sctp.receive(event.data)
        elif isinstance(event, DtlsClosed):
            pass

    # ------------------------------------------------------------------ data channels

    def start_data_channels(self) -> None:
        from sfu.protocol.sctp import SctpDataChannels

        def send(packet: bytes) -> None:
            if self.dtls is not None and self.dtls.state == DtlsState.CONNECTED:
                self.apply("dtls", self.dtls.send(self.loop.time(), packet))

        self.sctp = SctpDataChannels(self.dtls.role, send, on_channel=self.on_channel, on_message=self.on_message)
        asyncio.ensure_future(self.sctp.start())

    async def close(self) -> None:
        if self.sctp is not None:
            await self.sctp.close()
        if self.dtls is not None:
            self.apply("dtls", self.dtls.close(self.loop.time()))
        for handle in self.timers.values():
            handle.cancel()
        self.timers.clear()
        if self.transport is not None:
            self.transport.close()
