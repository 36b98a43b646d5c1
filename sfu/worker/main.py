"""Media worker entry point: `python -m sfu.worker.main ...` (spawned by process.py).

The forwarding loop runs in a thread of its own inside C (the GIL is released
for the whole call); this module's asyncio loop serves the control channel
and the loop's queue of STUN/DTLS datagrams and events.

Exit codes: 0 clean shutdown, 40 bad arguments or version mismatch,
41 native initialisation failed, 42 could not bind the UDP socket,
43 the parent process is gone.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import ctypes
import logging
import os
import signal
import socket
import sys
from typing import Any

from .. import errors, srtp
from ..protocol.ice_lite import ERROR_REASONS as ICE_ERROR_REASONS, extract_local_ufrag
from ..native import bwe_stats_dict, ffi, lib, stats_dict, stream_stats_dict
from . import command_fields, messages, queue_records, shm
from .channel import Channel
from .native_loop import NativeLoop
from .webrtc import WebRtcSession

log = logging.getLogger("sfu.worker")

EXIT_BAD_ARGS = 40
EXIT_NATIVE = 41
EXIT_BIND = 42
EXIT_ORPHAN = 43

MUX_SOCKET_ID = 1
MUX6_SOCKET_ID = 2        # the shared port's IPv6 twin (--ipv6)
SOCKET_BUFFER = 8 * 1024 * 1024
PY_DRAIN_BYTES = 1 << 22
PR_SET_PDEATHSIG = 1


def _die_with_parent(parent_pid: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        sys.exit(EXIT_ORPHAN)


def _udp_socket(ip: str, port: int) -> socket.socket:
    fam = socket.AF_INET6 if ":" in ip else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_DGRAM)
    if fam == socket.AF_INET6:        # beside an IPv4 socket on the same port
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    for opt, force in ((socket.SO_RCVBUF, 33), (socket.SO_SNDBUF, 32)):  # SO_*BUFFORCE as root
        try:
            s.setsockopt(socket.SOL_SOCKET, force, SOCKET_BUFFER)
        except OSError:
            s.setsockopt(socket.SOL_SOCKET, opt, SOCKET_BUFFER)
    s.bind((ip, port))
    s.setblocking(False)
    return s


class WorkerTransport:
    """What the worker keeps per transport besides the C state."""

    def __init__(self, tid: int, kind: str, socket_id: int, ip: str, port: int) -> None:
        self.id = tid
        self.kind = kind
        self.socket_id = socket_id
        self.ip = ip
        self.port = port
        self.recv_srtp: srtp.Session | None = None
        self.send_srtp: srtp.Session | None = None
        self.webrtc: WebRtcSession | None = None

    def close_srtp(self) -> None:
        for s in (self.recv_srtp, self.send_srtp):
            if s is not None:
                s.close()
        self.recv_srtp = self.send_srtp = None


class Worker:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.worker_id: int = args.worker_id
        self.n_workers: int = args.n_workers
        self.native: NativeLoop | None = None
        self.ipv6 = False        # the shared port has its IPv6 twin
        self._shm = None
        self._shm_base: Any = None
        self._keep: list[Any] = []
        self.transports: dict[int, WorkerTransport] = {}
        self.by_ufrag: dict[str, WorkerTransport] = {}
        self._next_socket_id = MUX6_SOCKET_ID + 1
        self._drain_buf = ffi.new("uint8_t[]", PY_DRAIN_BYTES)
        self.channel: Channel | None = None
        self.stopping = asyncio.Event()
        self.mux_port = 0
        self.queue_wakeups = 0   # times the loop's queue woke this thread
        self.queue_records = 0   # records taken from it
        self.stun_unrouted = 0   # STUN for no known ICE ufrag
        self.tcp_sockets: set[int] = set()   # socket ids of the ICE-TCP connections the loop holds
        self.tcp_handoffs = 0    # connections the node's acceptor handed over
        self.tcp_handoff_errors = 0
        self.handoff: socket.socket | None = None   # where they arrive (sfu.worker.process)
        self.ice_errors_closed = dict.fromkeys(ICE_ERROR_REASONS, 0)   # of transports gone already

    # -- setup -------------------------------------------------------------
    def start_native(self) -> None:
        a = self.args
        cfg = ffi.new("sfu_loop_config_t *")
        cfg.worker_id = self.worker_id
        cfg.n_workers = self.n_workers
        cfg.ring_slots = a.ring_slots
        cfg.to_py_bytes = PY_DRAIN_BYTES
        cfg.rx_batch = 32
        wake = [int(x) for x in a.wake_fds.split(",")] if a.wake_fds else []
        for i in range(64):
            cfg.wake_fds[i] = wake[i] if i < len(wake) else -1
        if a.shm_size:
            self._shm = shm.attach(a.shm_fd, a.shm_size)
            self._shm_base = ffi.from_buffer(self._shm)
            cfg.shm_base = self._shm_base
            cfg.shm_size = a.shm_size
        self.native = NativeLoop(cfg, f"sfu-loop-{self.worker_id}")
        srtp.bind()
        mux = _udp_socket(a.listen_ip, a.port)
        self.mux_port = mux.getsockname()[1]
        self.native.socket_open(MUX_SOCKET_ID, mux.detach())
        self.ipv6 = False
        if getattr(a, "ipv6", False) and a.listen_ip == "0.0.0.0":
            try:               # IPv6 peers on the same port number: the shared port's twin
                mux6 = _udp_socket("::", self.mux_port)
            except OSError as e:
                log.warning("worker %d: no IPv6 on port %d: %s", self.worker_id, self.mux_port, e)
            else:
                self.native.socket_open_udp6(MUX6_SOCKET_ID, mux6.detach(), MUX_SOCKET_ID)
                self.ipv6 = True
        self.native.start()

    def stop_native(self) -> None:
        if self.native is not None:
            self.native.close()
        for t in self.transports.values():
            if t.webrtc is not None:
                t.webrtc.abort()
            t.close_srtp()
        self.transports.clear()

    @property
    def nl(self) -> NativeLoop:
        """the C loop (started)"""
        if self.native is None:
            raise errors.InvalidStateError("the forwarding loop is not running")
        return self.native

    # -- control channel ---------------------------------------------------
    async def handle(self, method: str, data: dict) -> dict | None:
        fn = getattr(self, "on_" + method.lower(), None)
        if fn is None:
            raise messages.SchemaError(f"method {method} not served by this worker")
        result = fn(data)
        if asyncio.iscoroutine(result):
            result = await result
        return result

    def on_worker_stats(self, data: dict) -> dict:
        t = os.times()
        return {"worker": self.worker_id, "pid": os.getpid(), "cpu_user": t.user,
                "cpu_system": t.system, "stats": stats_dict(self.nl.stats()), "transports": len(self.transports),
                "queue_wakeups": self.queue_wakeups, "queue_records": self.queue_records,
                "stun_unrouted": self.stun_unrouted, "ice_errors": self._ice_errors(),
                "tcp": {"connections": len(self.tcp_sockets), "handoffs": self.tcp_handoffs,
                        "handoff_errors": self.tcp_handoff_errors},
                "webrtc": {str(t.id): t.webrtc.describe() for t in self.transports.values() if t.webrtc is not None},
                "bwe": self._bwe_by_transport()}

    def _ice_errors(self) -> dict[str, int]:
        """checks refused or dropped by the ICE agents of this worker, by reason, since it started"""
        out = dict(self.ice_errors_closed)
        for t in self.transports.values():
            if t.webrtc is not None:
                for k, v in t.webrtc.ice.stats.errors_by_reason.items():
                    out[k] += v
        return out

    def _bwe_by_transport(self) -> dict[str, dict]:
        """the send-side estimate of every transport that has one (TRANSPORT_STATS "bwe")"""
        out = {}
        for tid in list(self.transports):
            try:
                s, _ = self.nl.transport_bwe_stats(tid)
            except errors.SfuError:
                continue
            if s.estimate_bps:
                out[str(tid)] = bwe_stats_dict(s)
        return out

    def on_worker_shutdown(self, data: dict) -> dict:
        asyncio.get_running_loop().call_soon(self.stopping.set)
        return {}

    def on_transport_create(self, data: dict) -> dict:
        tid = int(data["id"])
        if tid in self.transports:
            raise errors.AlreadyExistsError(f"transport {tid} exists")
        kind = data["kind"]
        if kind not in ("plain", "webrtc"):
            raise messages.SchemaError(f"unknown transport kind {kind!r}")
        comedia = bool(data.get("comedia", False))
        flags = 0
        if kind == "webrtc":
            flags |= lib.SFU_TF_SRTP | lib.SFU_TF_TO_PY_ALL | lib.SFU_TF_RTCP
        elif data.get("rtcp"):   # plain: send SR/RR and answer NACKs too
            flags |= lib.SFU_TF_RTCP
        if comedia:
            flags |= lib.SFU_TF_COMEDIA
        socket_id, ip, port = MUX_SOCKET_ID, self.args.announced_ip, self.mux_port
        if comedia or data.get("own_socket"):
            s = _udp_socket(self.args.listen_ip, 0)
            port = s.getsockname()[1]
            socket_id = self._next_socket_id
            self._next_socket_id += 1
            self.nl.socket_open(socket_id, s.detach())
        try:
            self.nl.transport_create(tid, socket_id, flags)
        except errors.SfuError:
            if socket_id != MUX_SOCKET_ID:
                self.nl.socket_close(socket_id)
            raise
        t = WorkerTransport(tid, kind, socket_id, ip, port)
        self.transports[tid] = t
        if kind == "webrtc":
            ufrag, pwd = str(data["ice_ufrag"]), str(data["ice_pwd"])
            if ufrag in self.by_ufrag:
                self.nl.transport_close(tid)
                del self.transports[tid]
                raise errors.AlreadyExistsError("ICE ufrag in use")
            try:
                self.nl.transport_set_ice_ufrag(tid, ufrag)
            except errors.SfuError:
                self.nl.transport_close(tid)
                del self.transports[tid]
                raise
            t.webrtc = self._webrtc_session(t, ufrag, pwd)
            self.by_ufrag[ufrag] = t
            return {"ip": ip, "port": port, "fingerprint": WebRtcSession.fingerprint()}
        return {"ip": ip, "port": port}

    def _webrtc_session(self, t: WorkerTransport, ufrag: str, pwd: str) -> WebRtcSession:
        def send(data: bytes, addr: tuple) -> None:
            if self.native is None or not self.native.running:
                return
            if len(addr) > 2:          # an ICE-TCP path: (ip, port, its connection)
                try:
                    self.native.socket_send(addr[2], data)
                except errors.SfuError:
                    pass               # the connection closed meanwhile (its record is on the way)
            else:
                self.native.send_raw(t.socket_id, addr, data)

        def set_remote(addr: tuple) -> None:
            try:
                self.nl.transport_connect(t.id, addr)
            except errors.SfuError as e:
                log.warning("transport %d: cannot route %s: %s", t.id, addr, e)

        def add_addr(addr: tuple) -> None:
            try:
                self.nl.transport_add_addr(t.id, addr)
            except errors.SfuError as e:
                log.warning("transport %d: cannot accept %s: %s", t.id, addr, e)

        def set_srtp(profile: str, recv_key: bytes, send_key: bytes) -> None:
            self.on_transport_set_srtp({"id": t.id, "profile": profile, "recv_key": recv_key.hex(),
                                        "send_key": send_key.hex()})

        return WebRtcSession(t.id, ufrag, pwd, send=send, set_remote=set_remote, add_addr=add_addr,
                             set_srtp=set_srtp, emit=self._emit)

    def _webrtc(self, data: dict) -> WebRtcSession:
        t = self._transport(data)
        if t.webrtc is None:
            raise errors.InvalidStateError(f"transport {t.id} is not a WebRTC transport")
        return t.webrtc

    def on_transport_set_remote_params(self, data: dict) -> dict:
        s = self._webrtc(data)
        role = str(data["dtls_role"])
        if role not in ("client", "server"):
            raise messages.SchemaError("dtls_role must be client or server")
        extmap = {str(k): int(v) for k, v in dict(data["extmap"]).items()}
        s.set_remote_params(str(data["ice_ufrag"]), str(data["ice_pwd"]), [str(f) for f in data["fingerprints"]],
                            role, bool(data["sctp"]), list(data["open_channels"]))
        # transport-cc numbered media gets feedback; mid/rid name unknown SSRCs
        self.nl.transport_set_header_extensions(s.id, command_fields.header_extension_ids(extmap))
        return {}

    def on_transport_set_header_extensions(self, data: dict) -> dict:
        """the remote side's header extension ids, when they come later than its transport
        parameters (a subscriber's answer): with the transport-cc id, every packet sent to it
        is numbered for send-side bandwidth estimation"""
        t = self._transport(data)
        extmap = {str(k): int(v) for k, v in dict(data["extmap"]).items()}
        self.nl.transport_set_header_extensions(t.id, command_fields.header_extension_ids(extmap))
        return {}

    def on_transport_set_wanted_bitrate(self, data: dict) -> dict:
        """what the stream allocator would send on this transport (bit/s); the first turns on
        its pacer and probes (congestion control)"""
        t = self._transport(data)
        bitrate = int(data["bitrate"])
        if bitrate < 0:
            raise messages.SchemaError("bitrate must be >= 0")
        self.nl.transport_set_wanted_bitrate(t.id, bitrate)
        return {}

    def on_transport_ice_restart(self, data: dict) -> dict:
        t = self._transport(data)
        s = self._webrtc(data)
        ufrag = str(data["ice_ufrag"])
        if ufrag in self.by_ufrag and self.by_ufrag[ufrag] is not t:
            raise errors.AlreadyExistsError("ICE ufrag in use")
        self.nl.transport_set_ice_ufrag(t.id, ufrag)
        self.by_ufrag.pop(s.ice.local_ufrag, None)
        s.ice_restart(ufrag, str(data["ice_pwd"]), str(data["remote_ufrag"]) or None, str(data["remote_pwd"]) or None)
        self.by_ufrag[ufrag] = t
        return {}

    def on_transport_set_remote_ice(self, data: dict) -> dict:
        self._webrtc(data).ice.set_remote_credentials(str(data["ice_ufrag"]), str(data["ice_pwd"]))
        return {}

    def on_transport_send_data(self, data: dict) -> dict:
        label, payload = str(data["label"]), base64.b64decode(data["data"])
        sent = []
        for tid in data["ids"]:
            t = self.transports.get(int(tid))
            if t is not None and t.webrtc is not None and t.webrtc.send_data(label, payload):
                sent.append(int(tid))
        return {"sent": sent}

    def _transport(self, data: dict, key: str = "id") -> WorkerTransport:
        t = self.transports.get(int(data[key]))
        if t is None:
            raise errors.NotFoundError(f"transport {data[key]} not found")
        return t

    def on_transport_stats(self, data: dict) -> dict:
        """the send-side bandwidth estimate of the transport (None before it sent a numbered packet
        or received a REMB) and the packets the transport-wide sequence number did not fit in"""
        t = self._transport(data)
        s, unstamped = self.nl.transport_bwe_stats(t.id)
        return {"bwe": bwe_stats_dict(s) if s.estimate_bps else None, "bwe_unstamped": unstamped}

    def on_transport_connect(self, data: dict) -> dict:
        t = self._transport(data)
        self.nl.transport_connect(t.id, (data["ip"], int(data["port"])))
        return {}

    def on_transport_set_srtp(self, data: dict) -> dict:
        t = self._transport(data)
        profile = data["profile"]
        recv = srtp.Session(profile, bytes.fromhex(data["recv_key"]), outbound=False)
        send = srtp.Session(profile, bytes.fromhex(data["send_key"]), outbound=True)
        self.nl.transport_set_srtp(t.id, recv.as_c(), send.as_c())
        old = (t.recv_srtp, t.send_srtp)
        t.recv_srtp, t.send_srtp = recv, send
        for s in old:  # the loop applied the switch: the old sessions are unused
            if s is not None:
                s.close()
        return {}

    async def on_transport_close(self, data: dict) -> dict:
        t = self._transport(data)
        if t.webrtc is not None:
            await t.webrtc.close()
            self.by_ufrag.pop(t.webrtc.ice.local_ufrag, None)
            for k, v in t.webrtc.ice.stats.errors_by_reason.items():
                self.ice_errors_closed[k] += v
        self.nl.transport_close(t.id)
        if t.socket_id != MUX_SOCKET_ID:
            self.nl.socket_close(t.socket_id)
        t.close_srtp()
        del self.transports[t.id]
        return {}

    def _mask(self, workers: list[int]) -> int:
        return command_fields.remote_workers(workers, self.n_workers, self.worker_id)

    def on_producer_create(self, data: dict) -> dict:
        self._transport(data, "transport_id")
        self.nl.producer_create(int(data["id"]), int(data["transport_id"]), int(data["ssrc"]),
                                int(data["payload_type"]), command_fields.kind(data["kind"]),
                                command_fields.codec(data.get("codec")), self._mask(data["remote_workers"]),
                                *command_fields.rtx(data), command_fields.payload_type(data, "red_payload_type"),
                                command_fields.extension_id(data, "dd_ext_id"))
        return {}

    def on_producer_set_rtx(self, data: dict) -> dict:
        rtx_ssrc, rtx_payload_type = command_fields.rtx(data)
        if not rtx_ssrc:
            raise messages.SchemaError("rtx_ssrc must be 1..2^32-1")
        self.nl.producer_set_rtx(int(data["id"]), rtx_ssrc, rtx_payload_type)
        return {}

    def on_producer_set_remote_workers(self, data: dict) -> dict:
        self.nl.producer_set_remote_workers(int(data["id"]), self._mask(data["remote_workers"]))
        return {}

    def on_producer_close(self, data: dict) -> dict:
        self.nl.producer_close(int(data["id"]))
        return {}

    def on_producer_stats(self, data: dict) -> dict:
        return stream_stats_dict(self.nl.producer_stats(int(data["id"])))

    def on_producer_audio_level(self, data: dict) -> dict:
        s = self.nl.producer_audio_level(int(data["id"]))
        return {"packets": int(s.packets), "loud": int(s.loud), "loud_dbov_sum": int(s.loud_dbov_sum)}

    def on_remote_producer_create(self, data: dict) -> dict:
        self.nl.remote_producer_create(int(data["id"]), int(data["worker"]), int(data["ssrc"]),
                                       command_fields.kind(data["kind"]), command_fields.codec(data.get("codec")),
                                       command_fields.extension_id(data, "dd_ext_id"))
        return {}

    def on_remote_producer_close(self, data: dict) -> dict:
        self.nl.remote_producer_close(int(data["id"]))
        return {}

    def on_consumer_create(self, data: dict) -> dict:
        self._transport(data, "transport_id")
        ext: dict | None = data.get("ext_map")   # {incoming id: outgoing id}; absent = keep as is
        table = [0] * 16
        if ext is not None:
            for k, v in ext.items():
                if not (1 <= int(k) <= 14 and 0 <= int(v) <= 14):
                    raise messages.SchemaError("header extension ids must be 1..14")
                table[int(k)] = int(v)
        self.nl.consumer_create(int(data["id"]), int(data["transport_id"]), int(data["producer_id"]),
                                int(data["ssrc"]), int(data["payload_type"]), int(data["seq_start"]),
                                int(data["ts_offset"]), bool(data["paused"]), table if ext is not None else None,
                                *command_fields.rtx(data))
        return {}

    def on_consumer_set_paused(self, data: dict) -> dict:
        self.nl.consumer_set_paused(int(data["id"]), bool(data["paused"]))
        return {}

    def on_consumer_set_producer(self, data: dict) -> dict:
        self.nl.consumer_set_producer(int(data["id"]), int(data["producer_id"]))
        return {}

    def on_consumer_set_rtx(self, data: dict) -> dict:
        self.nl.consumer_set_rtx(int(data["id"]), *command_fields.rtx(data))
        return {}

    def on_consumer_set_red(self, data: dict) -> dict:
        self.nl.consumer_set_red(int(data["id"]), command_fields.payload_type(data, "red_payload_type"))
        return {}

    def on_consumer_set_layers(self, data: dict) -> dict:
        self.nl.consumer_set_layers(int(data["id"]), command_fields.layer(data, "spatial_layer"),
                                    command_fields.layer(data, "temporal_layer"))
        return {}

    def on_consumer_request_key_frame(self, data: dict) -> dict:
        self.nl.consumer_request_key_frame(int(data["id"]))
        return {}

    def on_consumer_close(self, data: dict) -> dict:
        self.nl.consumer_close(int(data["id"]))
        return {}

    def on_consumer_stats(self, data: dict) -> dict:
        return stream_stats_dict(self.nl.consumer_stats(int(data["id"])))

    def on_peer_reset(self, data: dict) -> dict:
        self.nl.peer_reset(int(data["worker"]))
        return {}

    # -- ICE-TCP connections from the node's acceptor (sfu.worker.ice_tcp) ----
    def handoff_readable(self) -> None:
        """each message: one accepted connection (its fd) and the bytes read from it so far"""
        assert self.handoff is not None
        for _ in range(64):
            try:
                data, fds, _flags, _ = socket.recv_fds(self.handoff, lib.SFU_TCP_OPEN_DATA_MAX, 4)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:
                log.warning("ICE-TCP hand-off socket: %s", e)
                asyncio.get_running_loop().remove_reader(self.handoff.fileno())
                return
            if not data and not fds:       # the main process closed its end
                asyncio.get_running_loop().remove_reader(self.handoff.fileno())
                return
            if len(fds) != 1 or self.native is None:
                for fd in fds:
                    os.close(fd)
                self.tcp_handoff_errors += 1
                continue
            sid = self._next_socket_id
            self._next_socket_id += 1
            try:
                self.nl.socket_open_tcp(sid, fds[0], data)   # the loop owns (and closes) the fd
            except errors.SfuError as e:
                log.warning("ICE-TCP connection refused by the loop: %s", e)
                self.tcp_handoff_errors += 1
                continue
            self.tcp_sockets.add(sid)
            self.tcp_handoffs += 1

    # -- loop -> Python queue ----------------------------------------------
    def on_queue_readable(self) -> None:
        self.queue_wakeups += 1
        while True:
            n = self.nl.queue_drain(self._drain_buf, PY_DRAIN_BYTES)
            if n > 0:
                self._dispatch_records(int(n))
                continue
            if not self.nl.queue_arm():
                return

    def _dispatch_records(self, n: int) -> None:
        for rec, addr, payload in queue_records.walk(self._drain_buf, n):
            self.queue_records += 1
            sid = int(rec.socket_id)
            if sid in self.tcp_sockets:    # an ICE-TCP path: the connection is part of the address
                addr = (addr[0], addr[1], sid)
            if rec.kind == lib.SFU_REC_TCP_CLOSED:
                self.tcp_sockets.discard(sid)
                t = self.transports.get(int(rec.transport_id))
                if t is not None and t.webrtc is not None:
                    t.webrtc.on_path_closed(addr)
            elif rec.kind == lib.SFU_REC_TRANSPORT_REMOTE_LEARNED:
                self._emit("transport_remote_learned", {"id": int(rec.transport_id), "ip": addr[0], "port": addr[1]})
            elif rec.kind in queue_records.PRODUCER_EVENTS:
                self._emit(queue_records.PRODUCER_EVENTS[rec.kind],
                           {"id": int(rec.transport_id), "producer_id": int(rec.arg)})
            elif rec.kind == lib.SFU_REC_TRANSPORT_BWE:
                self._emit("transport_bwe", {"id": int(rec.transport_id), **queue_records.bwe_fields(payload)})
            else:
                try:
                    self._dispatch_packet(rec, addr, payload)
                except Exception:  # bad input from one peer must not stop the queue
                    log.exception("control packet from %s dropped", addr)

    def _emit(self, event: str, data: dict) -> None:
        if self.channel is not None:
            self.channel.emit(event, data)

    def _dispatch_packet(self, rec: Any, addr: tuple, payload: bytes) -> None:
        t = self.transports.get(int(rec.transport_id)) if rec.transport_id else None
        if rec.kind == lib.SFU_REC_UNKNOWN_SSRC:
            if t is not None and t.webrtc is not None:
                self._emit("unknown_ssrc", {"id": t.id, **queue_records.unknown_ssrc_fields(payload)})
            return
        if rec.pkt_class == lib.SFU_PKT_STUN:
            if t is None:  # first contact from this address: route by the ufrag we gave out
                ufrag = extract_local_ufrag(payload)
                t = self.by_ufrag.get(ufrag) if ufrag else None
            if t is not None and t.webrtc is not None:
                t.webrtc.on_stun(payload, addr)
            else:
                self.stun_unrouted += 1
        elif rec.pkt_class == lib.SFU_PKT_DTLS and t is not None and t.webrtc is not None:
            t.webrtc.on_dtls(payload, addr)


async def _amain(args: argparse.Namespace) -> int:
    w = Worker(args)
    try:
        w.start_native()
    except OSError as e:
        log.error("worker %d: cannot bind UDP %s:%d: %s", args.worker_id, args.listen_ip, args.port, e)
        return EXIT_BIND
    except Exception as e:
        log.error("worker %d: native init failed: %s", args.worker_id, e)
        return EXIT_NATIVE
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, w.stopping.set)
    loop.add_signal_handler(signal.SIGINT, lambda: None)  # the main process decides
    sock = socket.socket(fileno=args.channel_fd)
    ch = Channel(sock, f"worker-{args.worker_id}", handler=w.handle)
    w.channel = ch
    await ch.start()
    py_fd = w.nl.queue_fd()
    loop.add_reader(py_fd, w.on_queue_readable)
    if args.handoff_fd >= 0:
        w.handoff = socket.socket(fileno=args.handoff_fd)
        w.handoff.setblocking(False)
        loop.add_reader(w.handoff.fileno(), w.handoff_readable)
    w.nl.queue_arm()
    ch.emit("ready", {"worker": args.worker_id, "pid": os.getpid(), "version": messages.PROTOCOL_VERSION,
                      "ip": args.announced_ip, "port": w.mux_port, "ipv6": w.ipv6})
    stop = loop.create_task(w.stopping.wait())
    closed = loop.create_task(ch.closed.wait())
    await asyncio.wait({stop, closed}, return_when=asyncio.FIRST_COMPLETED)
    loop.remove_reader(py_fd)
    w.stop_native()
    await ch.close()
    return 0


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="sfu-worker")
    p.add_argument("--worker-id", type=int, required=True)
    p.add_argument("--n-workers", type=int, required=True)
    p.add_argument("--channel-fd", type=int, required=True)
    p.add_argument("--handoff-fd", type=int, default=-1)
    p.add_argument("--shm-fd", type=int, default=-1)
    p.add_argument("--shm-size", type=int, default=0)
    p.add_argument("--ring-slots", type=int, default=shm.DEFAULT_RING_SLOTS)
    p.add_argument("--wake-fds", default="")
    p.add_argument("--listen-ip", default="127.0.0.1")
    p.add_argument("--announced-ip", default="")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--ipv6", action="store_true", help="also listen on [::] (the same port), for IPv6 peers")
    p.add_argument("--parent-pid", type=int, required=True)
    p.add_argument("--version", type=int, required=True)
    p.add_argument("--log-level", default="INFO")
    try:
        args = p.parse_args(argv)
    except SystemExit:
        sys.exit(EXIT_BAD_ARGS)
    logging.basicConfig(level=args.log_level, format=f"%(asctime)s worker-{args.worker_id} %(name)s %(levelname)s %(message)s")
    if args.version != messages.PROTOCOL_VERSION:
        log.error("channel protocol %d expected, parent speaks %d", messages.PROTOCOL_VERSION, args.version)
        sys.exit(EXIT_BAD_ARGS)
    _die_with_parent(args.parent_pid)
    args.announced_ip = args.announced_ip or args.listen_ip
    try:
        import uvloop

        rc = uvloop.run(_amain(args))
    except KeyboardInterrupt:
        rc = 0
    sys.exit(rc)


if __name__ == "__main__":
    main()
