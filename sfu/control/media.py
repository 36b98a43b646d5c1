"""The media layer of the Python API: plain transports (RTP without WebRTC, as mediasoup's
PlainTransport) into and out of a room.

Out of a room: `consume()` a track of a participant onto a plain transport connected to the
receiver (ffmpeg, gstreamer).  Into a room: `produce()` what the sender sends to a plain
transport, then `publish()` the producer as a track of an ingress participant the room's
clients see and subscribe to.  The names are the data plane's (Transport, Producer, Consumer,
the TRANSPORT_/PRODUCER_/CONSUMER_ commands of docs/architecture.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .. import errors
from ..media import Consumer as _Consumer, Producer as _Producer, Transport as _Transport
from ..rooms import plain

if TYPE_CHECKING:
    from ..rooms.service import RoomService


@dataclass(frozen=True)
class Codec:
    """What a receiver needs to decode an RTP stream: `name` as in an SDP rtpmap (opus, VP8,
    ...), its clock rate, channels (audio) and format parameters."""

    name: str
    clock_rate: int
    channels: int = 0
    fmtp: str = ""


class Producer:
    """An RTP stream received on a plain transport (one SSRC)."""

    def __init__(self, transport: PlainTransport, inner: _Producer) -> None:
        self.transport = transport
        self._p = inner

    @property
    def id(self) -> int:
        """its id in the server (the HTTP API's producer_id)"""
        return self._p.id

    @property
    def kind(self) -> str:
        """audio or video"""
        return self._p.kind

    @property
    def ssrc(self) -> int:
        """the SSRC it receives"""
        return self._p.ssrc

    @property
    def payload_type(self) -> int:
        """the payload type it receives"""
        return self._p.payload_type

    @property
    def closed(self) -> bool:
        """closed (by close(), or with its transport)"""
        return self._p.closed

    async def stats(self) -> dict:
        """the data plane's counters (PRODUCER_STATS: packets, bytes, ...)"""
        return await self._p.stats()

    async def close(self) -> None:
        """stop receiving the stream; its consumers end with it"""
        await self._p.close()


class Consumer:
    """A copy of a producer sent out of a plain transport, with its own SSRC, payload type,
    sequence numbers and timestamps."""

    def __init__(self, transport: PlainTransport, inner: _Consumer, codec: Codec | None) -> None:
        self.transport = transport
        self._c = inner
        self.codec = codec          # None when the source was a producer of unknown codec

    @property
    def id(self) -> int:
        """its id in the server (the HTTP API's consumer_id)"""
        return self._c.id

    @property
    def kind(self) -> str:
        """audio or video"""
        return self._c.producer.kind

    @property
    def ssrc(self) -> int:
        """the SSRC it sends with (its own, not the source's)"""
        return self._c.ssrc

    @property
    def payload_type(self) -> int:
        """the payload type it sends with"""
        return self._c.payload_type

    @property
    def paused(self) -> bool:
        """not forwarding (pause(), or created paused)"""
        return self._c.paused

    @property
    def closed(self) -> bool:
        """closed (by close(), or with its transport or its source)"""
        return self._c.closed

    async def pause(self) -> None:
        """stop forwarding (CONSUMER_SET_PAUSED)"""
        await self._c.pause()

    async def resume(self) -> None:
        """forward again (a video receiver may need request_key_frame())"""
        await self._c.resume()

    async def request_key_frame(self) -> None:
        """ask the source's publisher for a key frame (video; throttled by the data plane)"""
        await self._c.request_key_frame()

    async def stats(self) -> dict:
        """the data plane's counters (CONSUMER_STATS: packets, bytes, ...)"""
        return await self._c.stats()

    async def close(self) -> None:
        """stop sending this copy"""
        await self._c.close()


class PlainTransport:
    """A plain RTP transport of one room, on one media worker.  Without `comedia` it shares
    the worker's UDP port (`ip`, `port`) and sends to the address given to `connect()`; with
    `comedia` it has a port of its own and learns the sender from its first packet."""

    def __init__(self, media: Media, inner: _Transport, room: str) -> None:
        self._media = media
        self._t = inner
        self.room = room
        self.producers: list[Producer] = []
        self.consumers: list[Consumer] = []

    @property
    def id(self) -> int:
        """its id in the server (the HTTP API's transport id)"""
        return self._t.id

    @property
    def ip(self) -> str:
        """the address the peer sends RTP to"""
        return self._t.ip

    @property
    def port(self) -> int:
        """the UDP port the peer sends RTP to"""
        return self._t.port

    @property
    def worker(self) -> int:
        """the index of the media worker it is on"""
        return self._t.worker.index

    @property
    def remote(self) -> tuple[str, int] | None:
        """the peer's address: given to connect(), or learnt (comedia)"""
        return self._t.remote

    @property
    def closed(self) -> bool:
        """closed (by close(), or its ingress participant leaving)"""
        return self._t.closed

    async def connect(self, ip: str, port: int) -> None:
        """send to (and accept RTP from) `ip`:`port`"""
        await self._t.connect(ip, port)

    async def set_srtp(self, profile: str, recv_key: bytes, send_key: bytes) -> None:
        """SRTP (AES_CM_128_HMAC_SHA1_80 or AEAD_AES_128_GCM ...): `recv_key` decrypts what the
        peer sends, `send_key` encrypts what is sent to it (master key + salt each)"""
        await self._t.set_srtp(profile, recv_key, send_key)

    async def produce(self, kind: str, ssrc: int, payload_type: int, codec: str = "") -> Producer:
        """receive the RTP stream `ssrc` ("audio" or "video"); `codec` (vp8, opus, ...) lets
        the data plane recognise key frames"""
        p = Producer(self, await self._t.produce(kind, ssrc, payload_type, codec.lower()))
        self.producers.append(p)
        return p

    async def consume(self, source: str | Producer, paused: bool = False) -> Consumer:
        """send a track of the room (its sid: the top layer of a simulcast track) or a producer
        of the room's plain transports out of this transport.  A video consumer asks its
        publisher for a key frame at once, so a receiver can start decoding."""
        codec: Codec | None = None
        if isinstance(source, Producer):
            producer, pt = source._p, source.payload_type
        else:
            room = self._media._service.manager.get(self.room)
            if room is None:
                raise errors.NotFoundError(f"room {self.room} not found")
            producer, published = plain.track_source(room, source)
            pt = published.pt if published is not None else producer.payload_type
            if published is not None:
                codec = Codec(published.name, published.clock_rate, published.channels or 0, published.fmtp or "")
        c = Consumer(self, await self._t.consume(producer, payload_type=pt, paused=paused), codec)
        self.consumers.append(c)
        if c.kind == "video" and not paused:
            await c.request_key_frame()
        return c

    async def publish(self, producer: Producer, identity: str, codec: str, name: str = "",
                      participant_name: str = "", width: int = 0, height: int = 0) -> str:
        """publish `producer` as a track of the ingress participant `identity` (joined now if
        it is not in the room yet): the room's clients see it and subscribe to it like to any
        track.  `codec`: opus, vp8, vp9, h264 or av1.  Returns the track sid.  The transport is
        closed when that participant leaves (remove_participant)."""
        room = self._media._service.manager.get(self.room)
        if room is None:
            room, _ = self._media._service.manager.create(self.room)
        plain.check_unpublished(room, producer._p)
        p = room.participants.get(identity)
        if not isinstance(p, plain.IngressParticipant) or p.closed:
            p = await plain.join(room, identity, self._media._service, name=participant_name)
        pub = await plain.publish(p, producer._p, codec, name=name, width=width, height=height)
        return pub.sid

    async def stats(self) -> dict:
        """{"producers": {id: stats}, "consumers": {id: stats}}"""
        return await self._t.stats()

    async def close(self) -> None:
        """close it, with its producers (their tracks are unpublished) and consumers"""
        await self._t.close()


class Media:
    """`server.media`: plain transports into and out of the server's rooms."""

    def __init__(self, service: RoomService) -> None:
        self._service = service

    async def create_plain_transport(self, room: str, comedia: bool = False, rtcp: bool = False,
                                     worker: int | None = None) -> PlainTransport:
        """a plain transport in `room` (the room's media exist before the room does: a transport
        of a room nobody joined yet is fine).  `rtcp`: send sender/receiver reports and answer
        NACKs; `worker`: the media worker (default: the least loaded)."""
        router = self._service.media.router(room)
        t = await router.create_plain_transport(worker=worker, comedia=comedia, rtcp=rtcp)
        return PlainTransport(self, t, room)
