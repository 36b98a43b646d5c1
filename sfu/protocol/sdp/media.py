"""Media descriptions (the m= sections) and what their attributes say: codecs (rtpmap, fmtp,
rtcp-fb), header extensions (extmap), SSRCs and their groups, RIDs and simulcast.

The readers never fail on a malformed attribute: an unusable line is skipped, not the SDP.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .grammar import Line, Section

DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")


@dataclass
class MediaSection(Section):
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

