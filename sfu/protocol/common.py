"""Types shared by the sans-IO transport objects.

Drain rule: every input method (``handle_datagram``, ``handle_timeout`` and API calls that
change state) returns an :class:`Output`. The caller must act on all of it before the next
input to the same object: send every transmit in order, dispatch every event in order, and
re-arm that object's single timer at ``deadline`` (replacing any earlier one; ``None`` means
no timer). Calling ``handle_timeout`` early or twice is harmless.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# a peer's address: (ip, port), or (ip, port, socket) when the path is an ICE-TCP connection
# (RFC 6544): the same peer address on another connection is another path
Addr = tuple[str, int] | tuple[str, int, int]


@dataclass(frozen=True, slots=True)
class Transmit:
    """A datagram to send.

    ``addr`` is the destination; ``None`` means "the transport's selected remote address"
    (DTLS and SCTP do not know addresses; ICE picks the path).
    """

    data: bytes
    addr: Addr | None = None


@dataclass(slots=True)
class Output:
    """What one input produced. ``deadline`` is absolute, in the caller's clock."""

    transmits: list[Transmit] = field(default_factory=list)
    events: list[Any] = field(default_factory=list)
    deadline: float | None = None

    def extend(self, other: Output) -> None:
        """Append ``other``'s transmits and events; take its deadline (the newer state)."""
        self.transmits.extend(other.transmits)
        self.events.extend(other.events)
        self.deadline = other.deadline


class ProtocolError(Exception):
    """Malformed or unacceptable network input, reported instead of raised where documented."""
