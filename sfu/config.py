"""Server settings: YAML file (LiveKit's key names where they exist), env, flags.

Validated once at start-up; a bad setting stops the server with a clear message.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import Any

import yaml

log = logging.getLogger("sfu.config")

DEV_KEYS = {"devkey": "secret"}


class ConfigError(ValueError):
    pass


@dataclass
class Settings:
    port: int = 7880
    bind: list[str] = field(default_factory=lambda: ["0.0.0.0"])
    udp_port: int = 7882                  # worker i listens on udp_port + i
    node_ip: str = ""                     # announced in candidates; default: first bind address
    rtc_bind: str = ""                    # UDP bind address; default: node_ip or 0.0.0.0
    workers: int = 0                      # 0 = one per core
    keys: dict[str, str] = field(default_factory=dict)
    dev: bool = False
    log_level: str = "INFO"
    ring_slots: int = 4096
    single_pc: bool = True                # serve /rtc/v1 (one PeerConnection); else 404 -> clients use /rtc
    # rtc.congestion_control.enabled: the stream allocator acts on each subscriber's send-side
    # estimate.  Off by default: the estimate is measured and reported either way, but without
    # probing on the wire it cannot find headroom again once it fell (see README)
    congestion_control: bool = False
    redis: dict[str, Any] = field(default_factory=dict)
    room: dict[str, Any] = field(default_factory=dict)

    def validate(self) -> "Settings":
        if not 0 < self.port < 65536:
            raise ConfigError(f"port {self.port} out of range")
        if not 0 <= self.udp_port < 65536:
            raise ConfigError(f"rtc.udp_port {self.udp_port} out of range")
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
            if len(v) < 32 and not self.dev:
                log.error("the secret of API key %r is shorter than 32 characters", k)
        if self.workers == 0:
            self.workers = os.cpu_count() or 1
        return self


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
    known = {"port", "bind_addresses", "rtc", "keys", "log_level", "logging", "workers", "redis", "room",
             "development", "ring_slots", "single_pc"}
    unknown = set(data) - known
    if unknown:
        raise ConfigError(f"unknown config keys: {', '.join(sorted(unknown))}")
    if "port" in data:
        s.port = int(data["port"])
    if "bind_addresses" in data:
        s.bind = [str(x) for x in data["bind_addresses"]]
    rtc = data.get("rtc") or {}
    if "udp_port" in rtc:
        s.udp_port = int(rtc["udp_port"])
    if "node_ip" in rtc:
        s.node_ip = str(rtc["node_ip"])
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
