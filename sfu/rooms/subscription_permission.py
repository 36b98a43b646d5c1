"""Who may subscribe to a publisher's tracks (UpdateSubscriptionPermissions): everyone, or the
participants it names, for all its tracks or some (pure)."""

from __future__ import annotations

from dataclasses import dataclass, field

from livekit.protocol import rtc


@dataclass
class SubscriptionPermission:
    all_participants: bool = True
    # a named participant (identity, or sid when the identity is not given) -> None: all its
    # tracks, else the track sids it may subscribe to
    allowed: dict[str, set[str] | None] = field(default_factory=dict)

    @classmethod
    def from_proto(cls, m: rtc.SubscriptionPermission) -> "SubscriptionPermission":
        out = cls(all_participants=m.all_participants)
        for tp in m.track_permissions:
            key = tp.participant_identity or tp.participant_sid
            if not key:
                continue
            if tp.all_tracks:
                out.allowed[key] = None
            elif out.allowed.get(key, set()) is not None:
                out.allowed[key] = out.allowed.get(key, set()) | set(tp.track_sids)
        return out

    def allows(self, identity: str, sid: str, track_sid: str) -> bool:
        if self.all_participants:
            return True
        for key in (identity, sid):
            if key in self.allowed:
                tracks = self.allowed[key]
                return tracks is None or track_sid in tracks
        return False
