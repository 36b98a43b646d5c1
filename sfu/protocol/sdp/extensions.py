"""Every RTP header extension the SFU knows, by URI (the ``a=extmap`` names): which ones it
accepts from publishers and the ids it offers subscribers.  Other modules (the worker, the
load tester, the tests) name the URIs through these constants, never by spelling them.
"""

from __future__ import annotations

from .media import Extmap

EXT_MID = "urn:ietf:params:rtp-hdrext:sdes:mid"                                       # RFC 8843
EXT_RID = "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id"                             # RFC 8852
EXT_REPAIRED_RID = "urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id"           # RFC 8852
EXT_AUDIO_LEVEL = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"                       # RFC 6464
EXT_TWCC = "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01"
EXT_ABS_SEND_TIME = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"
EXT_DEPENDENCY_DESCRIPTOR = "https://aomediacodec.github.io/av1-rtp-spec/#dependency-descriptor-rtp-header-extension"

# what a publisher's offer may negotiate (as LiveKit accepts them), by media kind
ACCEPTED_EXTENSIONS = {
    "audio": frozenset({EXT_MID, EXT_RID, EXT_AUDIO_LEVEL, EXT_TWCC, EXT_ABS_SEND_TIME}),
    "video": frozenset({EXT_MID, EXT_RID, EXT_REPAIRED_RID, EXT_TWCC, EXT_ABS_SEND_TIME, EXT_DEPENDENCY_DESCRIPTOR}),
}

# what the SFU's subscriber offers carry, with fixed ids
SUBSCRIBER_EXTMAPS = {
    "audio": (Extmap(1, EXT_MID), Extmap(4, EXT_AUDIO_LEVEL)),
    "video": (
        Extmap(1, EXT_MID),
        Extmap(2, EXT_ABS_SEND_TIME),
        Extmap(3, EXT_TWCC),
        Extmap(5, EXT_DEPENDENCY_DESCRIPTOR),
    ),
}
