"""The SFU's own side of a description, shared by its answers and offers: the transport it
offers (TransportParams), a track it sends (SendTrack), and how their lines are written.
"""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from .grammar import Line
from .media import Codec, MediaSection

SCTP_PROTO = "UDP/DTLS/SCTP"
DEFAULT_SCTP_PORT = 5000
DEFAULT_MAX_MESSAGE_SIZE = 65536

# the rtcp-fb the SFU answers and offers, by media kind
ACCEPTED_FEEDBACK = {
    "audio": frozenset({"nack", "transport-cc"}),
    "video": frozenset({"nack", "nack pli", "ccm fir", "transport-cc", "goog-remb"}),
}


@dataclass
class TransportParams:
    """Our side of the (single, bundled) ICE + DTLS transport."""

    ice_ufrag: str
    ice_pwd: str
    fingerprint: str  # "sha-256 AB:CD:..."
    setup: str  # "active", "passive" or (offers) "actpass"
    candidates: Sequence[str] = ()  # values from ice_lite.host_candidates() (no "a=")
    ice_lite: bool = True
    end_of_candidates: bool = True


@dataclass
class SendTrack:
    """A track we send on an m-line (subscriber offers, or recvonly lines of a publisher offer)."""

    kind: str
    participant_sid: str
    track_sid: str
    ssrc: int
    rtx_ssrc: int | None = None
    cname: str = "sfu"
    mid: str | None = None  # subscriber offers: the mid to use (default: the index as text)
    codecs: Sequence[Codec] | None = None  # subscriber offers: None = defaults for the kind
    active: bool = True  # False: the m-line stays (for reuse) but is inactive

    @property
    def msid(self) -> str:
        return f"{self.participant_sid}|{self.track_sid} {self.track_sid}"


def session_header(session_id: int | None, version: int) -> list[Line]:
    sid = session_id if session_id is not None else secrets.randbits(62)
    return [
        Line("v", "0"),
        Line("o", f"- {sid} {version} IN IP4 127.0.0.1"),
        Line("s", "-"),
        Line("t", "0 0"),
    ]


def add_transport(media: MediaSection, transport: TransportParams, with_candidates: bool) -> None:
    media.add_attribute("ice-ufrag", transport.ice_ufrag)
    media.add_attribute("ice-pwd", transport.ice_pwd)
    media.add_attribute("fingerprint", transport.fingerprint)
    media.add_attribute("setup", transport.setup)
    if with_candidates:
        for candidate in transport.candidates:
            value = candidate[len("candidate:") :] if candidate.startswith("candidate:") else candidate
            media.add_attribute("candidate", value)
        if transport.end_of_candidates and transport.candidates:
            media.add_attribute("end-of-candidates")


def add_codecs(media: MediaSection, codecs: Sequence[Codec], allowed_feedback: frozenset[str]) -> None:
    for codec in codecs:
        media.add_attribute("rtpmap", codec.rtpmap())
        for fb in codec.feedback:
            if fb in allowed_feedback:
                media.add_attribute("rtcp-fb", f"{codec.pt} {fb}")
        if codec.fmtp:
            media.add_attribute("fmtp", f"{codec.pt} {codec.fmtp}")


def ssrc_lines(track: SendTrack, codecs: Sequence[Codec]) -> list[Line]:
    """the track's SSRC lines; its rtx SSRC only when an rtx codec was negotiated"""
    if not any(c.mime == "rtx" for c in codecs):
        track = dataclasses.replace(track, rtx_ssrc=None)
    lines = []
    if track.rtx_ssrc is not None:
        lines.append(Line("a", f"ssrc-group:FID {track.ssrc} {track.rtx_ssrc}"))
    for ssrc in (track.ssrc, track.rtx_ssrc):
        if ssrc is not None:
            lines.append(Line("a", f"ssrc:{ssrc} cname:{track.cname}"))
            lines.append(Line("a", f"ssrc:{ssrc} msid:{track.msid}"))
    return lines


def data_channel_section(mid: str, transport: TransportParams, with_candidates: bool,
                         max_message_size: int) -> MediaSection:
    """``m=application 9 UDP/DTLS/SCTP webrtc-datachannel`` (RFC 8841)"""
    media = MediaSection("application", 9, SCTP_PROTO, ["webrtc-datachannel"])
    media.lines.append(Line("c", "IN IP4 0.0.0.0"))
    add_transport(media, transport, with_candidates)
    media.add_attribute("mid", mid)
    media.add_attribute("sctp-port", str(DEFAULT_SCTP_PORT))
    media.add_attribute("max-message-size", str(max_message_size))
    return media
