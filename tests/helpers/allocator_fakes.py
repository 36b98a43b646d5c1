"""Stand-ins for what the stream allocator's driver (sfu.rooms.allocator) touches: a consumer
that records what it is told (a layer switch, SVC layers, pause, resume, RED), a publisher and a
subscriber that records what it is sent."""

from __future__ import annotations

from typing import Any

from livekit.protocol import rtc

from sfu.rooms.track import Subscription


class Consumer:
    def __init__(self, producer: Any, paused: bool = False) -> None:
        self.producer = producer
        self.paused = paused
        self.closed = False
        self.red_payload_type = 0
        self.spatial_layer = -1
        self.temporal_layer = -1
        self.log: list[str] = []

    async def set_red(self, red_payload_type: int) -> None:
        self.red_payload_type = red_payload_type
        self.log.append(f"red {red_payload_type}")

    async def set_producer(self, producer: Any) -> None:
        self.producer = producer
        self.log.append(f"layer {producer.id}")

    async def set_layers(self, spatial: int, temporal: int = -1) -> None:
        self.spatial_layer, self.temporal_layer = spatial, temporal
        self.log.append(f"spatial {spatial}" if temporal == -1 else f"spatial {spatial} temporal {temporal}")

    async def pause(self) -> None:
        self.paused = True
        self.log.append("pause")

    async def resume(self) -> None:
        self.paused = False
        self.log.append("resume")


class Publisher:
    sid = "PA_pub"
    identity = "alice"


class Subscriber:
    sid = "PA_sub"
    identity = "bob"
    closed = False

    def __init__(self) -> None:
        self.subs: list[Subscription] = []
        self.sent: list[rtc.SignalResponse] = []
        self.wanted: list[int] = []

    async def set_wanted_bitrate(self, bitrate: int) -> None:
        self.wanted.append(bitrate)

    def subscriptions(self) -> list[Subscription]:
        return list(self.subs)

    async def send(self, msg: rtc.SignalResponse) -> None:
        self.sent.append(msg)

    def stream_states(self) -> list[tuple[str, str]]:
        return [(s.track_sid, rtc.StreamState.Name(s.state))
                for m in self.sent if m.WhichOneof("message") == "stream_state_update"
                for s in m.stream_state_update.stream_states]
