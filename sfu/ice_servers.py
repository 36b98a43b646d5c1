"""The ICE servers a client is handed in JoinResponse and ReconnectResponse (pure; takes `now`).

* `rtc.stun_servers`: "host:port" entries, each a `stun:` URL;
* `rtc.turn_servers`: {host, port, protocol udp|tcp|tls, username, credential}, each a `turn:`
  URL (`?transport=udp|tcp`) or, for tls, a `turns:` URL (`?transport=tcp`), with its static
  credentials;
* the embedded TURN server (`turn.enabled`, sfu.turn): its `turns:` URL on `turn.domain` (or
  the first announced address) and `turn.tls_port`, its `turn:` URLs (UDP and plain TCP) on the
  first announced address and `turn.udp_port`, with credentials of the TURN REST API scheme coturn checks with
  `use-auth-secret`: username "<expiry unix time>:<identity>", credential
  base64(HMAC-SHA1(secret, username)).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from typing import Any, Sequence

CREDENTIAL_TTL = 24 * 3600      # s; a join or resume hands out fresh ones


@dataclass(frozen=True)
class IceServer:
    urls: tuple[str, ...]
    username: str = ""
    credential: str = ""


@dataclass(frozen=True)
class EmbeddedTurn:
    """what clients need to know of the TURN server this node runs"""
    secret: str
    host: str                   # announced address (turn: URL)
    tls_host: str = ""          # turn.domain, else host (turns: URL; a TLS certificate names it)
    udp_port: int = 0
    tls_port: int = 0


def derive_secret(api_secret: str) -> str:
    """the TURN shared secret, derived from the first API secret: every node of a cluster with the
    same keys agrees on it, and it is never the API secret itself"""
    return hmac.new(api_secret.encode(), b"sfu turn rest-api shared secret", hashlib.sha256).hexdigest()


def rest_credentials(secret: str, identity: str, now: float, ttl: int = CREDENTIAL_TTL) -> tuple[str, str]:
    """(username, credential) valid until now + ttl"""
    username = f"{int(now) + ttl}:{identity}"
    mac = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return username, base64.b64encode(mac).decode()


def _host(h: str) -> str:
    return f"[{h}]" if ":" in h and not h.startswith("[") else h


def configured(stun_servers: Sequence[str], turn_servers: Sequence[dict[str, Any]]) -> list[IceServer]:
    """the configured ones, in config order (STUN first, one entry each)"""
    out = [IceServer((f"stun:{s}",)) for s in stun_servers]
    for t in turn_servers:
        proto = str(t.get("protocol") or "udp").lower()
        port = int(t.get("port") or (5349 if proto == "tls" else 3478))
        if proto == "tls":
            url = f"turns:{_host(str(t['host']))}:{port}?transport=tcp"
        else:
            url = f"turn:{_host(str(t['host']))}:{port}?transport={proto}"
        out.append(IceServer((url,), str(t.get("username") or ""), str(t.get("credential") or "")))
    return out


def for_participant(static: Sequence[IceServer], embedded: EmbeddedTurn | None, identity: str,
                    now: float) -> list[IceServer]:
    """what one participant is handed: the embedded TURN first (with its own credentials), then the
    configured servers"""
    out: list[IceServer] = []
    if embedded is not None:
        urls = []
        if embedded.tls_port:
            urls.append(f"turns:{_host(embedded.tls_host or embedded.host)}:{embedded.tls_port}?transport=tcp")
        if embedded.udp_port:     # coturn takes TURN over plain TCP on the same port
            urls.append(f"turn:{_host(embedded.host)}:{embedded.udp_port}?transport=udp")
            urls.append(f"turn:{_host(embedded.host)}:{embedded.udp_port}?transport=tcp")
        if urls:
            user, cred = rest_credentials(embedded.secret, identity, now)
            out.append(IceServer(tuple(urls), user, cred))
    return out + list(static)
