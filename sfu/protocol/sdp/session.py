"""A session description: its session-level lines and media sections, parsed from text and
serialized back.  ``SessionDescription.parse(text).serialize()`` gives the text back (with
CRLF line ends).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .grammar import CRLF, Line, SdpError, Section, parse_m_line, split_lines
from .media import MediaSection

# Bounds on what is parsed at all: a description is parsed on the control plane's one event
# loop, so its cost must stay small for every other room.  A single-PC client offers one m-line
# per track it sends or receives; 500 is far above any real room's need.
MAX_SDP_BYTES = 512 * 1024
MAX_MEDIA_SECTIONS = 500


@dataclass
class SessionDescription(Section):
    lines: list[Line] = field(default_factory=list)  # session level, v= first
    media: list[MediaSection] = field(default_factory=list)

    @classmethod
    def parse(cls, text: str) -> SessionDescription:
        if len(text) > MAX_SDP_BYTES:
            raise SdpError(f"SDP too large: {len(text)} bytes (at most {MAX_SDP_BYTES})")
        if text.count("m=") > MAX_MEDIA_SECTIONS and \
                sum(1 for ln in text.splitlines() if ln.startswith("m=")) > MAX_MEDIA_SECTIONS:
            raise SdpError(f"SDP has too many media sections (at most {MAX_MEDIA_SECTIONS})")
        session = cls()
        current: Section = session
        for number, line in split_lines(text):
            if line.type == "m":
                kind, port, proto, formats = parse_m_line(number, line.value)
                media = MediaSection(kind=kind, port=port, proto=proto, formats=formats)
                session.media.append(media)
                current = media
            else:
                current.lines.append(line)
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

