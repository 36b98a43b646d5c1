"""Data channels: aiortc's SCTP association + DCEP (RFC 8831/8832) over our DTLS driver.

This is the one module under ``sfu.protocol`` that is NOT sans-IO. aiortc's
``RTCSctpTransport`` is a complete, browser-interoperable SCTP stack (RFC 9260 with PR-SCTP
partial reliability, stream reconfiguration and the DCEP open/ack handshake) written in pure
Python, but it schedules its retransmission timers on the running asyncio loop and reads
``time.time()``. :class:`SctpDataChannels` is therefore a minimal async adapter: it must be
created and used inside a running loop, in the same thread as the session's other objects.

What ``RTCSctpTransport`` needs from the object it calls its DTLS transport (read from the
installed aiortc 1.16 source):

* ``state`` — anything but ``"closed"`` when the association is created;
* ``_role`` — ``"client"`` or ``"server"`` (the DTLS role; decides even/odd stream ids);
* ``_register_data_receiver(r)`` / ``_unregister_data_receiver(r)`` — where decrypted SCTP
  packets go (``await r._handle_data(packet)``);
* ``async _send_data(packet)`` — encrypt and send one SCTP packet.

The adapter implements those four with a plain callback, so the owner keeps the sans-IO DTLS
driver: ``send(packet)`` is called with each outbound SCTP packet (the owner runs it through
``DtlsTransport.send(now, packet)`` and transmits the output), and the owner passes every
``DtlsData.data`` to :meth:`SctpDataChannels.receive`.

Inbound packets are processed one at a time, in arrival order, by a single consumer task.
aiortc asserts on some peer misbehaviour (for example a DCEP OPEN for a stream that is already
open); such exceptions are caught, counted in ``errors`` and the packet dropped, so a peer cannot
break the session task.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from aiortc.rtcdatachannel import RTCDataChannel, RTCDataChannelParameters
from aiortc.rtcsctptransport import RTCSctpCapabilities, RTCSctpTransport

from .dtls import DtlsRole

logger = logging.getLogger(__name__)

DEFAULT_PORT = 5000
DEFAULT_MAX_MESSAGE_SIZE = 65536


class _DtlsShim:
    """Stands in for aiortc's RTCDtlsTransport (see the module docstring)."""

    def __init__(self, role: DtlsRole, send: Callable[[bytes], None]) -> None:
        self._role = role.value  # "client" / "server", as RTCSctpTransport.is_server expects
        self._send = send
        self._receiver = None
        self.state = "connected"
        self.transport = None  # RTCSctpTransport never reads it; present for attribute parity

    def _register_data_receiver(self, receiver) -> None:
        self._receiver = receiver

    def _unregister_data_receiver(self, receiver) -> None:
        if self._receiver is receiver:
            self._receiver = None

    async def _send_data(self, data: bytes) -> None:
        if self.state == "closed":
            raise ConnectionError("DTLS transport is closed")
        self._send(data)


class SctpDataChannels:
    """One SCTP association over one DTLS transport, with WebRTC data channels.

    Callbacks:
      ``on_channel(channel)`` — the peer opened a channel (``channel.label``, ``.ordered``,
      ``.maxRetransmits``, ``.id``); register ``channel.on("message")`` on it.
      ``on_message(channel, message)`` — convenience hook for every message on every channel.
    """

    def __init__(
        self,
        role: DtlsRole,
        send: Callable[[bytes], None],
        *,
        local_port: int = DEFAULT_PORT,
        remote_port: int = DEFAULT_PORT,
        remote_max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
        on_channel: Callable[[RTCDataChannel], None] | None = None,
        on_message: Callable[[RTCDataChannel, str | bytes], None] | None = None,
    ) -> None:
        self._shim = _DtlsShim(role, send)
        self._sctp = RTCSctpTransport(self._shim, port=local_port)  # type: ignore[arg-type]
        self._remote_port = remote_port
        self._remote_caps = RTCSctpCapabilities(maxMessageSize=remote_max_message_size)
        self._inbound: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._consumer: asyncio.Task[None] | None = None
        self.on_channel = on_channel
        self.on_message = on_message
        self.channels: dict[int, RTCDataChannel] = {}
        self.errors = 0
        self._sctp.on("datachannel", self._on_datachannel)

    @property
    def state(self) -> str:
        """aiortc's transport state: new, connecting, connected, closed."""
        return self._sctp.state

    async def start(self) -> None:
        """Send INIT (both ends initiate, RFC 8841 section 9.3) and start consuming packets."""
        self._consumer = asyncio.ensure_future(self._consume())
        await self._sctp.start(self._remote_caps, self._remote_port)

    def receive(self, packet: bytes) -> None:
        """Queue one decrypted SCTP packet (a ``DtlsData.data``)."""
        self._inbound.put_nowait(packet)

    def open_channel(
        self, label: str, *, ordered: bool = True, max_retransmits: int | None = None, protocol: str = ""
    ) -> RTCDataChannel:
        """Open a channel from our side (DCEP); it becomes ``open`` when the peer acks."""
        params = RTCDataChannelParameters(
            label=label, ordered=ordered, maxRetransmits=max_retransmits, protocol=protocol
        )
        channel = RTCDataChannel(self._sctp, params)
        self._watch(channel)
        return channel

    async def close(self) -> None:
        """Abort the association and stop the consumer (DTLS close_notify is the owner's job)."""
        await self._sctp.stop()
        self._shim.state = "closed"
        self._inbound.put_nowait(None)
        if self._consumer is not None:
            await self._consumer

    async def _consume(self) -> None:
        while True:
            packet = await self._inbound.get()
            if packet is None:
                return
            receiver = self._shim._receiver
            if receiver is None:
                continue
            try:
                await receiver._handle_data(packet)
            except Exception:  # noqa: BLE001 - peer-triggered assertion inside the SCTP stack
                self.errors += 1
                logger.warning("dropped an SCTP packet that the association could not handle", exc_info=True)

    def _on_datachannel(self, channel: RTCDataChannel) -> None:
        self._watch(channel)
        if self.on_channel is not None:
            self.on_channel(channel)

    def _watch(self, channel: RTCDataChannel) -> None:
        @channel.on("open")
        def _opened() -> None:
            if channel.id is not None:
                self.channels[channel.id] = channel

        if channel.readyState == "open" and channel.id is not None:
            self.channels[channel.id] = channel

        @channel.on("message")
        def _message(message: str | bytes) -> None:
            if self.on_message is not None:
                self.on_message(channel, message)
