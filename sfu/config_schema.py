"""Every key of LiveKit's config file (config-sample.yaml and the keys it documents), and ours,
as a tree: which ones this server applies and which it accepts without acting on them yet (a
warning each, naming the key).  A key in neither is a typo or a foreign file: an error naming
its path.  sfu.config walks a loaded file against it."""

from __future__ import annotations

from typing import Any

APPLIED = "applied"
NOT_YET = "not implemented yet"
OURS = "ours"          # not in LiveKit's file, applied

# a leaf is a status; a section is a dict of its keys (a section whose value is a status is
# accepted whole: a map or list of user-chosen entries)
SCHEMA: dict[str, Any] = {
    "port": APPLIED,
    "bind_addresses": APPLIED,
    "keys": APPLIED,
    "key_file": NOT_YET,
    "development": APPLIED,
    "prometheus_port": APPLIED,
    "prometheus": {"port": APPLIED, "username": NOT_YET, "password": NOT_YET},
    "region": NOT_YET,
    "redis": {
        "address": APPLIED, "db": APPLIED, "username": APPLIED, "password": APPLIED, "use_tls": APPLIED,
        "url": OURS,
        "sentinel_master_name": NOT_YET, "sentinel_addresses": NOT_YET, "sentinel_username": NOT_YET,
        "sentinel_password": NOT_YET, "cluster_addresses": NOT_YET, "max_redirects": NOT_YET,
        "tls": {"enabled": NOT_YET, "insecure": NOT_YET, "server_name": NOT_YET, "ca_cert_file": NOT_YET,
                "client_cert_file": NOT_YET, "client_key_file": NOT_YET},
    },
    "rtc": {
        "udp_port": APPLIED, "node_ip": APPLIED,
        "congestion_control": {"enabled": APPLIED, "allow_pause": NOT_YET, "use_send_side_bwe": NOT_YET,
                               "probe_mode": NOT_YET, "min_channel_capacity": NOT_YET},
        "port_range_start": APPLIED, "port_range_end": APPLIED, "tcp_port": APPLIED, "use_external_ip": APPLIED,
        "use_ice_lite": NOT_YET, "stun_servers": APPLIED, "turn_servers": APPLIED, "allow_tcp_fallback": NOT_YET,
        "packet_buffer_size": NOT_YET, "packet_buffer_size_video": NOT_YET, "packet_buffer_size_audio": NOT_YET,
        "pli_throttle": {"low_quality": NOT_YET, "mid_quality": NOT_YET, "high_quality": NOT_YET},
        "enable_loopback_candidate": APPLIED,
        "interfaces": {"includes": APPLIED, "excludes": APPLIED},
        "ips": {"includes": APPLIED, "excludes": APPLIED},
        "use_mdns": NOT_YET, "strict_acks": NOT_YET,
        "batch_io": {"batch_size": NOT_YET, "max_flush_interval": NOT_YET},
        "data_channel_max_buffered_amount": NOT_YET,
        "reconnect_on_publication_error": NOT_YET, "reconnect_on_subscription_error": NOT_YET,
        "reconnect_on_data_channel_error": NOT_YET,
    },
    "logging": {"level": APPLIED, "pion_level": NOT_YET, "json": NOT_YET, "sample": NOT_YET,
                "component_levels": NOT_YET},
    "room": {
        "auto_create": APPLIED, "empty_timeout": APPLIED, "departure_timeout": APPLIED,
        "max_participants": APPLIED, "enable_remote_unmute": APPLIED,
        "enabled_codecs": NOT_YET, "max_metadata_size": NOT_YET, "sync_streams": NOT_YET,
        "playout_delay": {"enabled": NOT_YET, "min": NOT_YET, "max": NOT_YET},
        "create_room_enabled": NOT_YET, "create_room_timeout": NOT_YET, "create_room_attempts": NOT_YET,
    },
    "webhook": {"api_key": APPLIED, "urls": APPLIED},
    "signal_relay": {"retry_timeout": NOT_YET, "min_retry_interval": NOT_YET, "max_retry_interval": NOT_YET,
                     "stream_buffer_size": NOT_YET, "connection_timeout": NOT_YET},
    "psrpc": {"max_attempts": NOT_YET, "timeout": NOT_YET, "backoff": NOT_YET, "buffer_size": NOT_YET},
    "audio": {"active_level": NOT_YET, "min_percentile": NOT_YET, "update_interval": NOT_YET,
              "smooth_intervals": NOT_YET, "active_red_encoding": NOT_YET},
    "turn": {"enabled": APPLIED, "domain": APPLIED, "udp_port": APPLIED, "tls_port": APPLIED,
             "relay_range_start": APPLIED, "relay_range_end": APPLIED, "external_tls": APPLIED,
             "cert_file": APPLIED, "key_file": APPLIED},
    "ingress": {"rtmp_base_url": NOT_YET, "whip_base_url": NOT_YET},
    "node_selector": {"kind": NOT_YET, "sort_by": NOT_YET, "algorithm": NOT_YET, "sysload_limit": NOT_YET,
                      "regions": NOT_YET},
    "limit": {"num_tracks": NOT_YET, "bytes_per_sec": NOT_YET, "subscription_limit_video": NOT_YET,
              "subscription_limit_audio": NOT_YET, "max_metadata_size": NOT_YET, "max_attributes_size": NOT_YET,
              "max_room_name_length": NOT_YET, "max_participant_identity_length": NOT_YET},
    # ours
    "workers": OURS, "ring_slots": OURS, "single_pc": OURS, "drain_timeout": OURS,
    "allow_short_secrets": OURS,
}


class UnknownKey(ValueError):
    pass


def check(data: dict, schema: dict = SCHEMA, prefix: str = "") -> list[str]:
    """the paths of the keys in `data` that are accepted but not acted on (in file order);
    UnknownKey naming the first path that is in no schema"""
    ignored: list[str] = []
    for key, value in data.items():
        path = f"{prefix}{key}"
        if key not in schema:
            near = [k for k in schema if _close(str(key), k)]
            raise UnknownKey(f"unknown config key {path}" + (f" (did you mean {prefix}{near[0]}?)" if near else ""))
        rule = schema[key]
        if isinstance(rule, dict):
            if value is None:
                continue
            if not isinstance(value, dict):
                raise UnknownKey(f"config key {path} must be a mapping")
            ignored += check(value, rule, path + ".")
        elif rule == NOT_YET:
            ignored.append(path)
    return ignored


def _close(a: str, b: str) -> bool:
    """one edit apart, or the same letters in another order (a typo)"""
    if a == b:
        return False
    if sorted(a) == sorted(b):
        return True
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        return sum(x != y for x, y in zip(a, b)) == 1
    short, long_ = sorted((a, b), key=len)
    return any(long_[:i] + long_[i + 1:] == short for i in range(len(long_)))
