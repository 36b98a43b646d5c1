"""A running server through its HTTP APIs, with the same names as an in-process one: `rooms`
is the server API client (sfu.api.RoomClient: the same methods as `Rooms`), `dispatch`
sfu.api.AgentDispatchClient (as `Dispatch`), `media` the
plain-transport HTTP API (`/sfu/v1/plain/...`: the same methods as `Media`).  `record()` and
`ingest()` take either; `sfu record` and `sfu ingest` use this one."""

from __future__ import annotations

from typing import Any

import aiohttp

from ..api.client import AgentDispatchClient, RoomClient, TwirpError, http_url
from ..auth import KeyProvider, VideoGrant
from .media import Codec


class RemoteProducer:
    """`Producer` of a remote server: an RTP stream received on one of its plain transports."""

    def __init__(self, transport: RemotePlainTransport, pid: int, kind: str, ssrc: int, payload_type: int,
                 codec: str = "") -> None:
        self.transport = transport
        self.id = pid
        self.kind = kind
        self.ssrc = ssrc
        self.payload_type = payload_type
        self.codec = codec
        self.closed = False         # closed through this object (the server may close it too)

    def _path(self, what: str = "") -> str:
        return f"/sfu/v1/plain/producers/{self.id}" + (f"/{what}" if what else "")

    async def stats(self) -> dict:
        """the data plane's counters (packets, bytes, ...)"""
        return await self.transport._media._call("GET", self._path("stats"), self.transport.room)

    async def close(self) -> None:
        """stop receiving the stream; its consumers end with it"""
        await self.transport._media._call("DELETE", self._path(), self.transport.room)
        self.closed = True


class RemoteConsumer:
    """`Consumer` of a remote server: a copy of a producer sent out of one of its plain
    transports (`codec`: the track's, when it was consumed by track sid)."""

    def __init__(self, transport: RemotePlainTransport, reply: dict) -> None:
        self.transport = transport
        self.id = int(reply["consumer_id"])
        self.ssrc = int(reply["ssrc"])
        self.payload_type = int(reply["payload_type"])
        self.kind = str(reply["kind"])
        c = reply.get("codec")
        self.codec = Codec(c["name"], int(c["clock_rate"]), int(c["channels"]), c["fmtp"]) if c else None
        self.paused = False
        self.closed = False         # closed through this object (the server may close it too)

    def _path(self, what: str = "") -> str:
        return f"/sfu/v1/plain/consumers/{self.id}" + (f"/{what}" if what else "")

    async def _action(self, action: str) -> None:
        await self.transport._media._call("POST", self._path(action), self.transport.room)

    async def pause(self) -> None:
        """stop forwarding"""
        await self._action("pause")
        self.paused = True

    async def resume(self) -> None:
        """forward again"""
        await self._action("resume")
        self.paused = False

    async def request_key_frame(self) -> None:
        """ask the source's publisher for a key frame (video; throttled by the data plane)"""
        await self._action("key_frame")

    async def stats(self) -> dict:
        """the data plane's counters (packets, bytes, ...)"""
        return await self.transport._media._call("GET", self._path("stats"), self.transport.room)

    async def close(self) -> None:
        """stop sending this copy"""
        await self.transport._media._call("DELETE", self._path(), self.transport.room)
        self.closed = True


