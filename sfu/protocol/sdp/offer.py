"""The SFU's offer to a subscriber PeerConnection: one sendonly m-line per track it sends,
with the codecs and payload types LiveKit uses, and the data channel.
"""

from __future__ import annotations

from collections.abc import Sequence

from .extensions import SUBSCRIBER_EXTMAPS
from .grammar import Line
from .local import (ACCEPTED_FEEDBACK, DEFAULT_MAX_MESSAGE_SIZE, SendTrack, TransportParams, add_codecs, add_transport,
                    data_channel_section, session_header, ssrc_lines)
from .media import Codec, MediaSection
from .session import SessionDescription

# Payload types as LiveKit fixes them, so a subscriber sees the same numbers on every server.
OPUS = Codec(111, "opus", 48000, 2, "minptime=10;useinbandfec=1", ["transport-cc", "nack"])
RED_AUDIO = Codec(63, "red", 48000, 2, "111/111")
_VIDEO_FB = ["goog-remb", "transport-cc", "ccm fir", "nack", "nack pli"]
VP8 = Codec(96, "VP8", 90000, None, None, list(_VIDEO_FB))
VP9 = Codec(98, "VP9", 90000, None, "profile-id=0", list(_VIDEO_FB))
H264 = Codec(
    108, "H264", 90000, None, "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f", list(_VIDEO_FB)
)
AV1 = Codec(35, "AV1", 90000, None, None, list(_VIDEO_FB))
DEFAULT_AUDIO_SEND_CODECS = (OPUS, RED_AUDIO)
DEFAULT_VIDEO_SEND_CODECS = (VP8, VP9, H264, AV1)


def rtx_for(codec: Codec) -> Codec:
    return Codec(codec.pt + 1, "rtx", codec.clock_rate, None, f"apt={codec.pt}")


def build_subscriber_offer(
    tracks: Sequence[SendTrack],
    transport: TransportParams,
    *,
    data_channel: bool = True,
    data_channel_mid: str | None = None,
    data_channel_first: bool = False,
    max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
    session_id: int | None = None,
    version: int = 1,
) -> SessionDescription:
    """The SFU's offer for a subscriber PeerConnection: one sendonly m-line per track.

    ``data_channel_first`` puts the data channel m-line before the tracks (renegotiations must
    keep the m-line order of the first offer, which a session that starts with data only sets).

    Offers carry ``a=setup:actpass`` (pass ``transport.setup="actpass"``); browsers and
    libwebrtc answer ``active``, so the SFU is the DTLS server on this connection.
    """
    sdp = SessionDescription(lines=session_header(session_id, version))
    mids: list[str] = []

    def add_data_channel(mid: str) -> None:
        if mid in mids:
            raise ValueError(f"data channel mid {mid!r} collides with a track mid")
        sdp.media.append(data_channel_section(mid, transport, not mids, max_message_size))
        mids.append(mid)

    if data_channel and data_channel_first:
        add_data_channel(data_channel_mid if data_channel_mid is not None else "data")
    for index, track in enumerate(tracks):
        mid = track.mid if track.mid is not None else str(index)
        codecs = (
            list(track.codecs)
            if track.codecs is not None
            else list(DEFAULT_AUDIO_SEND_CODECS if track.kind == "audio" else DEFAULT_VIDEO_SEND_CODECS)
        )
        if track.kind == "video" and track.codecs is None:
            codecs = [c for primary in codecs for c in (primary, rtx_for(primary))]
        media = MediaSection(track.kind, 9, "UDP/TLS/RTP/SAVPF", [str(c.pt) for c in codecs])
        media.lines.append(Line("c", "IN IP4 0.0.0.0"))
        media.lines.append(Line("a", "rtcp:9 IN IP4 0.0.0.0"))
        add_transport(media, transport, not mids)
        media.add_attribute("mid", mid)
        for ext in SUBSCRIBER_EXTMAPS.get(track.kind, ()):
            media.add_attribute("extmap", ext.value())
        media.add_attribute("sendonly" if track.active else "inactive")
        if track.active:  # an inactive (reusable) m-line carries no stream
            media.add_attribute("msid", track.msid)
        media.add_attribute("rtcp-mux")
        media.add_attribute("rtcp-rsize")
        add_codecs(media, codecs, ACCEPTED_FEEDBACK.get(track.kind, frozenset()))
        if track.active:
            media.lines.extend(ssrc_lines(track, codecs))
        sdp.media.append(media)
        mids.append(mid)
    if data_channel and not data_channel_first:
        add_data_channel(data_channel_mid if data_channel_mid is not None else str(len(tracks)))
    if len(set(mids)) != len(mids):
        raise ValueError("duplicate mids in subscriber offer")
    header = [Line("a", "group:BUNDLE " + " ".join(mids))] if mids else []
    header += [Line("a", "extmap-allow-mixed"), Line("a", "msid-semantic: WMS *")]
    if transport.ice_lite:
        header.append(Line("a", "ice-lite"))
    sdp.lines.extend(header)
    return sdp
