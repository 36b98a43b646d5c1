"""Server-side ICE-lite agent (RFC 8445 section 2.5 lite, RFC 7675 consent), sans-IO.

The agent never sends requests. It answers the peer's Binding requests, learns candidate pairs
from the source addresses of valid requests, follows the controlling peer's nomination
(USE-CANDIDATE) and watches consent: the peer keeps sending checks on the selected pair, and
if none arrives for ``consent_timeout`` seconds the agent fails.

STUN encoding and the integrity/fingerprint arithmetic come from ``aioice.stun``; this module
adds the strict framing checks that codec leaves out and the ICE rules on top.

Inputs: ``handle_datagram(now, data, addr)`` for every STUN datagram that belongs to this
session, ``handle_timeout(now)`` at the deadline. Each returns an :class:`Output` (see
``common.py`` for the drain rule). Nothing from the network raises: malformed datagrams are
dropped and counted in ``stats``.

Nomination rule: the most recent valid request carrying USE-CANDIDATE selects its source
address. libwebrtc nominates once per path and nominates again after a network change (for
example Wi-Fi to cellular), possibly on a lower-priority pair, so "latest wins" is what the
peer means; a priority-based rule would keep a dead path.
"""

from __future__ import annotations

import enum
import secrets
import struct
from dataclasses import dataclass, field

from aioice import stun

from .common import Addr, Output, ProtocolError, Transmit
from .ice_candidates import (HOST_TYPE_PREFERENCE, ICE_CHARS, PWD_LENGTH, UFRAG_LENGTH,  # noqa: F401 (re-exported)
                             candidate_foundation, candidate_priority, generate_pwd, generate_ufrag,
                             host_candidates, tcp_host_candidates)
from .stun_frame import (ATTR_FINGERPRINT, ATTR_MESSAGE_INTEGRITY, ATTR_USERNAME, BINDING_REQUEST,  # noqa: F401
                         STUN_COOKIE, STUN_HEADER, StunError, _walk_attributes, extract_local_ufrag)


DEFAULT_CONSENT_TIMEOUT = 30.0  # RFC 7675 section 5.1
DEFAULT_DISCONNECTED_TIMEOUT = 10.0  # no check for this long: report "disconnected"
DEFAULT_CONNECT_TIMEOUT = 30.0  # no nomination this long after creation: fail
MAX_PAIRS = 32  # only authenticated peers create pairs; bound them anyway


def parse_stun(data: bytes) -> stun.Message:
    """Parse and frame-check a STUN message; FINGERPRINT, if present, is verified.

    Raises :class:`StunError` (and nothing else) for any malformed input.
    MESSAGE-INTEGRITY is checked separately with ``Message.check_message_integrity(key)``.
    """
    _walk_attributes(data)
    try:
        return stun.parse_message(data)
    except (ValueError, struct.error, IndexError) as exc:  # aioice reports bad values this way
        raise StunError(f"malformed STUN message: {exc}") from None


class IceState(enum.Enum):
    NEW = "new"  # no valid check yet
    CHECKING = "checking"  # valid checks, nothing nominated
    CONNECTED = "connected"  # a pair is selected and consent is fresh
    DISCONNECTED = "disconnected"  # selected pair silent for disconnected_timeout (recoverable)
    FAILED = "failed"  # consent expired or never connected (terminal)
    CLOSED = "closed"  # closed locally (terminal)


@dataclass(frozen=True, slots=True)
class IceStateChanged:
    state: IceState
    reason: str = ""


@dataclass(frozen=True, slots=True)
class SelectedAddressChanged:
    """Media and DTLS must now go to ``addr`` (the nominated remote address)."""

    addr: Addr


@dataclass(slots=True)
class CandidatePair:
    """A remote address that sent at least one valid check (host, srflx or peer-reflexive alike)."""

    remote: Addr
    priority: int
    first_valid: float
    last_valid: float
    nominated: bool = False


# why a check was refused or dropped: a fixed set, so counters keyed by it stay bounded whatever
# a peer sends (a reason never carries the packet's content)
ERROR_REASONS = ("malformed", "missing_fingerprint", "missing_credentials", "unknown_local_ufrag",
                 "remote_ufrag_mismatch", "bad_integrity", "role_conflict")


@dataclass(slots=True)
class IceStats:
    requests_ok: int = 0
    malformed: int = 0  # failed framing/fingerprint: dropped silently
    ignored: int = 0  # well-formed but not a Binding request (indications, responses)
    bad_request: int = 0  # answered 400
    unauthorized: int = 0  # answered 401
    role_conflict: int = 0  # answered 487
    errors_by_reason: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ERROR_REASONS, 0))


