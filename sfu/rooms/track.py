"""A published track: its simulcast layers (one producer each) and its subscriptions (who
receives it, on which layer, through which consumer).

Tracks are announced with AddTrackRequest, bound to an m-line of the publisher offer
(sfu.rooms.publisher) and become published when their first producer exists.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from livekit.protocol import models, rtc

from ..media import Consumer, Producer
from ..protocol import sdp
from ..signaling.prepared_response import Prepared
from .keyframe_limit import KeyFrameLimit
from .layer_activity import LayerActivity
from .subscription_permission import SubscriptionPermission

QUALITY_BY_RID = {"q": models.VideoQuality.LOW, "h": models.VideoQuality.MEDIUM, "f": models.VideoQuality.HIGH,
                  "": models.VideoQuality.HIGH}
# track sources by their names in a token's canPublishSources
SOURCE_NAMES = {models.TrackSource.CAMERA: "camera", models.TrackSource.MICROPHONE: "microphone",
                models.TrackSource.SCREEN_SHARE: "screen_share",
                models.TrackSource.SCREEN_SHARE_AUDIO: "screen_share_audio"}


class Member(Protocol):
    """A participant as its room, its tracks and their subscriptions see it
    (sfu.rooms.participant.Participant; a protocol, so that these modules need not import it)."""

    sid: str
    identity: str
    closed: bool
    tracks: dict[str, TrackPublication]
    subscription_permission: SubscriptionPermission

    @property
    def hidden(self) -> bool: ...

    @property
    def dependent(self) -> bool: ...

    def to_proto(self) -> models.ParticipantInfo: ...

    def encoded_info(self) -> bytes: ...

    async def send(self, msg: rtc.SignalResponse | Prepared) -> None: ...

    async def send_participant_update(self, infos: list[models.ParticipantInfo]) -> None: ...

    async def unsubscribe(self, pub: TrackPublication) -> None: ...

    async def disconnect(self, reason: int, send_leave: bool = True) -> None: ...


@dataclass
class Layer:
    rid: str
    quality: int
    producer: Producer
    active: bool = True        # usable: packets arrive, for long enough (sfu.rooms.layer_activity)
    activity: LayerActivity = field(default_factory=LayerActivity)   # the data plane's reports


@dataclass
class TrackPublication:
    sid: str
    cid: str
    kind: str                        # "audio" | "video"
    info: models.TrackInfo
    participant: Member
    mid: str = ""
    codec: sdp.Codec | None = None   # as negotiated with the publisher
    rtx_pt: int = 0                  # its rtx payload type (apt = codec), 0 = not negotiated
    red_pt: int = 0                  # audio: its publisher sends RED on it (our answer put red first), 0 = none
    rtx_ssrcs: dict[int, int] = field(default_factory=dict)  # media ssrc -> rtx ssrc (the offer's FID groups)
    requested_codec: str = ""        # video: the codec name the AddTrackRequest asked for
    extmap: dict[str, int] = field(default_factory=dict)
    expected_rids: list[str] = field(default_factory=list)
    layers: dict[str, Layer] = field(default_factory=dict)      # rid ("" without simulcast) -> layer
    declared_ssrcs: set[int] = field(default_factory=set)   # every SSRC the offer named (media and RTX)
    adding: set[str] = field(default_factory=set)           # layers whose producer is being created
    server_muted: bool = False       # muted through the server API: forwarding paused
    subscriptions: dict[str, Subscription] = field(default_factory=dict)   # subscriber identity
    # participants that asked for it and were refused by its publisher's subscription
    # permission (identities): subscribed when the permission lets them
    refused: set[str] = field(default_factory=set)

    @property
    def published(self) -> bool:
        return bool(self.layers)

    def layer_of_producer(self, producer_id: int) -> Layer | None:
        return next((x for x in self.layers.values() if x.producer.id == producer_id), None)


@dataclass
class Subscription:
    track: TrackPublication
    subscriber: Member
    consumer: Consumer | None = None
    layer: Layer | None = None
    ssrc: int = 0
    rtx_ssrc: int = 0                            # its RTX stream (video), 0 = none
    red_pt: int = 0                              # audio: the subscriber negotiated red on it, 0 = no
    disabled: bool = False
    quality: int = models.VideoQuality.HIGH      # at most, as asked (UpdateTrackSettings)
    priority: int = 0                            # as asked; 0 = by source
    size: int = 0                                # width * height asked; 0 = not given
    announced: bool = False
    # the subscriber applied a description naming its SSRC; until then nothing is forwarded
    # (single PC: our answer names it as the consumer starts)
    signaled: bool = False
    key_frames: KeyFrameLimit = field(default_factory=KeyFrameLimit)   # asked on its behalf
    # set by the stream allocator while the subscriber's downlink has an estimate
    allocated: int | None = None                 # the highest quality that fits; None = no limit
    bandwidth_paused: bool = False               # not even its lowest layer fits

    @property
    def target_quality(self) -> int:
        """the highest layer it should get: what it asked for, within what fits"""
        return self.quality if self.allocated is None else min(self.quality, self.allocated)

    @property
    def forwarding_paused(self) -> bool:
        """its consumer forwards nothing: not signaled yet, turned off, server-muted, or no room for it"""
        return not self.signaled or self.disabled or self.track.server_muted or self.bandwidth_paused
