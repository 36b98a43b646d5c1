"""A publisher's subscription permission (sfu.rooms.subscription_permission)."""

from __future__ import annotations

from livekit.protocol import rtc

from sfu.rooms.subscription_permission import SubscriptionPermission


def perm(all_participants=False, *tps) -> SubscriptionPermission:
    return SubscriptionPermission.from_proto(rtc.SubscriptionPermission(all_participants=all_participants,
                                                                       track_permissions=list(tps)))


def test_everyone_by_default_and_with_all_participants():
    assert SubscriptionPermission().allows("bob", "PA_b", "TR_1")
    assert perm(True).allows("anyone", "PA_x", "TR_1")


def test_named_participants_all_or_some_tracks():
    p = perm(False, rtc.TrackPermission(participant_identity="bob", all_tracks=True),
             rtc.TrackPermission(participant_identity="carol", track_sids=["TR_1"]),
             rtc.TrackPermission(participant_sid="PA_d", track_sids=["TR_2"]))
    assert p.allows("bob", "PA_b", "TR_9")
    assert p.allows("carol", "PA_c", "TR_1") and not p.allows("carol", "PA_c", "TR_2")
    assert p.allows("dave", "PA_d", "TR_2") and not p.allows("dave", "PA_d", "TR_1")     # by sid
    assert not p.allows("eve", "PA_e", "TR_1")
    assert not perm(False).allows("bob", "PA_b", "TR_1")                                # nobody


def test_entries_for_one_participant_add_up():
    p = perm(False, rtc.TrackPermission(participant_identity="c", track_sids=["TR_1"]),
             rtc.TrackPermission(participant_identity="c", track_sids=["TR_2"]))
    assert p.allows("c", "", "TR_1") and p.allows("c", "", "TR_2") and not p.allows("c", "", "TR_3")
