"""NativeLoop: the typed Python side of one worker's C forwarding loop.

The only place that builds C commands (sfu_cmd_t, csrc/loop/commands.c): one
method per SFU_CMD_* with the command's name in lower case and its fields as
arguments, so a command's name and fields read the same in C, here and in the
channel schema (sfu.worker.messages).  It also owns the loop's lifetime (new,
its thread, stop, free) and the calls that read from it (stats, the queue).
tests/unit/test_worker_schema.py checks that every C command has its method and
that each method is used.
"""

from __future__ import annotations

import threading
from typing import Any

from .. import errors
from ..native import addr_to_c, check, ffi, lib

# a peer's address: (ip, port) on the transport's UDP socket, or (ip, port, socket_id) on the
# ICE-TCP connection socket_id (one path of the transport each)
Addr = tuple


class NativeLoop:
    def __init__(self, cfg: Any, name: str) -> None:
        self.ptr = lib.sfu_loop_new(cfg)
        if self.ptr == ffi.NULL:
            raise RuntimeError("sfu_loop_new failed")
        self._thread: threading.Thread | None = None
        self._name = name

    # -- lifetime ----------------------------------------------------------------------------
    def start(self) -> None:
        """run the loop in a thread of its own (the GIL is released for the whole call)"""
        self._thread = threading.Thread(target=lib.sfu_loop_run, args=(self.ptr,), name=self._name, daemon=True)
        self._thread.start()

    def close(self) -> None:
        if self.ptr == ffi.NULL:
            return
        lib.sfu_loop_stop(self.ptr)
        if self._thread is not None:
            self._thread.join(5)
        lib.sfu_loop_free(self.ptr)
        self.ptr = ffi.NULL

    @property
    def running(self) -> bool:
        return self.ptr != ffi.NULL

    # -- commands (SFU_CMD_*) ----------------------------------------------------------------
    def _command(self, ctype: int, name: str, **fields: Any) -> None:
        c = ffi.new("sfu_cmd_t *")
        c.type = ctype
        for k, v in fields.items():
            setattr(c, k, v)
        check(lib.sfu_loop_command(self.ptr, c), name)

    def _addressed(self, ctype: int, name: str, tid: int, addr: Addr) -> None:
        c = ffi.new("sfu_cmd_t *")
        c.type, c.id = ctype, tid
        c.socket_id = addr[2] if len(addr) > 2 else 0
        addr_to_c(addr[0], addr[1], ffi.addressof(c, "addr"))
        check(lib.sfu_loop_command(self.ptr, c), name)

    def socket_open(self, socket_id: int, fd: int) -> None:
        """a UDP socket: the loop owns it from now on"""
        self._command(lib.SFU_CMD_SOCKET_OPEN, "SOCKET_OPEN", id=socket_id, fd=fd, flags=lib.SFU_SOCK_UDP)

    def socket_open_udp6(self, socket_id: int, fd: int, v4_socket_id: int) -> None:
        """an IPv6 UDP socket, the twin of v4_socket_id on the same port: the transports of that
        socket reach and hear IPv6 peers through it"""
        self._command(lib.SFU_CMD_SOCKET_OPEN, "SOCKET_OPEN", id=socket_id, fd=fd, flags=lib.SFU_SOCK_UDP,
                      socket_id=v4_socket_id)

    def socket_open_tcp(self, socket_id: int, fd: int, data: bytes) -> None:
        """an ICE-TCP connection and the bytes its acceptor read from it: the loop owns it from
        now on (it closes it when this fails too)"""
        c = ffi.new("sfu_cmd_t *")
        buf = ffi.from_buffer(data)
        c.type, c.id, c.fd, c.flags = lib.SFU_CMD_SOCKET_OPEN, socket_id, fd, lib.SFU_SOCK_TCP
        c.data, c.data_len = ffi.cast("const uint8_t *", buf), len(data)
        check(lib.sfu_loop_command(self.ptr, c), "SOCKET_OPEN")

    def socket_send(self, socket_id: int, data: bytes) -> None:
        """a control-plane packet on an ICE-TCP connection (framed there)"""
        c = ffi.new("sfu_cmd_t *")
        buf = ffi.from_buffer(data)
        c.type, c.id = lib.SFU_CMD_SOCKET_SEND, socket_id
        c.data, c.data_len = ffi.cast("const uint8_t *", buf), len(data)
        check(lib.sfu_loop_command(self.ptr, c), "SOCKET_SEND")

    def socket_close(self, socket_id: int) -> None:
        self._command(lib.SFU_CMD_SOCKET_CLOSE, "SOCKET_CLOSE", id=socket_id)

    def transport_create(self, tid: int, socket_id: int, flags: int) -> None:
        self._command(lib.SFU_CMD_TRANSPORT_CREATE, "TRANSPORT_CREATE", id=tid, socket_id=socket_id, flags=flags)

    def transport_set_ice_ufrag(self, tid: int, ufrag: str) -> None:
        """our ICE ufrag for the transport: a STUN check from a new address reaches us only
        when its USERNAME names it"""
        raw = ufrag.encode()
        if not 0 < len(raw) <= lib.SFU_ICE_UFRAG_MAX:
            raise errors.ProtocolError(f"ICE ufrag of {len(raw)} bytes")
        c = ffi.new("sfu_cmd_t *")
        c.type, c.id, c.ice_ufrag_len = lib.SFU_CMD_TRANSPORT_SET_ICE_UFRAG, tid, len(raw)
        ffi.memmove(c.ice_ufrag, raw, len(raw))
        check(lib.sfu_loop_command(self.ptr, c), "TRANSPORT_SET_ICE_UFRAG")

    def transport_connect(self, tid: int, addr: Addr) -> None:
        """send to addr (and accept from it); on its ICE-TCP connection when it names one"""
        self._addressed(lib.SFU_CMD_TRANSPORT_CONNECT, "TRANSPORT_CONNECT", tid, addr)

    def transport_add_addr(self, tid: int, addr: Addr) -> None:
        """also accept packets from addr (another ICE candidate pair)"""
        self._addressed(lib.SFU_CMD_TRANSPORT_ADD_ADDR, "TRANSPORT_ADD_ADDR", tid, addr)

    def transport_set_srtp(self, tid: int, recv_srtp: Any, send_srtp: Any) -> None:
        self._command(lib.SFU_CMD_TRANSPORT_SET_SRTP, "TRANSPORT_SET_SRTP", id=tid, recv_srtp=recv_srtp,
                      send_srtp=send_srtp)

    def transport_set_header_extensions(self, tid: int, header_extensions: dict[str, int]) -> None:
        """the ids (sfu_header_ext_ids_t fields) of the extensions the data plane reads in incoming media"""
        c = ffi.new("sfu_cmd_t *")
        c.type, c.id = lib.SFU_CMD_TRANSPORT_SET_HEADER_EXTENSIONS, tid
        for name, ext_id in header_extensions.items():
            setattr(c.header_extensions, name, ext_id)
        check(lib.sfu_loop_command(self.ptr, c), "TRANSPORT_SET_HEADER_EXTENSIONS")

    def transport_set_wanted_bitrate(self, tid: int, bitrate: int) -> None:
        self._command(lib.SFU_CMD_TRANSPORT_SET_WANTED_BITRATE, "TRANSPORT_SET_WANTED_BITRATE", id=tid,
                      bitrate=bitrate)

    def transport_close(self, tid: int) -> None:
        self._command(lib.SFU_CMD_TRANSPORT_CLOSE, "TRANSPORT_CLOSE", id=tid)

    def producer_create(self, pid: int, transport_id: int, ssrc: int, payload_type: int, kind: int, codec: int,
                        remote_workers: int, rtx_ssrc: int = 0, rtx_payload_type: int = 0,
                        red_payload_type: int = 0, dd_ext_id: int = 0) -> None:
        """rtx_ssrc: the publisher's RTX stream (0 = none); red_payload_type: its RED (0 = none);
        dd_ext_id: its dependency descriptor's extension id (0 = none)"""
        self._command(lib.SFU_CMD_PRODUCER_CREATE, "PRODUCER_CREATE", id=pid, transport_id=transport_id, ssrc=ssrc,
                      payload_type=payload_type, kind=kind, codec=codec, remote_workers=remote_workers,
                      rtx_ssrc=rtx_ssrc, rtx_payload_type=rtx_payload_type, red_payload_type=red_payload_type,
                      dd_ext_id=dd_ext_id)

    def producer_set_rtx(self, pid: int, rtx_ssrc: int, rtx_payload_type: int) -> None:
        self._command(lib.SFU_CMD_PRODUCER_SET_RTX, "PRODUCER_SET_RTX", id=pid, rtx_ssrc=rtx_ssrc,
                      rtx_payload_type=rtx_payload_type)

    def producer_set_remote_workers(self, pid: int, remote_workers: int) -> None:
        self._command(lib.SFU_CMD_PRODUCER_SET_REMOTE_WORKERS, "PRODUCER_SET_REMOTE_WORKERS", id=pid,
                      remote_workers=remote_workers)

    def producer_close(self, pid: int) -> None:
        self._command(lib.SFU_CMD_PRODUCER_CLOSE, "PRODUCER_CLOSE", id=pid)

    def remote_producer_create(self, pid: int, worker: int, ssrc: int, kind: int, codec: int,
                               dd_ext_id: int = 0) -> None:
        self._command(lib.SFU_CMD_REMOTE_PRODUCER_CREATE, "REMOTE_PRODUCER_CREATE", id=pid, worker=worker, ssrc=ssrc,
                      kind=kind, codec=codec, dd_ext_id=dd_ext_id)

    def remote_producer_close(self, pid: int) -> None:
        self._command(lib.SFU_CMD_REMOTE_PRODUCER_CLOSE, "REMOTE_PRODUCER_CLOSE", id=pid)

    def consumer_create(self, cid: int, transport_id: int, producer_id: int, ssrc: int, payload_type: int,
                        seq_start: int, ts_offset: int, paused: bool, ext_map: list[int] | None, rtx_ssrc: int = 0,
                        rtx_payload_type: int = 0) -> None:
        """ext_map: outgoing header extension id by incoming id (0 = remove), None = leave them;
        rtx_ssrc: NACKs are answered as RTX on it (0 = plain copies)"""
        c = ffi.new("sfu_cmd_t *")
        c.type, c.id, c.transport_id, c.producer_id = lib.SFU_CMD_CONSUMER_CREATE, cid, transport_id, producer_id
        c.ssrc, c.payload_type, c.paused = ssrc, payload_type, 1 if paused else 0
        c.seq_start, c.ts_offset = seq_start & 0xFFFF, ts_offset & 0xFFFFFFFF
        c.rtx_ssrc, c.rtx_payload_type = rtx_ssrc, rtx_payload_type
        if ext_map is not None:
            c.ext_rewrite = 1
            for i, out in enumerate(ext_map):
                c.ext_map[i] = out
        check(lib.sfu_loop_command(self.ptr, c), "CONSUMER_CREATE")

    def consumer_set_paused(self, cid: int, paused: bool) -> None:
        self._command(lib.SFU_CMD_CONSUMER_SET_PAUSED, "CONSUMER_SET_PAUSED", id=cid, paused=1 if paused else 0)

    def consumer_set_producer(self, cid: int, producer_id: int) -> None:
        """switch source (a simulcast layer); output seq/ts stay continuous"""
        self._command(lib.SFU_CMD_CONSUMER_SET_PRODUCER, "CONSUMER_SET_PRODUCER", id=cid, producer_id=producer_id)

    def consumer_set_rtx(self, cid: int, rtx_ssrc: int, rtx_payload_type: int) -> None:
        """NACKs answered as RTX on rtx_ssrc (0: plain copies)"""
        self._command(lib.SFU_CMD_CONSUMER_SET_RTX, "CONSUMER_SET_RTX", id=cid, rtx_ssrc=rtx_ssrc,
                      rtx_payload_type=rtx_payload_type)

    def consumer_set_red(self, cid: int, red_payload_type: int) -> None:
        """audio sent as RED on red_payload_type (0: plain)"""
        self._command(lib.SFU_CMD_CONSUMER_SET_RED, "CONSUMER_SET_RED", id=cid, red_payload_type=red_payload_type)

    def consumer_set_layers(self, cid: int, spatial: int, temporal: int) -> None:
        """a scalable stream: the highest spatial and temporal layers forwarded (-1: every layer)"""
        self._command(lib.SFU_CMD_CONSUMER_SET_LAYERS, "CONSUMER_SET_LAYERS", id=cid, spatial_layer=spatial,
                      temporal_layer=temporal)

    def consumer_request_key_frame(self, cid: int) -> None:
        self._command(lib.SFU_CMD_CONSUMER_REQUEST_KEY_FRAME, "CONSUMER_REQUEST_KEY_FRAME", id=cid)

    def consumer_close(self, cid: int) -> None:
        self._command(lib.SFU_CMD_CONSUMER_CLOSE, "CONSUMER_CLOSE", id=cid)

    def peer_reset(self, worker: int) -> None:
        """that worker restarted: drop what it had queued for us"""
        self._command(lib.SFU_CMD_PEER_RESET, "PEER_RESET", worker=worker)

    # -- reads and raw sends -----------------------------------------------------------------
    def stats(self) -> Any:
        s = ffi.new("sfu_stats_t *")
        lib.sfu_loop_get_stats(self.ptr, s)
        return s

    def producer_stats(self, pid: int) -> Any:
        s = ffi.new("sfu_stream_stats_t *")
        check(lib.sfu_loop_producer_stats(self.ptr, pid, s), "producer stats")
        return s

    def producer_audio_level(self, pid: int) -> Any:
        s = ffi.new("sfu_audio_level_stats_t *")
        check(lib.sfu_loop_producer_audio_level(self.ptr, pid, s), "producer audio level")
        return s

    def consumer_stats(self, cid: int) -> Any:
        s = ffi.new("sfu_stream_stats_t *")
        check(lib.sfu_loop_consumer_stats(self.ptr, cid, s), "consumer stats")
        return s

    def transport_bwe_stats(self, tid: int) -> tuple[Any, int]:
        """the transport's send-side estimate (sfu_bwe_stats_t) and how many packets the
        transport-wide sequence number did not fit in"""
        s = ffi.new("sfu_bwe_stats_t *")
        unstamped = ffi.new("uint64_t *")
        check(lib.sfu_loop_transport_bwe_stats(self.ptr, tid, s, unstamped), "transport stats")
        return s, int(unstamped[0])

    def send_raw(self, socket_id: int, addr: Addr, data: bytes) -> None:
        """a datagram from Python (STUN, DTLS) out of the loop's UDP socket socket_id
        (ICE-TCP connections: socket_send)"""
        lib.sfu_loop_send_raw(self.ptr, socket_id, addr_to_c(addr[0], addr[1]), data, len(data))

    def queue_fd(self) -> int:
        return lib.sfu_loop_py_fd(self.ptr)

    def queue_arm(self) -> bool:
        """True when armed (the loop writes the eventfd next time); False: more records are waiting"""
        return bool(lib.sfu_loop_py_arm(self.ptr))

    def queue_drain(self, buf: Any, size: int) -> int:
        return lib.sfu_loop_py_drain(self.ptr, buf, size)
