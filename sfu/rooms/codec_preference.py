"""Which video codec a published track uses, and how it is offered to subscribers.

A publisher asks for its codec in the AddTrackRequest (`simulcast_codecs[0].codec`, e.g.
"h264"); browsers offer their codecs in their own order (VP8 first), so the answer puts the
asked codec first on the m-line of that track (matched by the msid's track id, the request's
cid), and the browser then encodes with it.  A subscriber is offered the publisher's codec with
the payload type LiveKit fixes for it and the publisher's format parameters (H.264 profile,
VP9 profile), so what is forwarded is exactly what it agreed to decode.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

from livekit.protocol import models

from ..protocol import sdp

VIDEO_MIMES = {"vp8": "video/VP8", "h264": "video/H264", "vp9": "video/VP9", "av1": "video/AV1"}
# what identifies a variant of a codec in its fmtp (apt, level-asymmetry-allowed ... do not)
_PROFILE_KEYS = ("profile-level-id", "packetization-mode", "profile-id", "profile")


def requested_codec(codec: str) -> str | None:
    """the codec name of an AddTrackRequest's simulcast codec ("h264", "video/VP9" ...),
    lower case, if it is a video codec this server forwards"""
    name = codec.strip().lower().removeprefix("video/")
    return name if name in VIDEO_MIMES else None


def preferred_codecs(offer: sdp.SessionDescription, wanted: Mapping[str, str], kind: str = "video") -> dict[str, str]:
    """mid -> codec name for the offer's m-lines of `kind` whose track (the msid's track id)
    asked for a codec; `wanted` maps a track id (an AddTrackRequest cid) to its codec name"""
    out: dict[str, str] = {}
    for index, media in enumerate(offer.media):
        if media.kind != kind:
            continue
        track_id = (media.attribute("msid") or "").split(" ")[-1]
        name = wanted.get(track_id)
        if name:
            out[media.mid if media.mid is not None else str(index)] = name
    return out


def _profile(codec: sdp.Codec) -> dict[str, str]:
    params = sdp.fmtp_params(codec.fmtp)
    return {k: params[k].lower() for k in _PROFILE_KEYS if k in params}


def subscriber_codec(fixed: sdp.Codec, published: sdp.Codec | None) -> sdp.Codec:
    """the codec of a subscriber offer (two PeerConnections): LiveKit's payload type for it,
    with the format parameters the publisher negotiated (video)"""
    if published is None or published.mime != fixed.mime or fixed.clock_rate != 90000:
        return fixed
    return dataclasses.replace(fixed, fmtp=published.fmtp, feedback=list(fixed.feedback))


def send_codec(offered: Sequence[sdp.Codec], published: sdp.Codec | None) -> sdp.Codec | None:
    """the codec of a subscriber's own offer (one PeerConnection, a recvonly m-line) to send
    the publisher's media as: the same name, of the same profile when the subscriber offers it"""
    if published is None:
        return None
    same = [c for c in offered if c.mime == published.mime]
    want = _profile(published)
    return next((c for c in same if _profile(c) == want), same[0] if same else None)


def red_allowed(info: models.TrackInfo) -> bool:
    """whether this audio track goes as RED, from its publisher (our answer puts red first)
    and to subscribers that negotiated red: not when its publisher asked not to
    (AddTrackRequest.disable_red, as livekit-client does with E2EE), nor when it is end-to-end
    encrypted (a RED payload is then one encrypted frame: livekit-client in Chromium failed to
    decrypt every RED packet the server built, tests/interop/browser/test_browser_e2ee.py)"""
    return not info.disable_red and info.encryption == models.Encryption.NONE
