"""The control-channel schema between the main process and media workers.

Single source of truth: every request with its required and optional fields and
the fields of its reply, every event a worker emits, and (in sfu.errors) every
error kind.  Both ends validate against it: the channel checks each request and
event it sends or serves and each reply it produces; the worker serves exactly
these methods (`on_<method>`, tests/unit/test_worker_schema.py checks); the HTTP
plain-transport API declares its bodies in PLAIN_API with the same fields.

Frames are a 4-byte big-endian length followed by an orjson object:

    request:  {"id": int, "method": str, "data": {...}}
    response: {"id": int, "ok": true, "data": {...}}
              {"id": int, "ok": false, "error": str, "kind": str}   (kind: sfu.errors.ERROR_KINDS)
    event:    {"event": str, "data": {...}}            (worker -> main only)

Every request is answered exactly once.  When a worker dies, every pending
request fails with WorkerDiedError.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

PROTOCOL_VERSION = 7   # 2: PRODUCER_SET_REMOTE_WORKERS, recv_key/send_key, CONSUMER_REQUEST_KEY_FRAME, producer events
                       # 3: TRANSPORT_STATS, TRANSPORT_SET_HEADER_EXTENSIONS, transport_bwe
                       # 4: rtx_ssrc/rtx_payload_type (PRODUCER_CREATE, CONSUMER_CREATE), PRODUCER_SET_RTX,
                       #    CONSUMER_SET_RTX
                       # 5: PRODUCER_AUDIO_LEVEL, the ssrc-audio-level extension id
                       # 6: TRANSPORT_SET_WANTED_BITRATE
                       # 7: TRANSPORT_SEND_DATA to many transports ("ids", reply "sent": ids)
MAX_MESSAGE = 4 * 1024 * 1024


@dataclass(frozen=True)
class Message:
    required: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()
    reply: tuple[str, ...] = ()        # fields every successful reply carries
    doc: str = ""

    @property
    def fields(self) -> frozenset[str]:
        return frozenset(self.required) | frozenset(self.optional)


_STATS = ("worker", "pid", "cpu_user", "cpu_system")

REQUESTS: dict[str, Message] = {
    "WORKER_STATS": Message(reply=_STATS, doc="loop counters, drops by reason, CPU time"),
    "WORKER_SHUTDOWN": Message(doc="stop the loop and exit 0"),
    "TRANSPORT_CREATE": Message(("id", "kind"), ("comedia", "rtcp", "own_socket", "ice_ufrag", "ice_pwd"),
                                ("ip", "port"),
                                "kind plain | webrtc (with ice_ufrag, ice_pwd; its reply adds the DTLS fingerprint)"),
    "TRANSPORT_CONNECT": Message(("id", "ip", "port"), doc="plain: the remote address"),
    "TRANSPORT_SET_SRTP": Message(("id", "profile", "recv_key", "send_key"), doc="hex master key + salt each"),
    "TRANSPORT_SET_REMOTE_PARAMS": Message(("id", "ice_ufrag", "ice_pwd", "fingerprints", "dtls_role", "sctp",
                                            "open_channels", "extmap"), doc="webrtc: from the remote SDP"),
    "TRANSPORT_SEND_DATA": Message(("ids", "label", "data"), reply=("sent",),
                                   doc="webrtc: one base64 payload on the data channel of each transport "
                                       "(a message to many); sent: the ids whose channel took it "
                                       "(an id gone or not open is skipped, not an error)"),
    "TRANSPORT_ICE_RESTART": Message(("id", "ice_ufrag", "ice_pwd", "remote_ufrag", "remote_pwd"),
                                     doc='new local credentials; the remote ones ("" = not known yet)'),
    "TRANSPORT_SET_REMOTE_ICE": Message(("id", "ice_ufrag", "ice_pwd"), doc="the remote side's restarted credentials"),
    "TRANSPORT_CLOSE": Message(("id",)),
    "TRANSPORT_SET_HEADER_EXTENSIONS": Message(("id", "extmap"),
                                               doc="the remote side's ids when they come after its transport "
                                                   "parameters (a subscriber's answer): with the transport-cc id "
                                                   "every packet sent to it is numbered"),
    "TRANSPORT_SET_WANTED_BITRATE": Message(("id", "bitrate"),
                                            doc="what the stream allocator would send on this transport "
                                                "(bit/s); the first turns on its pacer and probes"),
    "TRANSPORT_STATS": Message(("id",), reply=("bwe", "bwe_unstamped"),
                               doc="bwe: the send-side estimate (sfu_bwe_stats_t fields) or None"),
    "PRODUCER_CREATE": Message(("id", "transport_id", "ssrc", "payload_type", "kind", "remote_workers"),
                               ("codec", "rtx_ssrc", "rtx_payload_type", "red_payload_type", "dd_ext_id"),
                               doc="rtx_ssrc/rtx_payload_type: the publisher's RTX stream (RFC 4588), if any; "
                                   "red_payload_type: its audio comes as RED (RFC 2198) on it, unwrapped to "
                                   "payload_type; dd_ext_id: its dependency descriptor's header extension id "
                                   "(VP9/AV1 SVC: where each packet's layers are read)"),
    "PRODUCER_SET_RTX": Message(("id", "rtx_ssrc", "rtx_payload_type"),
                                doc="its publisher's RTX stream once known (a simulcast layer's repaired rid)"),
    "PRODUCER_SET_REMOTE_WORKERS": Message(("id", "remote_workers"), doc="the workers with consumers of it"),
    "PRODUCER_CLOSE": Message(("id",)),
    "PRODUCER_STATS": Message(("id",), reply=("packets", "bytes", "layer_bytes"),
                              doc="layer_bytes: of a scalable (SVC) stream, bytes per layer, "
                                  "[spatial][temporal]"),
    "PRODUCER_AUDIO_LEVEL": Message(("id",), reply=("packets", "loud", "loud_dbov_sum"),
                                    doc="RFC 6464 levels received so far (sfu_audio_level_stats_t)"),
    "REMOTE_PRODUCER_CREATE": Message(("id", "worker", "ssrc", "kind"), ("codec", "dd_ext_id"),
                                      doc="a producer of another worker whose packets arrive on the ring"),
    "REMOTE_PRODUCER_CLOSE": Message(("id",)),
    "CONSUMER_CREATE": Message(("id", "transport_id", "producer_id", "ssrc", "payload_type",
                                "seq_start", "ts_offset", "paused"), ("ext_map", "rtx_ssrc", "rtx_payload_type"),
                               doc="ext_map: {incoming header extension id: outgoing id}; absent = unchanged; "
                                   "rtx_ssrc/rtx_payload_type: NACKs are answered as RTX on them"),
    "CONSUMER_SET_PAUSED": Message(("id", "paused")),
    "CONSUMER_SET_PRODUCER": Message(("id", "producer_id"), doc="switch source (a simulcast layer)"),
    "CONSUMER_REQUEST_KEY_FRAME": Message(("id",), doc="ask the (video) publisher, throttled"),
    "CONSUMER_SET_RTX": Message(("id", "rtx_ssrc", "rtx_payload_type"),
                                doc="NACKs are answered as RTX on them (the subscriber's answer accepted rtx); "
                                    "rtx_ssrc 0: plain copies"),
    "CONSUMER_SET_RED": Message(("id", "red_payload_type"),
                                doc="an audio consumer sends RED (RFC 2198, the two packets before each) on "
                                    "this payload type (the subscriber's answer accepted red); 0: plain"),
    "CONSUMER_SET_LAYERS": Message(("id", "spatial_layer", "temporal_layer"),
                                   doc="a scalable (SVC) stream: the highest spatial and temporal layers it "
                                       "forwards; -1 = every layer"),
    "CONSUMER_CLOSE": Message(("id",)),
    "CONSUMER_STATS": Message(("id",), reply=("packets", "bytes", "spatial", "temporal"),
                              doc="spatial/temporal: the SVC layers it forwards now, -1 = every layer"),
    "PEER_RESET": Message(("worker",), doc="that worker restarted: drop what it queued for us"),
}

# events a worker emits (every field required)
EVENTS: dict[str, Message] = {
    "ready": Message(("worker", "pid", "version", "ip", "port")),
    "transport_remote_learned": Message(("id", "ip", "port"), doc="comedia: the peer's address"),
    "webrtc_state": Message(("id", "state", "reason"), doc="connected | disconnected | failed | closed"),
    "data_channel": Message(("id", "label", "ordered", "max_retransmits")),
    "data_message": Message(("id", "label", "data"), doc="base64 payload"),
    "unknown_ssrc": Message(("id", "ssrc", "payload_type", "mid", "rid", "rrid"),
                            doc="RTP of an SSRC no producer owns (mid/rid read in C)"),
    "producer_inactive": Message(("id", "producer_id"), doc="a local producer received nothing for 1 s (id: its transport)"),
    "producer_active": Message(("id", "producer_id"), doc="it receives again"),
    "transport_bwe": Message(("id", "estimate_bps", "delay_bps", "loss_bps", "remb_bps", "acked_bps", "rtt_us",
                              "loss", "usage", "rate_state", "limited_by"),
                             doc="a transport's send-side estimate moved by > 5 % (at most every 500 ms); "
                                 "the TRANSPORT_STATS bwe fields"),
}

# bodies of the HTTP plain-transport API (sfu.app), same field rules
PLAIN_API: dict[str, Message] = {
    "create": Message(("room",), ("comedia", "rtcp", "worker"), ("id", "ip", "port", "worker")),
    "connect": Message(("ip", "port")),
    "srtp": Message(("profile", "recv_key", "send_key")),
    # codec (vp8, opus, ...): the data plane recognises the stream's key frames
    "produce": Message(("kind", "ssrc", "payload_type"), ("codec",), ("producer_id",)),
    # a producer of the room's plain transports, or a participant's track (its top layer;
    # the answer then has its codec, and a video consumer asks for a key frame at once)
    "consume": Message((), ("producer_id", "track_sid", "payload_type", "paused"),
                       ("consumer_id", "ssrc", "payload_type", "kind", "codec")),
    "publish": Message(("producer_id", "identity", "codec"), ("name", "participant_name"), ("track_sid",)),
}


class SchemaError(ValueError):
    pass


def _check(what: str, schema: Message, data: Any) -> None:
    if not isinstance(data, dict):
        raise SchemaError(f"{what}: data must be an object")
    missing = [f for f in schema.required if f not in data]
    if missing:
        raise SchemaError(f"{what}: missing {', '.join(missing)}")
    unknown = sorted(set(data) - schema.fields)
    if unknown:
        raise SchemaError(f"{what}: unknown field {', '.join(unknown)}")


def check_request(method: str, data: Any) -> None:
    schema = REQUESTS.get(method)
    if schema is None:
        raise SchemaError(f"unknown method {method!r}")
    _check(method, schema, data)


def check_reply(method: str, data: Any) -> None:
    missing = [f for f in REQUESTS[method].reply if f not in (data or {})]
    if missing:
        raise SchemaError(f"{method} reply: missing {', '.join(missing)}")


def check_event(event: str, data: Any) -> None:
    schema = EVENTS.get(event)
    if schema is None:
        raise SchemaError(f"unknown event {event!r}")
    if not isinstance(data, dict) or any(f not in data for f in schema.required):
        raise SchemaError(f"event {event}: bad data")


def check_plain_body(name: str, data: Any) -> None:
    _check(f"plain transport {name}", PLAIN_API[name], data)