class RemotePlainTransport:
    """`PlainTransport` of a remote server, through its plain-transport HTTP API."""

    def __init__(self, media: RemoteMedia, room: str, reply: dict) -> None:
        self._media = media
        self.room = room
        self.id = int(reply["id"])
        self.ip = str(reply["ip"])
        self.port = int(reply["port"])
        self.worker = int(reply["worker"])

    def _path(self, what: str = "") -> str:
        return f"/sfu/v1/plain/transports/{self.id}" + (f"/{what}" if what else "")

    async def connect(self, ip: str, port: int) -> None:
        """send to (and accept RTP from) `ip`:`port`"""
        await self._media._call("POST", self._path("connect"), self.room, {"ip": ip, "port": port})

    async def set_srtp(self, profile: str, recv_key: bytes, send_key: bytes) -> None:
        """SRTP: `recv_key` decrypts what the peer sends, `send_key` encrypts what is sent to it
        (master key + salt each), as PlainTransport.set_srtp"""
        await self._media._call("POST", self._path("srtp"), self.room,
                                {"profile": profile, "recv_key": recv_key.hex(), "send_key": send_key.hex()})

    async def produce(self, kind: str, ssrc: int, payload_type: int, codec: str = "") -> RemoteProducer:
        """receive the RTP stream `ssrc`; `codec` (vp8, opus, ...) lets the data plane recognise
        key frames"""
        body: dict[str, Any] = {"kind": kind, "ssrc": ssrc, "payload_type": payload_type}
        if codec:
            body["codec"] = codec
        r = await self._media._call("POST", self._path("produce"), self.room, body)
        return RemoteProducer(self, int(r["producer_id"]), kind, ssrc, payload_type, codec.lower())

    async def consume(self, source: str | RemoteProducer, paused: bool = False) -> RemoteConsumer:
        """send a track of the room (its sid) or a producer of the room's plain transports out
        of this transport; a video consumer of a track asks for a key frame at once"""
        body: dict[str, Any] = {"paused": paused}
        if isinstance(source, RemoteProducer):
            body["producer_id"] = source.id
        else:
            body["track_sid"] = source
        c = RemoteConsumer(self, await self._media._call("POST", self._path("consume"), self.room, body))
        c.paused = paused
        return c

    async def publish(self, producer: RemoteProducer, identity: str, codec: str, name: str = "",
                      participant_name: str = "") -> str:
        """`producer` as a track of the ingress participant `identity`; the track sid"""
        r = await self._media._call("POST", self._path("publish"), self.room, {
            "producer_id": producer.id, "identity": identity, "codec": codec, "name": name,
            "participant_name": participant_name})
        return str(r["track_sid"])

    async def stats(self) -> dict:
        """{"producers": {id: stats}, "consumers": {id: stats}} (ids as strings: JSON)"""
        return await self._media._call("GET", self._path("stats"), self.room)

    async def close(self) -> None:
        """close it, with its producers and consumers"""
        await self._media._call("DELETE", self._path(), self.room)


class RemoteMedia:
    """The plain-transport HTTP API of a server (a roomAdmin token per call)."""

    def __init__(self, url: str, api_key: str, api_secret: str) -> None:
        self.url = http_url(url)
        self._key = api_key
        self._keys = KeyProvider({api_key: api_secret})
        self._session: aiohttp.ClientSession | None = None

    async def _call(self, method: str, path: str, room: str, body: dict | None = None) -> Any:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        tok = self._keys.create(self._key, video=VideoGrant(roomAdmin=True, room=room), ttl=600)
        async with self._session.request(method, self.url + path, json=body,
                                         headers={"Authorization": f"Bearer {tok}"},
                                         timeout=aiohttp.ClientTimeout(total=10)) as r:
            data = await r.json(content_type=None)
            if r.status != 200:
                raise TwirpError(str(data.get("code", "unknown")), str(data.get("msg", "")), r.status)
            return data

    async def create_plain_transport(self, room: str, comedia: bool = False, rtcp: bool = False,
                                     worker: int | None = None) -> RemotePlainTransport:
        """a plain transport in `room`, as Media.create_plain_transport"""
        body: dict[str, Any] = {"room": room, "comedia": comedia, "rtcp": rtcp}
        if worker is not None:
            body["worker"] = worker
        return RemotePlainTransport(self, room, await self._call("POST", "/sfu/v1/plain/transports", room, body))

    async def close(self) -> None:
        """close the HTTP session (RemoteServer's `async with` does it)"""
        if self._session is not None:
            await self._session.close()
            self._session = None


class RemoteServer:
    """`async with RemoteServer(url, key, secret) as server:` a running server, for record(),
    ingest() and the RoomService calls (`server.rooms`)."""

    def __init__(self, url: str, api_key: str, api_secret: str) -> None:
        self.rooms = RoomClient(url, api_key, api_secret)
        self.dispatch = AgentDispatchClient(url, api_key, api_secret)
        self.media = RemoteMedia(url, api_key, api_secret)

    async def __aenter__(self) -> RemoteServer:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.media.close()
        await self.rooms.close()
        await self.dispatch.close()
