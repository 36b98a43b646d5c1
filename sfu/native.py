"""The single wrapper over the C extension `sfu._native`.

Maps C return codes to exceptions, converts addresses, and names drop
reasons.  Nothing here runs per packet.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

from . import errors
from ._native import ffi, lib

DROP_REASONS: tuple[str, ...] = tuple(
    ffi.string(lib.sfu_drop_reason_name(i)).decode() for i in range(lib.SFU_DROP__COUNT)
)

PKT_CLASS = {
    lib.SFU_PKT_UNKNOWN: "unknown",
    lib.SFU_PKT_STUN: "stun",
    lib.SFU_PKT_DTLS: "dtls",
    lib.SFU_PKT_RTP: "rtp",
    lib.SFU_PKT_RTCP: "rtcp",
}

# the C return codes (sfu_types.h) by their names in the error table (sfu.errors)
_RC_KINDS: dict[int, str] = {
    lib.SFU_EEXIST: "AlreadyExists",
    lib.SFU_ENOENT: "NotFound",
    lib.SFU_EINVAL: "Native",
    lib.SFU_ENOMEM: "Native",
    lib.SFU_ESTOPPED: "InvalidState",
}


def check(rc: int, what: str) -> None:
    """Raise the exception matching a C return code."""
    if rc != lib.SFU_OK:
        raise errors.from_kind(_RC_KINDS.get(rc, "Native"), f"{what}: error {rc}")


def addr_to_c(host: str, port: int, out: Any = None, ffi: Any = ffi) -> Any:
    """(host, port) -> sfu_addr_t * (into `out`, or a new one of `ffi`: this
    module's, or another extension's such as sfu.loadtest._engine)."""
    a = out if out is not None else ffi.new("sfu_addr_t *")
    ip = ipaddress.ip_address(host)
    a.port = port
    a.scope_id = 0
    if ip.version == 6:
        a.family = socket.AF_INET6
        ffi.memmove(a.ip, ip.packed, 16)
    else:
        a.family = socket.AF_INET
        ffi.memmove(a.ip, ip.packed, 4)
    return a


def addr_from_c(a: Any) -> tuple[str, int]:
    """sfu_addr_t -> (host, port)."""
    raw = bytes(ffi.buffer(a.ip, 16))
    if a.family == socket.AF_INET6:
        return str(ipaddress.IPv6Address(raw)), int(a.port)
    return str(ipaddress.IPv4Address(raw[:4])), int(a.port)


TCC_FEEDBACK_REJECTS: tuple[str, ...] = tuple(
    ffi.string(lib.sfu_tcc_feedback_reject_name(i)).decode() for i in range(lib.SFU_TCC_FB__COUNT)
)

# sfu_bwe.h's enumerations by name: SFU_BWE_USAGE_*, SFU_BWE_RATE_*, SFU_BWE_LIMIT_*
BWE_USAGE = {lib.SFU_BWE_USAGE_NORMAL: "normal", lib.SFU_BWE_USAGE_UNDERUSING: "underusing",
             lib.SFU_BWE_USAGE_OVERUSING: "overusing"}
BWE_RATE_STATE = {lib.SFU_BWE_RATE_HOLD: "hold", lib.SFU_BWE_RATE_INCREASE: "increase",
                  lib.SFU_BWE_RATE_DECREASE: "decrease"}
BWE_LIMITED_BY = {lib.SFU_BWE_LIMIT_START: "start", lib.SFU_BWE_LIMIT_DELAY: "delay", lib.SFU_BWE_LIMIT_LOSS: "loss",
                  lib.SFU_BWE_LIMIT_REMB: "remb", lib.SFU_BWE_LIMIT_MIN: "min", lib.SFU_BWE_LIMIT_MAX: "max",
                  lib.SFU_BWE_LIMIT_NO_FEEDBACK: "no_feedback"}


def bwe_stats_dict(s: Any) -> dict[str, Any]:
    """sfu_bwe_stats_t -> dict under the C field names; enumerations by name, rejected
    feedback by reason (zeros omitted)"""
    out: dict[str, Any] = {
        name: int(getattr(s, name))
        for name in ("estimate_bps", "delay_bps", "loss_bps", "remb_bps", "acked_bps", "rtt_us",
                     "packets", "feedback_packets", "feedback_rejected", "unknown", "remb_packets", "remb_rejected",
                     "probe_clusters", "probe_results", "probe_bps", "padding_packets", "pacing_bps", "pacer_queued",
                     "pacer_delay_us")
    }
    out["loss"] = float(s.loss)
    out["usage"] = BWE_USAGE.get(int(s.usage), "invalid")
    out["rate_state"] = BWE_RATE_STATE.get(int(s.rate_state), "invalid")
    out["limited_by"] = BWE_LIMITED_BY.get(int(s.limited_by), "invalid")
    out["feedback_rejects"] = {TCC_FEEDBACK_REJECTS[i]: int(s.feedback_rejects[i])
                               for i in range(1, lib.SFU_TCC_FB__COUNT) if s.feedback_rejects[i]}
    out["pacer_drops"] = {"full": int(s.pacer_drops[lib.SFU_PACER_DROP_FULL]),
                          "late": int(s.pacer_drops[lib.SFU_PACER_DROP_LATE])}
    return out


def stats_dict(s: Any) -> dict[str, Any]:
    """sfu_stats_t -> dict, drops keyed by reason name (zeros omitted)."""
    out: dict[str, Any] = {
        name: int(getattr(s, name))
        for name in (
            "rx_packets", "rx_bytes", "rx_batches", "tx_packets", "tx_bytes", "tx_batches",
            "ring_tx", "ring_rx", "to_py", "wakeups", "iterations", "commands",
            "nacks", "retransmits", "nack_misses", "rtcp_sent", "tx_gso", "plis_throttled",
            "nacks_sent", "nack_recovered", "nack_lost", "rtx_received", "rtx_sent",
            "nack_padding", "padding_sent", "paced", "plis_received", "firs_received", "plis_sent",
            "tcp_opened", "tcp_closed", "red_sent", "red_recovered", "svc_filtered", "svc_switches",
            "svc_bad_descriptors",
        )
    }
    out["drops"] = {DROP_REASONS[i]: int(s.drops[i]) for i in range(1, lib.SFU_DROP__COUNT) if s.drops[i]}
    return out


def stream_stats_dict(s: Any) -> dict[str, Any]:
    return {
        "packets": int(s.packets),
        "bytes": int(s.bytes),
        "dropped": int(s.dropped),
        "last_seq": int(s.last_seq),
        "last_ts": int(s.last_ts),
        "expected": int(s.expected),
        "received": int(s.received),
        "layer_bytes": [[int(s.layer_bytes[sp * lib.SFU_SVC_TEMPORAL_MAX + t]) for t in range(lib.SFU_SVC_TEMPORAL_MAX)]
                        for sp in range(lib.SFU_SVC_SPATIAL_MAX)],
        "spatial": -1 if s.spatial == lib.SFU_SVC_ALL else int(s.spatial),
        "temporal": -1 if s.temporal == lib.SFU_SVC_ALL else int(s.temporal),
    }


__all__ = ["ffi", "lib", "check", "addr_to_c", "addr_from_c", "stats_dict", "stream_stats_dict",
           "bwe_stats_dict", "DROP_REASONS", "PKT_CLASS", "TCC_FEEDBACK_REJECTS", "BWE_USAGE", "BWE_RATE_STATE",
           "BWE_LIMITED_BY"]
