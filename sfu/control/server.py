"""A server in this process: `async with embed(...) as server:` starts one (media workers,
HTTP/WebSocket for LiveKit clients, the server API) and stops it on the way out."""

from __future__ import annotations

import contextlib
from typing import Any, AsyncIterator

from .. import config
from ..webhooks.room_hooks import RoomEvents
from .events import Callback, Event, EventHub, EventStream
from .media import Media
from .rooms import Dispatch, Rooms


class EmbeddedServer:
    """A started server.  `rooms`: the RoomService operations; `dispatch`: agent dispatches;
    `media`: plain transports;
    `events()` / `on()`: what happens in the rooms.  `url` is what LiveKit clients connect to
    (ws://host:port), `http_url` the same server for the server API (livekit-api, sfu.api)."""

    def __init__(self, settings: config.Settings) -> None:
        from ..app import Server        # the wiring; imported here so that sfu.control loads light

        self.settings = settings
        self._server = Server(settings)
        self._hub = EventHub()
        RoomEvents(self._server.rooms.manager, self._room_event, data=True)
        self.rooms = Rooms(self._server.twirp)
        self.dispatch = Dispatch(self._server.twirp)
        self.media = Media(self._server.rooms)
        self.node_id = self._server.rooms.node_id

    @property
    def host(self) -> str:
        """the address clients reach it on (the first bind address; 127.0.0.1 for 0.0.0.0)"""
        b = self.settings.bind[0]
        return "127.0.0.1" if b in ("0.0.0.0", "::") else b

    @property
    def port(self) -> int:
        """the HTTP/WebSocket port"""
        return self.settings.port

    @property
    def url(self) -> str:
        """ws://host:port, what LiveKit clients connect to"""
        return f"ws://{self.host}:{self.port}"

    @property
    def http_url(self) -> str:
        """http://host:port, the same server for the server API (livekit-api, sfu.api)"""
        return f"http://{self.host}:{self.port}"

    @property
    def api_key(self) -> str:
        """the first API key (clients' tokens are signed with its secret)"""
        return next(iter(self.settings.keys))

    @property
    def api_secret(self) -> str:
        """the secret of `api_key`"""
        return self.settings.keys[self.api_key]

    def token(self, identity: str, room: str, **grants: Any) -> str:
        """an access token for a client joining `room` (`grants`: VideoGrant fields, e.g.
        canPublish=False; `ttl`, `name`, `metadata`, `attributes` as keywords too)"""
        from ..auth import KeyProvider, VideoGrant

        extra = {k: grants.pop(k) for k in ("ttl", "name", "metadata", "attributes", "kind") if k in grants}
        return KeyProvider({self.api_key: self.api_secret}).create(
            self.api_key, identity=identity, video=VideoGrant(room=room, roomJoin=True, **grants), **extra)

    def events(self, *names: str) -> EventStream:
        """`async for event in server.events():` every event from now on (only those named, if
        any are given: "data_received", "participant_joined", ...; an unknown name raises
        ValueError)"""
        return self._hub.subscribe(names or None)

    def on(self, name: str | None, fn: Callback) -> Any:
        """call `fn(event)` (a function or a coroutine function) on every event `name` (None:
        every event); returns a function that removes it"""
        return self._hub.on(name, fn)

    def _room_event(self, room: Any, name: str, fields: dict[str, Any]) -> None:
        self._hub.emit(Event(name=name, room=room.to_proto(), **fields))

    async def start(self) -> None:
        """start the workers and listen (embed() does it; stopped again if it fails)"""
        try:
            await self._server.start()
        except BaseException:
            await self._server.stop()
            raise

    async def stop(self) -> None:
        """close every room (participants leave with SERVER_SHUTDOWN), stop the workers"""
        try:
            await self._server.stop()
        finally:
            await self._hub.close()

    async def __aenter__(self) -> EmbeddedServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.stop()


def settings(path: str | None = None, **options: Any) -> config.Settings:
    """server settings as `sfu serve` reads them: a YAML config file (LiveKit's keys) and
    keyword overrides (port, udp_port, workers, keys, bind, node_ip, room, webhook_urls ...).
    Without keys, the development key (devkey: secret)."""
    if "keys" not in options and path is None:
        options.setdefault("dev", True)
    return config.load(path, **options)


@contextlib.asynccontextmanager
async def embed(settings_or_path: config.Settings | str | None = None,
                **options: Any) -> AsyncIterator[EmbeddedServer]:
    """`async with embed(port=7880) as server:` a running server for the block.

    Give a Settings (`settings()`), a config file path, or keywords: port (7880), udp_port
    (7882; 0: the OS picks), tcp_port (ICE over TCP, 7881; 0: none), workers (one per core), bind (["127.0.0.1"] without keys),
    keys ({"key": "secret"}; default devkey: secret), node_ip, room ({"empty_timeout": ...}),
    webhook_urls ..."""
    if isinstance(settings_or_path, config.Settings):
        s = settings_or_path
    else:
        s = settings(settings_or_path, **options)
    if s.dev and not options.get("bind") and s.bind == ["0.0.0.0"]:
        s.bind = ["127.0.0.1"]           # as `sfu serve --dev`
    server = EmbeddedServer(s)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
