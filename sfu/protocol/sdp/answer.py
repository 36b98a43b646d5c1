"""The SFU's answer to a client's (publisher) offer (JSEP, Unified Plan, BUNDLE).

Answer policy:

* session: ``a=ice-lite``, ``a=group:BUNDLE`` of the accepted mids in offer order,
  ``a=extmap-allow-mixed`` if offered, ``a=msid-semantic: WMS *``;
* transport (every accepted section, like libwebrtc): ice-ufrag/pwd, fingerprint, setup;
  candidates and ``a=end-of-candidates`` in the first bundled section only;
* DTLS role: we answer ``a=setup:active`` (we are the DTLS client) to ``actpass``, as the LiveKit
  server does: the handshake then starts as soon as ICE has a nominated pair, saving the round
  trip in which a passive side waits for the ClientHello. ``passive`` is available as an option;
* direction: offered ``sendonly``/``sendrecv`` -> ``recvonly`` (``sendrecv`` if we also send a
  track on that mid), ``recvonly`` -> ``sendonly`` if we have a track for the mid, else
  ``inactive``; ``inactive`` stays ``inactive``;
* codecs: audio keeps opus (+ red whose fmtp refers to opus); video keeps VP8, H264, VP9, AV1
  (configurable) with their rtx; payload types and fmtp are preserved, and the offer order
  except that the codec the m-line's track asked for goes first (the offerer sends the first
  codec of the answer); rtcp-fb is
  limited to nack, nack pli, ccm fir, transport-cc and goog-remb;
* header extensions: only those LiveKit accepts, with the offer's ids;
* simulcast: ``a=rid`` send lines with rids q/h/f and ``a=simulcast:send`` become recv;
* data channel: ``m=application ... UDP/DTLS/SCTP webrtc-datachannel`` with ``a=sctp-port:5000`` and
  our ``a=max-message-size``; ``a=sctp-init`` (an SCTP-init-in-SDP extension) is not echoed;
* anything unusable (unknown kind or protocol, no common codec, port 0 in the offer) is
  rejected with port 0 and left out of BUNDLE.

Mids are opaque strings; nothing assumes they are numbers or start at 0.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from .extensions import ACCEPTED_EXTENSIONS
from .grammar import Line, SdpError
from .local import (ACCEPTED_FEEDBACK, DEFAULT_MAX_MESSAGE_SIZE, SCTP_PROTO, SendTrack, TransportParams, add_codecs,
                    add_transport, data_channel_section, session_header, ssrc_lines)
from .media import Codec, Extmap, MediaSection, SsrcInfo
from .session import SessionDescription

DEFAULT_VIDEO_CODECS = ("VP8", "H264", "VP9", "AV1")
DEFAULT_RIDS = ("q", "h", "f")
RTP_PROTOS = ("UDP/TLS/RTP/SAVPF", "UDP/TLS/RTP/SAVP", "RTP/SAVPF")


@dataclass
class MediaInfo:
    """What an accepted (or rejected) section of the offer means for the media layer."""

    mid: str
    kind: str
    accepted: bool
    direction: str = "inactive"  # our direction, as answered
    codecs: list[Codec] = field(default_factory=list)  # accepted, preference order
    extmaps: dict[str, int] = field(default_factory=dict)  # uri -> id, as negotiated
    ssrcs: SsrcInfo = field(default_factory=SsrcInfo)  # what the peer sends
    rids: list[str] = field(default_factory=list)  # simulcast rids we receive, in offer order
    paused_rids: list[str] = field(default_factory=list)
    msid: str | None = None  # the peer's a=msid
    reason: str = ""  # why rejected


@dataclass
class Answer:
    sdp: SessionDescription
    media: list[MediaInfo]

    def info(self, mid: str) -> MediaInfo | None:
        return next((m for m in self.media if m.mid == mid), None)



def select_audio_codecs(offered: Sequence[Codec], prefer_red: bool = False) -> list[Codec]:
    opus = next((c for c in offered if c.mime == "opus" and c.clock_rate == 48000), None)
    if opus is None:
        return []
    chosen = [opus]
    for codec in offered:
        if codec.mime == "red" and codec.clock_rate == 48000:
            primaries = (codec.fmtp or "").split("/")
            if primaries and all(p.strip() == str(opus.pt) for p in primaries):
                chosen.insert(0 if prefer_red else 1, codec)
                break
    return chosen


def select_video_codecs(
    offered: Sequence[Codec], enabled: Sequence[str] = DEFAULT_VIDEO_CODECS, preferred: str | None = None
) -> list[Codec]:
    enabled_lower = {name.lower() for name in enabled}
    primaries = [c for c in offered if c.mime in enabled_lower and c.clock_rate == 90000]
    if preferred:
        primaries.sort(key=lambda c: c.mime != preferred.lower())  # stable: keeps offer order otherwise
    chosen: list[Codec] = []
    for primary in primaries:
        chosen.append(primary)
        rtx = next((c for c in offered if c.mime == "rtx" and c.apt == primary.pt), None)
        if rtx is not None:
            chosen.append(rtx)
    return chosen


def _answer_direction(offered: str, sending: bool) -> str:
    if offered == "inactive":
        return "inactive"
    receiving = offered in ("sendrecv", "sendonly")
    peer_receives = offered in ("sendrecv", "recvonly")
    if receiving and sending and peer_receives:
        return "sendrecv"
    if receiving:
        return "recvonly"
    if sending and peer_receives:
        return "sendonly"
    return "inactive"


def _rejected_copy(offer_media: MediaSection) -> MediaSection:
    media = MediaSection(offer_media.kind, 0, offer_media.proto, list(offer_media.formats) or ["0"])
    if offer_media.mid is not None:
        media.add_attribute("mid", offer_media.mid)
    return media


def build_answer(
    offer: SessionDescription,
    transport: TransportParams,
    *,
    send_tracks: Mapping[str, SendTrack] | None = None,
    video_codecs: Sequence[str] = DEFAULT_VIDEO_CODECS,
    preferred_video_codec: str | None = None,
    preferred_video_codecs: Mapping[str, str] | None = None,
    prefer_red: bool = False,
    prefer_red_mids: Collection[str] = (),
    accepted_rids: Iterable[str] = DEFAULT_RIDS,
    max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
    session_id: int | None = None,
) -> Answer:
    """The SFU's answer to a client (publisher) offer. See the module docstring for the rules.

    ``send_tracks`` maps a mid to the track we send on it (single-PC mode: the client offered
    recvonly lines for us).  ``preferred_video_codecs`` maps a mid to the codec its track asked
    for (it goes first there, the rest in offer order), else ``preferred_video_codec``.
    ``prefer_red_mids``: audio m-lines where red goes before Opus (the client then sends RED).
    Raises :class:`SdpError` if the offer has no usable section.
    """
    send_tracks = send_tracks or {}
    rid_set = set(accepted_rids)
    answer = SessionDescription(lines=session_header(session_id, 2))
    infos: list[MediaInfo] = []
    bundle_offered = set(offer.bundle_mids())
    first_accepted = True

    for index, offered in enumerate(offer.media):
        mid = offered.mid if offered.mid is not None else str(index)
        info = MediaInfo(mid=mid, kind=offered.kind, accepted=False)
        infos.append(info)
        if offered.port == 0 and not offered.has_attribute("bundle-only"):
            info.reason = "rejected by the offerer"
            answer.media.append(_rejected_copy(offered))
            continue
        if bundle_offered and mid not in bundle_offered:
            info.reason = "not in the offered BUNDLE group"
            answer.media.append(_rejected_copy(offered))
            continue

        if offered.kind == "application":
            if offered.proto != SCTP_PROTO or "webrtc-datachannel" not in offered.formats:
                info.reason = f"unsupported data channel transport {offered.proto}"
                answer.media.append(_rejected_copy(offered))
                continue
            media = data_channel_section(mid, transport, first_accepted, max_message_size)
            info.accepted, info.direction = True, "sendrecv"
        elif offered.kind in ("audio", "video") and offered.proto in RTP_PROTOS:
            offered_codecs = offered.codecs()
            if offered.kind == "audio":
                codecs = select_audio_codecs(offered_codecs, prefer_red or mid in prefer_red_mids)
            else:
                preferred = (preferred_video_codecs or {}).get(mid, preferred_video_codec)
                codecs = select_video_codecs(offered_codecs, video_codecs, preferred)
            if not codecs:
                info.reason = "no supported codec offered"
                answer.media.append(_rejected_copy(offered))
                continue
            track = send_tracks.get(mid)
            direction = _answer_direction(offered.direction, track is not None and track.active)
            media = MediaSection(offered.kind, 9, offered.proto, [str(c.pt) for c in codecs])
            media.lines.append(Line("c", "IN IP4 0.0.0.0"))
            media.lines.append(Line("a", "rtcp:9 IN IP4 0.0.0.0"))
            add_transport(media, transport, first_accepted)
            media.add_attribute("mid", mid)
            allowed_ext = ACCEPTED_EXTENSIONS[offered.kind]
            for ext in offered.extmaps():
                if ext.uri in allowed_ext:
                    media.add_attribute("extmap", Extmap(ext.id, ext.uri).value())
                    info.extmaps[ext.uri] = ext.id
            media.add_attribute(direction)
            if direction in ("sendonly", "sendrecv") and track is not None:
                media.add_attribute("msid", track.msid)
            media.add_attribute("rtcp-mux")
            if offered.has_attribute("rtcp-rsize"):
                media.add_attribute("rtcp-rsize")
            add_codecs(media, codecs, ACCEPTED_FEEDBACK[offered.kind])
            if direction in ("recvonly", "sendrecv"):
                rids = [r for r in offered.rids() if r.direction == "send" and r.id in rid_set]
                simulcast = offered.simulcast()
                if rids and simulcast is not None and simulcast.direction == "send":
                    wanted = {r.id for r in rids}
                    layers = [(rid, paused) for rid, paused in simulcast.layers if rid in wanted]
                    for rid, _ in layers:
                        media.add_attribute("rid", f"{rid} recv")
                    if layers:
                        media.add_attribute("simulcast", "recv " + ";".join(("~" if p else "") + r for r, p in layers))
                    info.rids = [rid for rid, _ in layers]
                    info.paused_rids = [rid for rid, paused in layers if paused]
                info.ssrcs = offered.ssrcs()
                info.msid = offered.attribute("msid")
            if direction in ("sendonly", "sendrecv") and track is not None:
                media.lines.extend(ssrc_lines(track, codecs))
            info.accepted, info.direction, info.codecs = True, direction, codecs
        else:
            info.reason = f"unsupported media {offered.kind} {offered.proto}"
            answer.media.append(_rejected_copy(offered))
            continue
        answer.media.append(media)
        first_accepted = False

    accepted = [i.mid for i in infos if i.accepted]
    if not accepted:
        raise SdpError("offer has no usable media section")
    header: list[Line] = [Line("a", "group:BUNDLE " + " ".join(accepted))]
    if offer.has_attribute("extmap-allow-mixed"):
        header.append(Line("a", "extmap-allow-mixed"))
    header.append(Line("a", "msid-semantic: WMS *"))
    if transport.ice_lite:
        header.append(Line("a", "ice-lite"))
    answer.lines.extend(header)
    return Answer(answer, infos)