class IceLiteAgent:
    """ICE-lite, always the controlled agent, one component (rtcp-mux, BUNDLE)."""

    def __init__(
        self,
        now: float,
        *,
        local_ufrag: str | None = None,
        local_pwd: str | None = None,
        remote_ufrag: str | None = None,
        remote_pwd: str | None = None,
        consent_timeout: float = DEFAULT_CONSENT_TIMEOUT,
        disconnected_timeout: float = DEFAULT_DISCONNECTED_TIMEOUT,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        tie_breaker: int | None = None,
    ) -> None:
        self.local_ufrag = local_ufrag or generate_ufrag()
        self.local_pwd = local_pwd or generate_pwd()
        if len(self.local_ufrag) < 4 or len(self.local_pwd) < 22:
            raise ValueError("local ICE credentials are too short (ufrag >= 4, pwd >= 22)")
        self.remote_ufrag = remote_ufrag
        self.remote_pwd = remote_pwd
        self.consent_timeout = consent_timeout
        self.disconnected_timeout = min(disconnected_timeout, consent_timeout)
        self.tie_breaker = tie_breaker if tie_breaker is not None else secrets.randbits(64)
        self.state = IceState.NEW
        self.pairs: dict[Addr, CandidatePair] = {}
        self.selected: Addr | None = None
        self.stats = IceStats()
        self._created = now
        self._connect_deadline = now + connect_timeout
        self._lost_selected_at = now       # the last check on a selected pair whose path closed

    # ------------------------------------------------------------------ public inputs

    def set_remote_credentials(self, ufrag: str | None, pwd: str | None) -> None:
        self.remote_ufrag = ufrag
        self.remote_pwd = pwd

    def restart(self, now: float, remote_ufrag: str | None, remote_pwd: str | None,
                local_ufrag: str | None = None, local_pwd: str | None = None) -> Output:
        """ICE restart: new local credentials, keep sending on the selected pair until renominated.

        The remote credentials may be unknown yet (we offered the restart): checks are then
        accepted whatever the remote ufrag, until set_remote_credentials() is called."""
        self.local_ufrag = local_ufrag or generate_ufrag()
        self.local_pwd = local_pwd or generate_pwd()
        if len(self.local_ufrag) < 4 or len(self.local_pwd) < 22:
            raise ValueError("local ICE credentials are too short (ufrag >= 4, pwd >= 22)")
        self.set_remote_credentials(remote_ufrag, remote_pwd)
        for pair in self.pairs.values():
            pair.nominated = False
        return Output(deadline=self._deadline())

    def close(self) -> Output:
        out = Output()
        self._set_state(IceState.CLOSED, "closed locally", out)
        return out

    def handle_datagram(self, now: float, data: bytes, addr: Addr) -> Output:
        out = Output()
        if self.state in (IceState.FAILED, IceState.CLOSED):
            self.stats.ignored += 1
            return out
        try:
            request = parse_stun(data)
        except StunError as exc:
            self._count("malformed")
            self.stats.malformed += 1
            out.deadline = self._deadline()
            return out
        if request.message_method != stun.Method.BINDING or request.message_class != stun.Class.REQUEST:
            self.stats.ignored += 1
            out.deadline = self._deadline()
            return out
        self._handle_binding_request(now, request, data, addr, out)
        out.deadline = self._deadline()
        return out

    def remove_pair(self, now: float, addr: Addr) -> Output:
        """The path to ``addr`` is gone (its ICE-TCP connection closed): no check can arrive on it
        again.  Losing the selected pair is a disconnection at once; the peer may nominate
        another pair, else consent runs out from the lost pair's last check."""
        out = Output()
        pair = self.pairs.pop(addr, None)
        if pair is not None and addr == self.selected:
            self.selected = None
            self._lost_selected_at = pair.last_valid
            if self.state == IceState.CONNECTED:
                self._set_state(IceState.DISCONNECTED, "selected path closed", out)
        out.deadline = self._deadline()
        return out

    def handle_timeout(self, now: float) -> Output:
        out = Output()
        if self.state in (IceState.NEW, IceState.CHECKING):
            if now >= self._connect_deadline:
                self._set_state(IceState.FAILED, "no nomination before the connect timeout", out)
        elif self.state == IceState.DISCONNECTED and self.selected is None:
            if now >= self._lost_selected_at + self.consent_timeout:
                self._set_state(IceState.FAILED, "consent expired", out)
        elif self.state in (IceState.CONNECTED, IceState.DISCONNECTED) and self.selected is not None:
            last = self.pairs[self.selected].last_valid
            if now >= last + self.consent_timeout:
                self._set_state(IceState.FAILED, "consent expired", out)
            elif now >= last + self.disconnected_timeout and self.state == IceState.CONNECTED:
                self._set_state(IceState.DISCONNECTED, "no connectivity check received", out)
        out.deadline = self._deadline()
        return out

    # ------------------------------------------------------------------ queries

    def has_consent(self, now: float, addr: Addr) -> bool:
        """True if ``addr`` sent a valid check less than ``consent_timeout`` ago."""
        if self.state in (IceState.FAILED, IceState.CLOSED):
            return False
        pair = self.pairs.get(addr)
        return pair is not None and now < pair.last_valid + self.consent_timeout

    # ------------------------------------------------------------------ internals

    def _handle_binding_request(self, now: float, request: stun.Message, data: bytes, addr: Addr, out: Output) -> None:
        attrs = request.attributes
        if "FINGERPRINT" not in attrs:
            self._reply_error(request, addr, 400, "Bad Request", "missing_fingerprint", out)
            return
        username = attrs.get("USERNAME")
        if username is None or "MESSAGE-INTEGRITY" not in attrs:
            self._reply_error(request, addr, 400, "Bad Request", "missing_credentials", out)
            return
        local, sep, remote = username.partition(":")
        if not sep or local != self.local_ufrag:
            self._reply_error(request, addr, 401, "Unauthorized", "unknown_local_ufrag", out)
            return
        if self.remote_ufrag is not None and remote != self.remote_ufrag:
            self._reply_error(request, addr, 401, "Unauthorized", "remote_ufrag_mismatch", out)
            return
        if not request.check_message_integrity(self.local_pwd.encode()):
            self._reply_error(request, addr, 401, "Unauthorized", "bad_integrity", out)
            return
        if "ICE-CONTROLLED" in attrs:
            # A lite agent must stay controlled (RFC 8445 section 6.1.1), so it always asks the
            # full peer to switch to controlling, whatever the tie-breakers say.
            self._reply_error(
                request, addr, 487, "Role Conflict", "role_conflict", out, authenticated=True
            )
            return

        self.stats.requests_ok += 1
        response = stun.Message(
            message_method=stun.Method.BINDING,
            message_class=stun.Class.RESPONSE,
            transaction_id=request.transaction_id,
        )
        response.attributes["XOR-MAPPED-ADDRESS"] = addr[:2]   # an ICE-TCP path's address names its connection too
        response.add_message_integrity(self.local_pwd.encode())
        out.transmits.append(Transmit(bytes(response), addr))

        pair = self.pairs.get(addr)
        if pair is None:
            self._evict_if_full()
            pair = CandidatePair(addr, int(attrs.get("PRIORITY", 0)), first_valid=now, last_valid=now)
            self.pairs[addr] = pair
        pair.last_valid = now
        if "PRIORITY" in attrs:
            pair.priority = int(attrs["PRIORITY"])
        if self.state == IceState.NEW:
            self._set_state(IceState.CHECKING, "", out)

        if "USE-CANDIDATE" in attrs:
            pair.nominated = True
            if self.selected != addr:
                self.selected = addr
                out.events.append(SelectedAddressChanged(addr))
        if addr == self.selected and self.state in (IceState.CHECKING, IceState.DISCONNECTED):
            self._set_state(IceState.CONNECTED, "", out)

    def _evict_if_full(self) -> None:
        if len(self.pairs) < MAX_PAIRS:
            return
        candidates = [p for p in self.pairs.values() if p.remote != self.selected]
        oldest = min(candidates, key=lambda p: p.last_valid)
        del self.pairs[oldest.remote]

    def _reply_error(
        self,
        request: stun.Message,
        addr: Addr,
        code: int,
        reason: str,
        detail: str,
        out: Output,
        authenticated: bool = False,
    ) -> None:
        if code == 400:
            self.stats.bad_request += 1
        elif code == 401:
            self.stats.unauthorized += 1
        elif code == 487:
            self.stats.role_conflict += 1
        self._count(detail)
        response = stun.Message(
            message_method=stun.Method.BINDING,
            message_class=stun.Class.ERROR,
            transaction_id=request.transaction_id,
        )
        response.attributes["ERROR-CODE"] = (code, reason)
        if authenticated:
            response.add_message_integrity(self.local_pwd.encode())
        else:
            # 400/401 carry no MESSAGE-INTEGRITY: the request's credentials were not usable.
            response.add_fingerprint()
        out.transmits.append(Transmit(bytes(response), addr))

    def _count(self, reason: str) -> None:
        assert reason in ERROR_REASONS, reason
        self.stats.errors_by_reason[reason] += 1

    def _set_state(self, state: IceState, reason: str, out: Output) -> None:
        if state != self.state:
            self.state = state
            out.events.append(IceStateChanged(state, reason))

    def _deadline(self) -> float | None:
        if self.state in (IceState.NEW, IceState.CHECKING):
            return self._connect_deadline
        if self.state in (IceState.CONNECTED, IceState.DISCONNECTED) and self.selected is not None:
            last = self.pairs[self.selected].last_valid
            if self.state == IceState.CONNECTED:
                return last + self.disconnected_timeout
            return last + self.consent_timeout
        if self.state == IceState.DISCONNECTED:
            return self._lost_selected_at + self.consent_timeout
        return None
