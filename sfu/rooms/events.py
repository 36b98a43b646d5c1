"""What a participant reports to the rooms service of its node (sfu.rooms.service.RoomService
implements it).  A participant is given it when it is created, so nothing reaches back
through its room or the room's manager for it.
"""

from __future__ import annotations

from typing import Protocol

from .track import Member, TrackPublication


class ParticipantEvents(Protocol):
    async def participant_active(self, p: Member) -> None:
        """its primary PeerConnection connected"""

    async def participant_changed(self, p: Member) -> None:
        """its ParticipantInfo changed (state, metadata, tracks, mute)"""

    async def participant_lost(self, p: Member, why: str) -> None:
        """its transport failed or its media worker died"""

    async def remove_participant(self, p: Member, reason: int) -> None:
        """it leaves its room, for `reason` (a DisconnectReason)"""

    async def track_published(self, p: Member, pub: TrackPublication) -> None:
        """the first layer of one of its tracks has a producer"""

    async def layer_added(self, p: Member, pub: TrackPublication) -> None:
        """a further simulcast layer of a published track has a producer"""

    async def layer_activity(self, p: Member, pub: TrackPublication, producer_id: int, active: bool) -> None:
        """the data plane says a layer of a published track stopped (or started) receiving packets"""

    def downlink_estimate(self, p: Member, bitrate: int | None) -> None:
        """the data plane's bandwidth estimate of what can be sent to it, bits/s (None: unknown)"""

    async def track_unpublished(self, p: Member, pub: TrackPublication) -> None:
        """one of its tracks is gone"""

    async def on_data(self, p: Member, label: str, payload: bytes) -> None:
        """a DataPacket arrived on its data channel `label`"""
