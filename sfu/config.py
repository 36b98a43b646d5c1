"""Server settings: YAML file (LiveKit's key names where they exist), env, flags.

Validated once at start-up; a bad setting stops the server with a clear message.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import Any

import yaml

from . import config_schema

log = logging.getLogger("sfu.config")

DEV_KEYS = {"devkey": "secret"}


class ConfigError(ValueError):
    pass


@dataclass
class Settings:
    port: int = 7880
    bind: list[str] = field(default_factory=lambda: ["0.0.0.0"])
    udp_port: int = 7882                  # worker i listens on udp_port + i
    udp_ports: int = 0                    # a range "7882-7892" in the file: how many ports it holds
    tcp_port: int = 7881                  # rtc.tcp_port: ICE over TCP for every worker (0: none)
    use_external_ip: bool = False         # rtc.use_external_ip: announce what STUN servers see (sfu.external_ip)
    node_ip: str = ""                     # announced in candidates; default: first bind address
    rtc_bind: str = ""                    # UDP bind address; default: node_ip or 0.0.0.0
    workers: int = 0                      # 0 = one per core
    keys: dict[str, str] = field(default_factory=dict)
    dev: bool = False
    log_level: str = "INFO"
    ring_slots: int = 4096
    single_pc: bool = True                # serve /rtc/v1 (one PeerConnection); else 404 -> clients use /rtc
    # rtc.congestion_control.enabled: the stream allocator acts on each subscriber's send-side
    # estimate, and the data plane paces and probes each subscriber's downlink (see README)
    congestion_control: bool = True
    redis: dict[str, Any] = field(default_factory=dict)
    allow_short_secrets: bool = False      # ours: accept API secrets under 32 characters outside --dev
    drain_timeout: float = 300.0           # s a SIGTERM waits for the rooms here to end before closing them
    prometheus_port: int = 0               # prometheus_port / prometheus.port: /metrics there (0: off)
    webhook_urls: list[str] = field(default_factory=list)   # webhook.urls
    webhook_api_key: str = ""                                # webhook.api_key: signs them
    room: dict[str, Any] = field(default_factory=dict)
    # announced addresses (sfu.netaddr): rtc.interfaces, rtc.ips, rtc.enable_loopback_candidate
    interfaces_includes: list[str] = field(default_factory=list)
    interfaces_excludes: list[str] = field(default_factory=list)
    ips_includes: list[str] = field(default_factory=list)
    ips_excludes: list[str] = field(default_factory=list)
    loopback_candidate: bool = False
    # ICE servers handed to clients in JoinResponse (sfu.ice_servers): rtc.stun_servers ("host:port"),
    # rtc.turn_servers ({host, port, protocol udp|tcp|tls, username, credential})
    stun_servers: list[str] = field(default_factory=list)
    turn_servers: list[dict[str, Any]] = field(default_factory=list)
    # the embedded TURN server (coturn, sfu.turn): turn.*
    turn: "TurnSettings" = field(default_factory=lambda: TurnSettings())
    # LiveKit keys the file sets that this server accepts but does not act on yet (warned at start)
    unimplemented: list[str] = field(default_factory=list)

    def validate(self) -> "Settings":
        if not 0 < self.port < 65536:
            raise ConfigError(f"port {self.port} out of range")
        if not 0 <= self.udp_port < 65536:
            raise ConfigError(f"rtc.udp_port {self.udp_port} out of range")
        if not 0 <= self.tcp_port < 65536:
            raise ConfigError(f"rtc.tcp_port {self.tcp_port} out of range")
        if self.workers < 0 or self.workers > 64:
            raise ConfigError("workers must be 0..64")
        if self.ring_slots & (self.ring_slots - 1) or self.ring_slots < 64:
            raise ConfigError("ring_slots must be a power of two >= 64")
        if not self.keys:
            if not self.dev:
                raise ConfigError("no API keys: set `keys`, LIVEKIT_KEYS, or run with --dev")
            self.keys = dict(DEV_KEYS)
        for k, v in self.keys.items():
            if not k or not v:
                raise ConfigError("API keys and secrets must be non-empty")
            if len(v) < 32 and not (self.dev or self.allow_short_secrets):
                # a short HMAC secret can be brute-forced from one token
                raise ConfigError(f"the secret of API key {k!r} is shorter than 32 characters (set "
                                  "allow_short_secrets: true to run with it anyway)")
        if self.drain_timeout < 0:
            raise ConfigError("drain_timeout must be >= 0 seconds")
        if not 0 <= self.prometheus_port < 65536 or (self.prometheus_port and self.prometheus_port == self.port):
            raise ConfigError(f"prometheus_port {self.prometheus_port} must be a free port other than port")
        if self.webhook_urls:
            if not self.webhook_api_key:
                raise ConfigError("webhook.urls needs webhook.api_key (the key whose secret signs them)")
            if self.webhook_api_key not in self.keys:
                raise ConfigError(f"webhook.api_key {self.webhook_api_key!r} is not one of the API keys")
            for u in self.webhook_urls:
                if not u.startswith(("http://", "https://")):
                    raise ConfigError(f"webhook.urls: {u!r} is not an http(s) URL")
        for c in self.ips_includes + self.ips_excludes:
            import ipaddress
            try:
                ipaddress.ip_network(str(c), strict=False)
            except ValueError:
                raise ConfigError(f"rtc.ips: {c!r} is not an address or CIDR") from None
        for i, t in enumerate(self.turn_servers):
            if not isinstance(t, dict) or not t.get("host"):
                raise ConfigError(f"rtc.turn_servers[{i}]: a mapping with host, port, protocol, username, credential")
            if str(t.get("protocol", "udp")).lower() not in ("udp", "tcp", "tls"):
                raise ConfigError(f"rtc.turn_servers[{i}].protocol must be udp, tcp or tls")
        self.turn.validate()
        if self.workers == 0:
            self.workers = os.cpu_count() or 1
            if self.udp_ports:
                self.workers = min(self.workers, self.udp_ports)
        if self.udp_ports and self.workers > self.udp_ports:
            raise ConfigError(f"{self.workers} workers need {self.workers} UDP ports; rtc.udp_port has "
                              f"{self.udp_ports}")
        return self


@dataclass
class TurnSettings:
    enabled: bool = False
    domain: str = ""                 # the realm, and the host of the turns: URL handed to clients
    udp_port: int = 3478             # 0: no TURN/UDP listener
    tls_port: int = 5349             # 0: no TURN/TLS listener (needs cert_file and key_file)
    cert_file: str = ""
    key_file: str = ""
    relay_range_start: int = 30000
    relay_range_end: int = 40000
    external_tls: bool = False       # TLS ends at a load balancer in front: coturn listens on plain TCP there

    def validate(self) -> None:
        if not self.enabled:
            return
        for name in ("udp_port", "tls_port"):
            if not 0 <= getattr(self, name) < 65536:
                raise ConfigError(f"turn.{name} {getattr(self, name)} out of range")
        if not self.udp_port and not self.tls_port:
            raise ConfigError("turn.enabled needs turn.udp_port or turn.tls_port")
        if self.tls_port and not self.external_tls and not (self.cert_file and self.key_file):
            raise ConfigError("turn.tls_port needs turn.cert_file and turn.key_file (or turn.tls_port: 0)")
        if self.external_tls and not self.udp_port:
            raise ConfigError("turn.external_tls: the load balancer forwards TLS-ended TCP to turn.udp_port, "
                              "which must be set")
        if not 1024 <= self.relay_range_start <= self.relay_range_end < 65536:
            raise ConfigError("turn.relay_range_start..relay_range_end must be a port range above 1023")


def _str_list(value: Any, key: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ConfigError(f"{key} must be a list")
    return [str(v) for v in value]


def udp_port_range(value: Any) -> tuple[int, int]:
    """rtc.udp_port as LiveKit takes it: a port, or a range "7882-7892" (first port, count);
    worker i listens on first + i"""
    text = str(value).strip()
    try:
        if "-" in text:
            a, b = (int(x) for x in text.split("-", 1))
        else:
            a = b = int(text)
    except ValueError:
        raise ConfigError(f"rtc.udp_port {value!r}: a port or a range like 7882-7892") from None
    if b < a:
        raise ConfigError(f"rtc.udp_port {value!r}: the range ends before it starts")
    return a, b - a + 1


def parse_keys(text: str) -> dict[str, str]:
    """LIVEKIT_KEYS format: 'key1: secret1, key2: secret2' (or one per line)"""
    out: dict[str, str] = {}
    for part in text.replace("\n", ",").split(","):
        part = part.strip()
        if not part:
            continue
        if ":" not in part:
            raise ConfigError(f"bad key entry {part!r}: expected 'key: secret'")
        k, v = part.split(":", 1)
        out[k.strip()] = v.strip()
    return out


def load(path: str | None = None, body: str | None = None, **overrides: Any) -> Settings:
    data: dict[str, Any] = {}
    if body is None and path:
        with open(path) as f:
            body = f.read()
    if body:
        try:
            loaded = yaml.safe_load(body) or {}
        except yaml.YAMLError as e:
            raise ConfigError(f"config is not valid YAML: {e}") from None
        if not isinstance(loaded, dict):
            raise ConfigError("config must be a mapping")
        data = loaded
    s = Settings()
    try:
        s.unimplemented = config_schema.check(data)
    except config_schema.UnknownKey as e:
        raise ConfigError(str(e)) from None
    if "port" in data:
        s.port = int(data["port"])
    if "bind_addresses" in data:
        s.bind = [str(x) for x in data["bind_addresses"]]
    rtc = data.get("rtc") or {}
    if "udp_port" in rtc:
        s.udp_port, s.udp_ports = udp_port_range(rtc["udp_port"])
    if "port_range_start" in rtc or "port_range_end" in rtc:
        # LiveKit's per-PeerConnection port range; set, LiveKit does not use udp_port. Here the
        # workers take their ports from it: worker i on port_range_start + i
        try:
            start, end = int(rtc.get("port_range_start") or 0), int(rtc.get("port_range_end") or 0)
        except (TypeError, ValueError):
            raise ConfigError("rtc.port_range_start / port_range_end must be port numbers") from None
        if not (0 < start <= end < 65536):
            raise ConfigError(f"rtc.port_range_start {start} .. port_range_end {end}: both needed, "
                              "1..65535, start <= end")
        s.udp_port, s.udp_ports = start, end - start + 1
    if "node_ip" in rtc:
        s.node_ip = str(rtc["node_ip"])
    if "tcp_port" in rtc:
        try:
            s.tcp_port = int(rtc["tcp_port"] or 0)
        except (TypeError, ValueError):
            raise ConfigError("rtc.tcp_port must be a port number (0: no ICE over TCP)") from None
    for sect, inc, exc in (("interfaces", "interfaces_includes", "interfaces_excludes"),
                           ("ips", "ips_includes", "ips_excludes")):
        sub = rtc.get(sect) or {}
        setattr(s, inc, _str_list(sub.get("includes"), f"rtc.{sect}.includes"))
        setattr(s, exc, _str_list(sub.get("excludes"), f"rtc.{sect}.excludes"))
    if "use_external_ip" in rtc:
        s.use_external_ip = bool(rtc["use_external_ip"])
    if "enable_loopback_candidate" in rtc:
        s.loopback_candidate = bool(rtc["enable_loopback_candidate"])
    s.stun_servers = _str_list(rtc.get("stun_servers"), "rtc.stun_servers")
    ts = rtc.get("turn_servers")
    if ts is not None:
        if not isinstance(ts, list):
            raise ConfigError("rtc.turn_servers must be a list")
        s.turn_servers = [dict(t) if isinstance(t, dict) else t for t in ts]
    turn = data.get("turn") or {}
    for key in ("enabled", "external_tls"):
        if key in turn:
            setattr(s.turn, key, bool(turn[key]))
    for key in ("domain", "cert_file", "key_file"):
        if key in turn:
            setattr(s.turn, key, str(turn[key] or ""))
    for key in ("udp_port", "tls_port", "relay_range_start", "relay_range_end"):
        if key in turn:
            try:
                setattr(s.turn, key, int(turn[key] or 0))
            except (TypeError, ValueError):
                raise ConfigError(f"turn.{key} must be a number") from None
    cc = rtc.get("congestion_control")
    if isinstance(cc, dict) and "enabled" in cc:
        s.congestion_control = bool(cc["enabled"])
    if "workers" in data:
        s.workers = int(data["workers"])
    if "ring_slots" in data:
        s.ring_slots = int(data["ring_slots"])
    if "single_pc" in data:
        s.single_pc = bool(data["single_pc"])
    if "keys" in data:
        if not isinstance(data["keys"], dict):
            raise ConfigError("keys must be a mapping of key: secret")
        s.keys = {str(k): str(v) for k, v in data["keys"].items()}
    if isinstance(data.get("logging"), dict) and "level" in data["logging"]:
        s.log_level = str(data["logging"]["level"]).upper()
    if "redis" in data:
        s.redis = dict(data["redis"] or {})
    if "allow_short_secrets" in data:
        s.allow_short_secrets = bool(data["allow_short_secrets"])
    if "drain_timeout" in data:
        s.drain_timeout = float(data["drain_timeout"])
    if "prometheus_port" in data:
        s.prometheus_port = int(data["prometheus_port"])
    prom = data.get("prometheus")
    if prom is not None:
        s.prometheus_port = int(prom.get("port") or 0)
    webhook = data.get("webhook")
    if webhook is not None:
        urls = webhook.get("urls") or []
        if not isinstance(urls, list):
            raise ConfigError("webhook.urls must be a list of URLs")
        s.webhook_urls = [str(u) for u in urls]
        s.webhook_api_key = str(webhook.get("api_key") or "")
    if "room" in data:
        s.room = dict(data["room"] or {})
    s.dev = bool(data.get("development", False))
    env_keys = os.environ.get("LIVEKIT_KEYS")
    if env_keys and not s.keys:
        s.keys = parse_keys(env_keys)
    for k, v in overrides.items():
        if v is not None:
            setattr(s, k, v)
    return s.validate()
