"""The control-channel schema between the main process and media workers.

Single source of truth: every request method, its required fields and every
event a worker emits are listed here, and both ends validate against it.
Frames are a 4-byte big-endian length followed by an orjson object:

    request:  {"id": int, "method": str, "data": {...}}
    response: {"id": int, "ok": true, "data": {...}}
              {"id": int, "ok": false, "error": str, "kind": str}
    event:    {"event": str, "data": {...}}            (worker -> main only)

Every request is answered exactly once.  When a worker dies, every pending
request fails with WorkerDiedError.
"""

from __future__ import annotations

from typing import Any

PROTOCOL_VERSION = 3   # 2: PRODUCER_SET_REMOTE_WORKERS, recv_key/send_key, CONSUMER_REQUEST_KEY_FRAME, producer events
                       # 3: TRANSPORT_STATS, TRANSPORT_SET_HEADER_EXTENSIONS, transport_bwe
MAX_MESSAGE = 4 * 1024 * 1024

# method -> required data fields
REQUESTS: dict[str, tuple[str, ...]] = {
    "WORKER_STATS": (),
    "WORKER_SHUTDOWN": (),
    "TRANSPORT_CREATE": ("id", "kind"),               # kind: "plain" | "webrtc" (+ ice_ufrag, ice_pwd)
    "TRANSPORT_CONNECT": ("id", "ip", "port"),        # plain: set the remote address
    "TRANSPORT_SET_SRTP": ("id", "profile", "recv_key", "send_key"),   # hex master key + salt each
    "TRANSPORT_SET_REMOTE_PARAMS": ("id", "ice_ufrag", "ice_pwd", "fingerprints", "dtls_role", "sctp",
                                    "open_channels", "extmap"),   # webrtc: from the remote SDP
    "TRANSPORT_SEND_DATA": ("id", "label", "data"),   # webrtc: base64 payload on a data channel
    "TRANSPORT_ICE_RESTART": ("id", "ice_ufrag", "ice_pwd", "remote_ufrag", "remote_pwd"),  # "" = unknown yet
    "TRANSPORT_SET_REMOTE_ICE": ("id", "ice_ufrag", "ice_pwd"),  # the remote side's (restarted) credentials
    "TRANSPORT_CLOSE": ("id",),
    "TRANSPORT_SET_HEADER_EXTENSIONS": ("id", "extmap"),   # the remote side's ids (a subscriber's answer):
                                                      # the transport-cc id numbers what is sent to it
    "TRANSPORT_STATS": ("id",),                       # {"bwe": send-side estimate (sfu_bwe_stats_t) or None}
    "PRODUCER_CREATE": ("id", "transport_id", "ssrc", "payload_type", "kind", "remote_workers"),
    "PRODUCER_SET_REMOTE_WORKERS": ("id", "remote_workers"),   # workers with consumers of it
    "PRODUCER_CLOSE": ("id",),
    "PRODUCER_STATS": ("id",),
    "REMOTE_PRODUCER_CREATE": ("id", "worker", "ssrc", "kind"),
    "REMOTE_PRODUCER_CLOSE": ("id",),
    "CONSUMER_CREATE": ("id", "transport_id", "producer_id", "ssrc", "payload_type",
                        "seq_start", "ts_offset", "paused"),
    "CONSUMER_SET_PAUSED": ("id", "paused"),
    "CONSUMER_SET_PRODUCER": ("id", "producer_id"),   # switch source (simulcast layer)
    "CONSUMER_REQUEST_KEY_FRAME": ("id",),            # ask the (video) publisher, throttled
    "CONSUMER_CLOSE": ("id",),
    "CONSUMER_STATS": ("id",),
    "PEER_RESET": ("worker",),
}

# events a worker emits
EVENTS: dict[str, tuple[str, ...]] = {
    "ready": ("worker", "pid", "version", "ip", "port"),
    "transport_remote_learned": ("id", "ip", "port"),
    "webrtc_state": ("id", "state", "reason"),        # connected | disconnected | failed | closed
    "data_channel": ("id", "label", "ordered", "max_retransmits"),
    "data_message": ("id", "label", "data"),          # base64 payload
    "unknown_ssrc": ("id", "ssrc", "payload_type", "mid", "rid", "rrid"),
    # a local producer received nothing for 1 s / receives again (id: its transport)
    "producer_inactive": ("id", "producer_id"),
    "producer_active": ("id", "producer_id"),
    # a subscriber transport's send-side estimate moved by > 5 % (at most every 500 ms): the
    # TRANSPORT_STATS "bwe" fields, under the same names
    "transport_bwe": ("id", "estimate_bps", "delay_bps", "loss_bps", "remb_bps", "acked_bps", "rtt_us", "loss",
                      "usage", "rate_state", "limited_by"),
}

# error kinds carried in failed responses (mapped to exceptions by the caller)
ERROR_KINDS = ("NotFound", "AlreadyExists", "InvalidState", "TypeError", "Error")


class SchemaError(ValueError):
    pass


def check_request(method: str, data: Any) -> None:
    fields = REQUESTS.get(method)
    if fields is None:
        raise SchemaError(f"unknown method {method!r}")
    if not isinstance(data, dict):
        raise SchemaError(f"{method}: data must be an object")
    missing = [f for f in fields if f not in data]
    if missing:
        raise SchemaError(f"{method}: missing {', '.join(missing)}")


def check_event(event: str, data: Any) -> None:
    fields = EVENTS.get(event)
    if fields is None:
        raise SchemaError(f"unknown event {event!r}")
    if not isinstance(data, dict) or any(f not in data for f in fields):
        raise SchemaError(f"event {event}: bad data")
