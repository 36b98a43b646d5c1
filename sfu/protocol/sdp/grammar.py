"""SDP lines (RFC 8866 section 5): ``<type>=<value>``, attribute access, and the m= line.

Parsing keeps every line and its order; nothing here interprets an attribute's value.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from ..common import ProtocolError

CRLF = "\r\n"


class SdpError(ProtocolError):
    pass


@dataclass
class Line:
    """One SDP line: ``type`` is the letter before ``=``; ``value`` is everything after it."""

    type: str
    value: str

    def __str__(self) -> str:
        return f"{self.type}={self.value}"


class Section:
    """The lines of the session level or of one media section, with attribute access:
    ``a=name:value`` or ``a=name`` (a flag, value "")."""

    lines: list[Line]

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


def split_lines(text: str) -> Iterator[tuple[int, Line]]:
    """The non-empty lines of ``text`` (CRLF or LF) with their 1-based numbers."""
    for number, raw in enumerate(text.replace("\r\n", "\n").split("\n"), start=1):
        raw = raw.rstrip("\r")
        if not raw.strip():
            continue
        if len(raw) < 2 or raw[1] != "=" or not raw[0].isalpha():
            raise SdpError(f"line {number}: not an SDP line: {raw[:60]!r}")
        yield number, Line(raw[0], raw[2:])


def parse_m_line(number: int, value: str) -> tuple[str, int, str, list[str]]:
    """``m=<media> <port>[/<count>] <proto> <fmt> ...`` -> (media, port, proto, formats)"""
    raw = f"m={value}"
    parts = value.split()
    if len(parts) < 3:
        raise SdpError(f"line {number}: malformed m= line: {raw[:60]!r}")
    try:
        port = int(parts[1].split("/")[0])
    except ValueError:
        raise SdpError(f"line {number}: bad port in m= line: {raw[:60]!r}") from None
    return parts[0], port, parts[2], parts[3:]
