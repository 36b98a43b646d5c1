"""SDP parse/serialize and the SFU's offers and answers (JSEP, Unified Plan, BUNDLE).

Parsing keeps every line and its order, so ``SessionDescription.parse(text).serialize()``
gives the text back (with CRLF line ends). Helpers read codecs, header extensions, SSRCs,
RIDs and simulcast from a media section without losing anything else.

Answer policy for a publisher offer (the client's PeerConnection that sends media):

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
  (configurable) with their rtx; payload types, fmtp and offer order are preserved; rtcp-fb is
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

import dataclasses
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from .common import ProtocolError

CRLF = "\r\n"

EXT_MID = "urn:ietf:params:rtp-hdrext:sdes:mid"
EXT_RID = "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id"
EXT_REPAIRED_RID = "urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id"
EXT_AUDIO_LEVEL = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"
EXT_TWCC = "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01"
EXT_ABS_SEND_TIME = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"
EXT_DEPENDENCY_DESCRIPTOR = "https://aomediacodec.github.io/av1-rtp-spec/#dependency-descriptor-rtp-header-extension"

ACCEPTED_EXTENSIONS = {
    "audio": frozenset({EXT_MID, EXT_RID, EXT_AUDIO_LEVEL, EXT_TWCC, EXT_ABS_SEND_TIME}),
    "video": frozenset({EXT_MID, EXT_RID, EXT_REPAIRED_RID, EXT_TWCC, EXT_ABS_SEND_TIME, EXT_DEPENDENCY_DESCRIPTOR}),
}
ACCEPTED_FEEDBACK = {
    "audio": frozenset({"nack", "transport-cc"}),
    "video": frozenset({"nack", "nack pli", "ccm fir", "transport-cc", "goog-remb"}),
}
DEFAULT_VIDEO_CODECS = ("VP8", "H264", "VP9", "AV1")
DEFAULT_RIDS = ("q", "h", "f")
DEFAULT_MAX_MESSAGE_SIZE = 65536
DEFAULT_SCTP_PORT = 5000
RTP_PROTOS = ("UDP/TLS/RTP/SAVPF", "UDP/TLS/RTP/SAVP", "RTP/SAVPF")
SCTP_PROTO = "UDP/DTLS/SCTP"
DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")


class SdpError(ProtocolError):
    pass


# ---------------------------------------------------------------------- parse / serialize


@dataclass
class Line:
    """One SDP line: ``type`` is the letter before ``=``; ``value`` is everything after it."""

    type: str
    value: str

    def __str__(self) -> str:
        return f"{self.type}={self.value}"


class _Section:
    lines: list[Line]

    # attribute access: a=name:value or a=name (flag, value "")

    def attributes(self, name: str) -> list[str]:
        prefix = name + ":"
        found = []
        for line in self.lines:
            if line.type != "a":
                continue
            if line.value == name:
                found.append("")
            elif line.value.startswith(prefix):
                found.append(line.value[len(prefix) :])
        return found

    def attribute(self, name: str) -> str | None:
        values = self.attributes(name)
        return values[0] if values else None

    def has_attribute(self, name: str) -> bool:
        return self.attribute(name) is not None

    def add_attribute(self, name: str, value: str | None = None) -> None:
        self.lines.append(Line("a", name if value is None else f"{name}:{value}"))

    def remove_attributes(self, name: str) -> None:
        prefix = name + ":"
        self.lines = [
            line
            for line in self.lines
            if not (line.type == "a" and (line.value == name or line.value.startswith(prefix)))
        ]


@dataclass
class MediaSection(_Section):
    kind: str
    port: int
    proto: str
    formats: list[str]
    lines: list[Line] = field(default_factory=list)  # after the m= line, in order

    @property
    def mid(self) -> str | None:
        return self.attribute("mid")

    @property
    def direction(self) -> str:
        for line in self.lines:
            if line.type == "a" and line.value in DIRECTIONS:
                return line.value
        return "sendrecv"  # RFC 4566 default

    @property
    def rejected(self) -> bool:
        return self.port == 0 and not self.has_attribute("bundle-only")

    def m_line(self) -> str:
        return f"m={self.kind} {self.port} {self.proto} {' '.join(self.formats)}"

    def codecs(self) -> list[Codec]:
        return parse_codecs(self)

    def extmaps(self) -> list[Extmap]:
        return parse_extmaps(self)

    def ssrcs(self) -> SsrcInfo:
        return parse_ssrcs(self)

    def rids(self) -> list[Rid]:
        return parse_rids(self)

    def simulcast(self) -> Simulcast | None:
        return parse_simulcast(self)


@dataclass
class SessionDescription(_Section):
    lines: list[Line] = field(default_factory=list)  # session level, v= first
    media: list[MediaSection] = field(default_factory=list)

    @classmethod
    def parse(cls, text: str) -> SessionDescription:
        session = cls()
        current: _Section = session
        for number, raw in enumerate(text.replace("\r\n", "\n").split("\n"), start=1):
            raw = raw.rstrip("\r")
            if not raw.strip():
                continue
            if len(raw) < 2 or raw[1] != "=" or not raw[0].isalpha():
                raise SdpError(f"line {number}: not an SDP line: {raw[:60]!r}")
            kind, value = raw[0], raw[2:]
            if kind == "m":
                parts = value.split()
                if len(parts) < 3:
                    raise SdpError(f"line {number}: malformed m= line: {raw[:60]!r}")
                try:
                    port = int(parts[1].split("/")[0])
                except ValueError:
                    raise SdpError(f"line {number}: bad port in m= line: {raw[:60]!r}") from None
                media = MediaSection(kind=parts[0], port=port, proto=parts[2], formats=parts[3:])
                session.media.append(media)
                current = media
            else:
                current.lines.append(Line(kind, value))
        if not session.lines or session.lines[0].type != "v":
            raise SdpError("SDP does not start with v=")
        return session

    def serialize(self) -> str:
        out = [str(line) for line in self.lines]
        for media in self.media:
            out.append(media.m_line())
            out.extend(str(line) for line in media.lines)
        return CRLF.join(out) + CRLF

    __str__ = serialize

    def bundle_mids(self) -> list[str]:
        for group in self.attributes("group"):
            parts = group.split()
            if parts and parts[0] == "BUNDLE":
                return parts[1:]
        return []

    def media_by_mid(self, mid: str) -> MediaSection | None:
        for media in self.media:
            if media.mid == mid:
                return media
        return None

    def transport_attribute(self, name: str) -> str | None:
        """ice-ufrag/ice-pwd/fingerprint/setup: media level first (JSEP), then session level."""
        for media in self.media:
            if not media.rejected:
                value = media.attribute(name)
                if value is not None:
                    return value
        return self.attribute(name)

    def fingerprints(self) -> list[str]:
        for media in self.media:
            if not media.rejected and media.attributes("fingerprint"):
                return media.attributes("fingerprint")
        return self.attributes("fingerprint")


# ---------------------------------------------------------------------- media details


@dataclass
class Codec:
    pt: int
    name: str
    clock_rate: int
    channels: int | None = None
    fmtp: str | None = None
    feedback: list[str] = field(default_factory=list)

    @property
    def mime(self) -> str:
        return self.name.lower()

    @property
    def apt(self) -> int | None:
        """For rtx (and red in audio, its first listed payload type): the associated payload type."""
        params = fmtp_params(self.fmtp)
        if "apt" in params:
            try:
                return int(params["apt"])
            except ValueError:
                return None
        return None

    def rtpmap(self) -> str:
        value = f"{self.pt} {self.name}/{self.clock_rate}"
        if self.channels:
            value += f"/{self.channels}"
        return value


def fmtp_params(fmtp: str | None) -> dict[str, str]:
    params: dict[str, str] = {}
    if not fmtp:
        return params
    for item in fmtp.split(";"):
        key, sep, value = item.strip().partition("=")
        if key:
            params[key.strip()] = value.strip() if sep else ""
    return params


def parse_codecs(media: MediaSection) -> list[Codec]:
    """Codecs in m= line order. Static payload types without rtpmap get their RFC 3551 names."""
    static = {0: ("PCMU", 8000, 1), 8: ("PCMA", 8000, 1), 9: ("G722", 8000, 1)}
    by_pt: dict[int, Codec] = {}
    for value in media.attributes("rtpmap"):
        pt_text, _, encoding = value.partition(" ")
        parts = encoding.strip().split("/")
        try:
            pt = int(pt_text)
            clock = int(parts[1])
            channels = int(parts[2]) if len(parts) > 2 and parts[2] else None
        except (ValueError, IndexError):
            continue  # malformed rtpmap: the codec is unusable, not the whole SDP
        by_pt[pt] = Codec(pt, parts[0], clock, channels)
    for value in media.attributes("fmtp"):
        pt_text, _, params = value.partition(" ")
        if pt_text.isdigit() and int(pt_text) in by_pt:
            by_pt[int(pt_text)].fmtp = params.strip()
    for value in media.attributes("rtcp-fb"):
        pt_text, _, fb = value.partition(" ")
        fb = " ".join(fb.split())
        if pt_text == "*":
            for codec in by_pt.values():
                codec.feedback.append(fb)
        elif pt_text.isdigit() and int(pt_text) in by_pt:
            by_pt[int(pt_text)].feedback.append(fb)
    codecs = []
    for fmt in media.formats:
        if not fmt.isdigit():
            continue
        pt = int(fmt)
        if pt in by_pt:
            codecs.append(by_pt[pt])
        elif pt in static:
            name, clock, channels = static[pt]
            codecs.append(Codec(pt, name, clock, channels))
    return codecs


@dataclass(frozen=True)
class Extmap:
    id: int
    uri: str
    direction: str | None = None
    attributes: str | None = None

    def value(self) -> str:
        head = f"{self.id}/{self.direction}" if self.direction else str(self.id)
        return f"{head} {self.uri}" + (f" {self.attributes}" if self.attributes else "")


def parse_extmaps(media: MediaSection) -> list[Extmap]:
    found = []
    for value in media.attributes("extmap"):
        parts = value.split(None, 2)
        if len(parts) < 2:
            continue
        ident, _, direction = parts[0].partition("/")
        if not ident.isdigit():
            continue
        found.append(Extmap(int(ident), parts[1], direction or None, parts[2] if len(parts) > 2 else None))
    return found


@dataclass
class SsrcInfo:
    ssrcs: list[int] = field(default_factory=list)  # in order of first appearance
    attributes: dict[int, dict[str, str]] = field(default_factory=dict)  # ssrc -> {cname, msid, ...}
    rtx: dict[int, int] = field(default_factory=dict)  # media ssrc -> rtx ssrc (ssrc-group FID)
    sim: list[list[int]] = field(default_factory=list)  # ssrc-group SIM (legacy simulcast)

    @property
    def media_ssrcs(self) -> list[int]:
        """SSRCs that carry media (not the rtx half of a FID group)."""
        rtx = set(self.rtx.values())
        return [s for s in self.ssrcs if s not in rtx]


def parse_ssrcs(media: MediaSection) -> SsrcInfo:
    info = SsrcInfo()
    for value in media.attributes("ssrc"):
        ssrc_text, _, attr = value.partition(" ")
        if not ssrc_text.isdigit():
            continue
        ssrc = int(ssrc_text)
        if ssrc > 0xFFFFFFFF:
            continue
        if ssrc not in info.attributes:
            info.ssrcs.append(ssrc)
            info.attributes[ssrc] = {}
        name, _, attr_value = attr.strip().partition(":")
        if name:
            info.attributes[ssrc][name] = attr_value
    for value in media.attributes("ssrc-group"):
        parts = value.split()
        if not parts or not all(p.isdigit() for p in parts[1:]):
            continue
        ssrcs = [int(p) for p in parts[1:]]
        if parts[0] == "FID" and len(ssrcs) == 2:
            info.rtx[ssrcs[0]] = ssrcs[1]
        elif parts[0] == "SIM" and ssrcs:
            info.sim.append(ssrcs)
    return info


@dataclass(frozen=True)
class Rid:
    id: str
    direction: str  # "send" or "recv"
    params: str = ""


def parse_rids(media: MediaSection) -> list[Rid]:
    found = []
    for value in media.attributes("rid"):
        parts = value.split(None, 2)
        if len(parts) >= 2 and parts[1] in ("send", "recv"):
            found.append(Rid(parts[0], parts[1], parts[2] if len(parts) > 2 else ""))
    return found


@dataclass(frozen=True)
class Simulcast:
    direction: str  # "send" or "recv"
    layers: tuple[tuple[str, bool], ...]  # (rid, paused) in order; only the first alternative is kept


def parse_simulcast(media: MediaSection) -> Simulcast | None:
    value = media.attribute("simulcast")
    if not value:
        return None
    parts = value.split()
    if len(parts) < 2 or parts[0] not in ("send", "recv"):
        return None
    layers = []
    for stream in parts[1].split(";"):
        first = stream.split(",")[0].strip()
        if not first:
            continue
        paused = first.startswith("~")
        layers.append((first.lstrip("~"), paused))
    return Simulcast(parts[0], tuple(layers))


# ---------------------------------------------------------------------- answers and offers


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


def _session_header(session_id: int | None, version: int) -> list[Line]:
    sid = session_id if session_id is not None else secrets.randbits(62)
    return [
        Line("v", "0"),
        Line("o", f"- {sid} {version} IN IP4 127.0.0.1"),
        Line("s", "-"),
        Line("t", "0 0"),
    ]


def _add_transport(media: MediaSection, transport: TransportParams, with_candidates: bool) -> None:
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


def _add_codecs(media: MediaSection, codecs: Sequence[Codec], allowed_feedback: frozenset[str]) -> None:
    for codec in codecs:
        media.add_attribute("rtpmap", codec.rtpmap())
        for fb in codec.feedback:
            if fb in allowed_feedback:
                media.add_attribute("rtcp-fb", f"{codec.pt} {fb}")
        if codec.fmtp:
            media.add_attribute("fmtp", f"{codec.pt} {codec.fmtp}")


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
    prefer_red: bool = False,
    accepted_rids: Iterable[str] = DEFAULT_RIDS,
    max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
    session_id: int | None = None,
) -> Answer:
    """The SFU's answer to a client (publisher) offer. See the module docstring for the rules.

    ``send_tracks`` maps a mid to the track we send on it (single-PC mode: the client offered
    recvonly lines for us). Raises :class:`SdpError` if the offer has no usable section.
    """
    send_tracks = send_tracks or {}
    rid_set = set(accepted_rids)
    answer = SessionDescription(lines=_session_header(session_id, 2))
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
            media = MediaSection("application", 9, SCTP_PROTO, ["webrtc-datachannel"])
            media.lines.append(Line("c", "IN IP4 0.0.0.0"))
            _add_transport(media, transport, first_accepted)
            media.add_attribute("mid", mid)
            media.add_attribute("sctp-port", str(DEFAULT_SCTP_PORT))
            media.add_attribute("max-message-size", str(max_message_size))
            info.accepted, info.direction = True, "sendrecv"
        elif offered.kind in ("audio", "video") and offered.proto in RTP_PROTOS:
            offered_codecs = offered.codecs()
            if offered.kind == "audio":
                codecs = select_audio_codecs(offered_codecs, prefer_red)
            else:
                codecs = select_video_codecs(offered_codecs, video_codecs, preferred_video_codec)
            if not codecs:
                info.reason = "no supported codec offered"
                answer.media.append(_rejected_copy(offered))
                continue
            track = send_tracks.get(mid)
            direction = _answer_direction(offered.direction, track is not None and track.active)
            media = MediaSection(offered.kind, 9, offered.proto, [str(c.pt) for c in codecs])
            media.lines.append(Line("c", "IN IP4 0.0.0.0"))
            media.lines.append(Line("a", "rtcp:9 IN IP4 0.0.0.0"))
            _add_transport(media, transport, first_accepted)
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
            _add_codecs(media, codecs, ACCEPTED_FEEDBACK[offered.kind])
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
                if not any(c.mime == "rtx" for c in codecs):
                    track = dataclasses.replace(track, rtx_ssrc=None)
                media.lines.extend(_ssrc_lines(track))
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


def _ssrc_lines(track: SendTrack) -> list[Line]:
    lines = []
    if track.rtx_ssrc is not None:
        lines.append(Line("a", f"ssrc-group:FID {track.ssrc} {track.rtx_ssrc}"))
    for ssrc in (track.ssrc, track.rtx_ssrc):
        if ssrc is not None:
            lines.append(Line("a", f"ssrc:{ssrc} cname:{track.cname}"))
            lines.append(Line("a", f"ssrc:{ssrc} msid:{track.msid}"))
    return lines


# ---------------------------------------------------------------------- subscriber offer

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

SUBSCRIBER_EXTMAPS = {
    "audio": (Extmap(1, EXT_MID), Extmap(4, EXT_AUDIO_LEVEL)),
    "video": (
        Extmap(1, EXT_MID),
        Extmap(2, EXT_ABS_SEND_TIME),
        Extmap(3, EXT_TWCC),
        Extmap(5, EXT_DEPENDENCY_DESCRIPTOR),
    ),
}


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
    sdp = SessionDescription(lines=_session_header(session_id, version))
    mids: list[str] = []

    def add_data_channel(mid: str) -> None:
        if mid in mids:
            raise ValueError(f"data channel mid {mid!r} collides with a track mid")
        media = MediaSection("application", 9, SCTP_PROTO, ["webrtc-datachannel"])
        media.lines.append(Line("c", "IN IP4 0.0.0.0"))
        _add_transport(media, transport, not mids)
        media.add_attribute("mid", mid)
        media.add_attribute("sctp-port", str(DEFAULT_SCTP_PORT))
        media.add_attribute("max-message-size", str(max_message_size))
        sdp.media.append(media)
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
        _add_transport(media, transport, not mids)
        media.add_attribute("mid", mid)
        for ext in SUBSCRIBER_EXTMAPS.get(track.kind, ()):
            media.add_attribute("extmap", ext.value())
        media.add_attribute("sendonly" if track.active else "inactive")
        if track.active:  # an inactive (reusable) m-line carries no stream
            media.add_attribute("msid", track.msid)
        media.add_attribute("rtcp-mux")
        media.add_attribute("rtcp-rsize")
        _add_codecs(media, codecs, ACCEPTED_FEEDBACK.get(track.kind, frozenset()))
        if track.active:
            if not any(c.mime == "rtx" for c in codecs):
                track = dataclasses.replace(track, rtx_ssrc=None)
            media.lines.extend(_ssrc_lines(track))
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
