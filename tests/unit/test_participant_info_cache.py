"""Participant.to_proto builds its ParticipantInfo once per change and hands out copies: every
change of what the info holds shows, even one made in place without a version bump."""

from __future__ import annotations

from types import SimpleNamespace

from livekit.protocol import models

from sfu import auth
from sfu.rooms.participant import Participant


def participant() -> Participant:
    p = object.__new__(Participant)     # only the fields to_proto reads
    p.sid, p.identity, p.name, p.metadata, p.attributes = "PA_x", "x", "", "", {"a": "1"}
    p.state, p.version, p.kind, p.joined_at = models.ParticipantInfo.JOINED, 1, 0, 1700000000.0
    p.disconnect_reason = models.DisconnectReason.UNKNOWN_REASON
    p.grants = auth.VideoGrant(roomJoin=True, room="r", canPublish=True, canSubscribe=True)
    p.client = SimpleNamespace(client_protocol=0)
    p.tracks = {}
    p._info_cache, p._info_cache_key = models.ParticipantInfo(), None
    return p


def test_built_once_and_copies_handed_out():
    p = participant()
    builds = []
    permission = p.permission
    p.permission = lambda: builds.append(1) or permission()   # called once per build
    a = p.to_proto()
    a.name = "changed by a caller"
    b = p.to_proto()
    assert b.name == "" and b.attributes == {"a": "1"} and b.permission.can_publish
    assert p._info_cache is not b
    assert len(builds) == 1                        # the second call copied, it did not build


def test_every_change_shows():
    p = participant()
    p.to_proto()
    p.attributes["a"] = "2"                        # in place, no bump
    assert p.to_proto().attributes["a"] == "2"
    p.state = models.ParticipantInfo.ACTIVE
    assert p.to_proto().state == models.ParticipantInfo.ACTIVE
    p.grants.canPublishSources.append("camera")    # grants changed in place
    assert list(p.to_proto().permission.can_publish_sources) == [models.TrackSource.CAMERA]
    info = models.TrackInfo(sid="TR_v", type=models.VIDEO, muted=False)
    p.tracks["TR_v"] = SimpleNamespace(published=False, info=info)
    assert not p.to_proto().is_publisher and not p.to_proto().tracks
    p.tracks["TR_v"].published = True
    assert p.to_proto().is_publisher and [t.sid for t in p.to_proto().tracks] == ["TR_v"]
    info.muted = True                              # a track info changed in place
    assert p.to_proto().tracks[0].muted
    p.version += 1
    assert p.to_proto().version == 2
