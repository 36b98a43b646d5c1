"""Python mirrors of the data plane's objects: lifecycle and parameters only.

A Router is one room's media: its transports may live on any worker, and a
producer on worker A reaches consumers on worker B through the shared ring
A -> B (the main process tells A which workers need the producer and tells
B about the "remote producer").  No per-packet work happens here.

close() is user-initiated (sends requests); the *_closed() cascades run when
a parent is gone (no requests for the dead part).
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import logging
import random
from typing import Any, Callable

from .. import errors
from ..worker.process import WorkerDeath, WorkerHandle, WorkerPool

log = logging.getLogger("sfu.media")

SWITCH_GRACE = 3.0   # seconds a consumer's previous remote source is kept after a switch


class MediaService:
    """Owns the worker pool, id allocation, worker placement and routers."""

    def __init__(self, pool: WorkerPool) -> None:
        self.pool = pool
        self._ids = itertools.count(1)
        self.routers: dict[str, Router] = {}
        self.transports: dict[int, Transport] = {}
        self.ice_ufrags: dict[str, Transport] = {}   # our ICE ufrag -> its WebRTC transport (ICE-TCP hand-off)
        self.ice_tcp_port = 0                          # the node's passive ICE-TCP port (0: none)
        self._per_worker: collections.Counter[int] = collections.Counter()   # worker index -> transports
        pool.on_died(self._worker_died)
        pool.on_event(self._worker_event)

    def next_id(self) -> int:
        return next(self._ids) & 0xFFFFFFFF or next(self._ids)

    def router(self, name: str) -> Router:
        r = self.routers.get(name)
        if r is None:
            r = self.routers[name] = Router(self, name)
        return r

    def pick_worker(self) -> WorkerHandle:
        """the live worker with the fewest transports"""
        live = [w for w in self.pool.workers if w.alive]
        if not live:
            raise errors.WorkerDiedError("no media worker is running")
        return min(live, key=lambda w: (self._per_worker[w.index], w.index))

    def add_transport(self, t: Transport) -> None:
        self.transports[t.id] = t
        self._per_worker[t.worker.index] += 1

    def forget_transport(self, t: Transport) -> None:
        if self.transports.get(t.id) is t:
            del self.transports[t.id]
            self._per_worker[t.worker.index] -= 1
        if t.ice_ufrag and self.ice_ufrags.get(t.ice_ufrag) is t:
            del self.ice_ufrags[t.ice_ufrag]

    def worker_for_ufrag(self, ufrag: str) -> int | None:
        """the worker holding the WebRTC transport whose ICE ufrag this is"""
        t = self.ice_ufrags.get(ufrag)
        return t.worker.index if t is not None and not t.closed else None

    def _worker_died(self, death: WorkerDeath) -> None:
        dead = [t for t in self.transports.values() if t.worker.index == death.index]
        for t in dead:
            t.worker_closed()
        # producers elsewhere must stop feeding consumers that lived there
        for t in list(self.transports.values()):
            for p in list(t.producers.values()):
                if death.index in p.remote_refs:
                    p.remote_refs.pop(death.index, None)
                    p.schedule_remote_workers_update()

    def _worker_event(self, worker: int, event: str, data: dict) -> None:
        t = self.transports.get(int(data.get("id", 0)))
        if t is None or t.worker.index != worker:
            return
        if event == "transport_remote_learned":
            t.remote = (data["ip"], int(data["port"]))
        for fn in list(t.listeners):
            try:
                fn(event, data)
            except Exception:
                log.exception("transport %d: %s listener failed", t.id, event)


class Router:
    def __init__(self, service: MediaService, name: str) -> None:
        self.service = service
        self.name = name
        self.transports: dict[int, Transport] = {}
        self.closed = False

    async def create_plain_transport(self, worker: int | None = None, comedia: bool = False,
                                     own_socket: bool = False, rtcp: bool = False) -> Transport:
        """A transport for RTP without WebRTC (ffmpeg, gstreamer, benches).

        By default it shares the worker's UDP port and needs connect() with
        the peer's address; `comedia` gives it a port of its own and learns
        the peer from the first RTP/RTCP packet.  `rtcp` turns on sender and
        receiver reports and NACK answers (on by default for WebRTC).
        """
        return await self._create_transport("plain", worker, {"comedia": comedia, "own_socket": own_socket,
                                                              "rtcp": rtcp})

    async def create_webrtc_transport(self, ice_ufrag: str, ice_pwd: str, worker: int | None = None) -> Transport:
        """ICE-lite + DTLS-SRTP (+ SCTP) transport; `fingerprint` is the worker's certificate"""
        t = await self._create_transport("webrtc", worker, {"ice_ufrag": ice_ufrag, "ice_pwd": ice_pwd})
        t.set_ice_ufrag(ice_ufrag)
        if self.service.ice_tcp_port:
            t.tcp_port = self.service.ice_tcp_port
        return t

    async def _create_transport(self, kind: str, worker: int | None, extra: dict) -> Transport:
        if self.closed:
            raise errors.InvalidStateError(f"router {self.name} closed")
        svc = self.service
        w = svc.pool.worker(worker) if worker is not None else svc.pick_worker()
        tid = svc.next_id()
        info = await w.request("TRANSPORT_CREATE", {"id": tid, "kind": kind, **extra})
        t = Transport(self, w, tid, kind, info["ip"], int(info["port"]))
        t.fingerprint = info.get("fingerprint", "")
        ips = getattr(svc.pool, "announced_ips", None)
        if kind == "webrtc" and ips and info["ip"] == ips[0]:     # on the worker's shared port
            t.ips = [a for a in ips if ":" not in a or w.ipv6]      # IPv6 where it listens on [::]
        self.transports[tid] = t
        svc.add_transport(t)
        return t

    async def close(self) -> None:
        self.closed = True
        for t in list(self.transports.values()):
            await t.close()
        self.service.routers.pop(self.name, None)


class Transport:
    def __init__(self, router: Router, worker: WorkerHandle, tid: int, kind: str, ip: str, port: int) -> None:
        self.router = router
        self.worker = worker
        self.id = tid
        self.kind = kind
        self.ip = ip
        self.ips = [ip]              # WebRTC: one host candidate per announced address, on `port`
        self.port = port
        self.tcp_port = 0            # WebRTC: the node's passive ICE-TCP port, on the same addresses (0: none)
        self.ice_ufrag = ""          # WebRTC: our current ICE ufrag
        self.remote: tuple[str, int] | None = None
        self.fingerprint = ""
        self.producers: dict[int, Producer] = {}
        self.consumers: dict[int, Consumer] = {}
        self.closed = False
        self.listeners: list[Callable[[str, Any], None]] = []

    def _check(self) -> None:
        if self.closed:
            raise errors.InvalidStateError(f"transport {self.id} closed")

    def set_ice_ufrag(self, ufrag: str) -> None:
        """our ICE ufrag is now `ufrag` (created, or an ICE restart): ICE-TCP connections naming it
        go to this transport's worker"""
        svc = self.router.service
        if self.ice_ufrag and svc.ice_ufrags.get(self.ice_ufrag) is self:
            del svc.ice_ufrags[self.ice_ufrag]
        self.ice_ufrag = ufrag
        if not self.closed:
            svc.ice_ufrags[ufrag] = self

    async def connect(self, ip: str, port: int) -> None:
        self._check()
        await self.worker.request("TRANSPORT_CONNECT", {"id": self.id, "ip": ip, "port": port})
        self.remote = (ip, port)

    async def set_srtp(self, profile: str, recv_key: bytes, send_key: bytes) -> None:
        """SRTP keys: `recv_key` decrypts what the peer sends, `send_key`
        encrypts what we send (master key + salt each)."""
        self._check()
        await self.worker.request("TRANSPORT_SET_SRTP", {"id": self.id, "profile": profile,
                                                         "recv_key": recv_key.hex(), "send_key": send_key.hex()})

    async def produce(self, kind: str, ssrc: int, payload_type: int, codec: str = "", rtx_ssrc: int = 0,
                      rtx_payload_type: int = 0, red_payload_type: int = 0, dd_ext_id: int = 0) -> Producer:
        """`codec` (vp8, vp9, h264, ...) lets layer switches wait for a key frame; `rtx_ssrc` and
        `rtx_payload_type`: the publisher's RTX stream (RFC 4588), 0 = none (yet);
        `red_payload_type` (audio): the publisher sends RED (RFC 2198) on it, which the data
        plane unwraps to its primary on `payload_type` (and repairs lost packets from), 0 = none;
        `dd_ext_id`: the header extension id of its dependency descriptor (a VP9/AV1 SVC stream's
        layers are read from it; VP9's payload descriptor otherwise), 0 = not negotiated"""
        self._check()
        if kind not in ("audio", "video"):
            raise ValueError("kind must be audio or video")
        pid = self.router.service.next_id()
        req = {"id": pid, "transport_id": self.id, "ssrc": ssrc, "payload_type": payload_type,
               "kind": kind, "codec": codec, "remote_workers": []}
        if rtx_ssrc:
            req.update(rtx_ssrc=rtx_ssrc, rtx_payload_type=rtx_payload_type)
        if red_payload_type:
            req["red_payload_type"] = red_payload_type
        if dd_ext_id:
            req["dd_ext_id"] = dd_ext_id
        await self.worker.request("PRODUCER_CREATE", req)
        p = Producer(self, pid, kind, ssrc, payload_type)
        p.codec = codec
        p.dd_ext_id = dd_ext_id
        p.rtx_ssrc = rtx_ssrc
        self.producers[pid] = p
        return p

    async def consume(self, producer: Producer, payload_type: int | None = None, ssrc: int | None = None,
                      paused: bool = False, ext_map: dict[str, int] | None = None, rtx_ssrc: int = 0,
                      rtx_payload_type: int = 0) -> Consumer:
        """`ext_map`: header extension ids, publisher's -> this transport's (others removed);
        None forwards extensions unchanged (plain RTP).  `rtx_ssrc` / `rtx_payload_type`: the
        subscriber negotiated rtx, NACKs are answered as RTX on them (0: plain copies)."""
        self._check()
        if producer.closed:
            raise errors.InvalidStateError(f"producer {producer.id} closed")
        cid = self.router.service.next_id()
        c = Consumer(self, producer, cid,
                     ssrc=ssrc if ssrc is not None else random.randint(1, 0xFFFFFFFF),
                     payload_type=payload_type if payload_type is not None else producer.payload_type,
                     seq_start=random.randint(0, 0xFFFF), ts_offset=random.randint(0, 0xFFFFFFFF),
                     paused=paused)
        w = self.worker.index
        if w != producer.worker.index:
            await producer.add_remote(self.worker)
        req = {"id": cid, "transport_id": self.id, "producer_id": producer.id, "ssrc": c.ssrc,
               "payload_type": c.payload_type, "seq_start": c.seq_start, "ts_offset": c.ts_offset,
               "paused": paused}
        if ext_map is not None:
            req["ext_map"] = ext_map
        if rtx_ssrc:
            req.update(rtx_ssrc=rtx_ssrc, rtx_payload_type=rtx_payload_type)
        try:
            await self.worker.request("CONSUMER_CREATE", req)
        except BaseException:
            if w != producer.worker.index:
                await producer.remove_remote(self.worker)
            raise
        c.rtx_ssrc = rtx_ssrc
        self.consumers[cid] = c
        producer.consumers[cid] = c
        return c

    async def close(self) -> None:
        if self.closed:
            return
        for p in list(self.producers.values()):
            await p.close()
        for c in list(self.consumers.values()):
            await c.close()
        self.closed = True
        self._forget()
        try:
            await self.worker.request("TRANSPORT_CLOSE", {"id": self.id})
        except errors.WorkerDiedError:
            pass

    def worker_closed(self) -> None:
        """the worker died: everything on it is gone already"""
        if self.closed:
            return
        self.closed = True
        for p in list(self.producers.values()):
            p.transport_closed()
        for c in list(self.consumers.values()):
            c.transport_closed()
        self._forget()
        for fn in self.listeners:
            fn("closed", {"id": self.id, "reason": "worker died"})

    def _forget(self) -> None:
        self.router.transports.pop(self.id, None)
        self.router.service.forget_transport(self)

    async def stats(self) -> dict:
        return {"producers": {p.id: await p.stats() for p in self.producers.values()},
                "consumers": {c.id: await c.stats() for c in self.consumers.values()}}

    async def set_header_extensions(self, extmap: dict[str, int]) -> None:
        """the remote side's header extension ids by URI (a subscriber's answer); with the
        transport-cc one, what is sent on this transport is numbered and estimated (bwe())"""
        await self.worker.request("TRANSPORT_SET_HEADER_EXTENSIONS", {"id": self.id, "extmap": extmap})

    async def set_wanted_bitrate(self, bitrate: int) -> None:
        """what the stream allocator would send here (bit/s): the data plane paces this
        transport and probes its downlink when the estimate is below it (from the first call on)"""
        await self.worker.request("TRANSPORT_SET_WANTED_BITRATE", {"id": self.id, "bitrate": int(bitrate)})

    async def bwe(self) -> dict | None:
        """the send-side bandwidth estimate toward this transport's remote side (TRANSPORT_STATS
        "bwe": estimate_bps, usage, loss, rtt_us, limited_by ...), None before there is one;
        listeners also get it as the "transport_bwe" event when it moves by > 5 %"""
        return (await self.worker.request("TRANSPORT_STATS", {"id": self.id}))["bwe"]


class Producer:
    def __init__(self, transport: Transport, pid: int, kind: str, ssrc: int, payload_type: int) -> None:
        self.transport = transport
        self.id = pid
        self.kind = kind
        self.ssrc = ssrc
        self.payload_type = payload_type
        self.consumers: dict[int, Consumer] = {}
        self.remote_refs: dict[int, int] = {}   # worker index -> consumers there
        self.codec = ""
        self.dd_ext_id = 0             # its dependency descriptor's header extension id, 0 = none
        self.rtx_ssrc = 0              # the publisher's RTX stream, 0 = none known
        self.closed = False
        self._remotes_lock = asyncio.Lock()

    async def set_rtx(self, rtx_ssrc: int, rtx_payload_type: int) -> None:
        """the publisher's RTX stream, learnt after the producer was created (a simulcast layer's
        repaired rid)"""
        await self.worker.request("PRODUCER_SET_RTX", {"id": self.id, "rtx_ssrc": rtx_ssrc,
                                                       "rtx_payload_type": rtx_payload_type})
        self.rtx_ssrc = rtx_ssrc

    @property
    def worker(self) -> WorkerHandle:
        return self.transport.worker

    async def _push_remote_workers(self) -> None:
        if self.closed:
            return
        await self.worker.request("PRODUCER_SET_REMOTE_WORKERS", {"id": self.id,
                                                           "remote_workers": sorted(self.remote_refs)})

    def schedule_remote_workers_update(self) -> None:
        async def run() -> None:
            try:
                async with self._remotes_lock:
                    await self._push_remote_workers()
            except errors.SfuError as e:
                log.warning("producer %d: remote update failed: %s", self.id, e)
        asyncio.get_running_loop().create_task(run())

    async def add_remote(self, w: WorkerHandle) -> None:
        async with self._remotes_lock:
            n = self.remote_refs.get(w.index, 0)
            if n == 0:
                await w.request("REMOTE_PRODUCER_CREATE", {"id": self.id, "worker": self.worker.index,
                                                           "ssrc": self.ssrc, "kind": self.kind,
                                                           "codec": self.codec, "dd_ext_id": self.dd_ext_id})
                self.remote_refs[w.index] = 1
                try:
                    await self._push_remote_workers()
                except BaseException:
                    self.remote_refs.pop(w.index, None)
                    raise
            else:
                self.remote_refs[w.index] = n + 1

    async def remove_remote(self, w: WorkerHandle) -> None:
        async with self._remotes_lock:
            n = self.remote_refs.get(w.index, 0)
            if n > 1:
                self.remote_refs[w.index] = n - 1
                return
            self.remote_refs.pop(w.index, None)
            try:
                await self._push_remote_workers()
            except errors.WorkerDiedError:
                pass
            try:
                await w.request("REMOTE_PRODUCER_CLOSE", {"id": self.id})
            except (errors.WorkerDiedError, errors.NotFoundError):
                pass

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        for c in list(self.consumers.values()):
            c.producer_closed()
        self.transport.producers.pop(self.id, None)
        for wi in list(self.remote_refs):
            try:
                await self.transport.router.service.pool.worker(wi).request("REMOTE_PRODUCER_CLOSE", {"id": self.id})
            except (errors.WorkerDiedError, errors.NotFoundError):
                pass
        self.remote_refs.clear()
        try:
            await self.worker.request("PRODUCER_CLOSE", {"id": self.id})
        except (errors.WorkerDiedError, errors.NotFoundError):
            pass

    def transport_closed(self) -> None:
        """our worker died: tell the workers holding remote copies"""
        self.closed = True
        for c in list(self.consumers.values()):
            c.producer_closed()
        self.transport.producers.pop(self.id, None)
        pool = self.transport.router.service.pool
        for wi in list(self.remote_refs):
            w = pool.worker(wi)

            async def drop_remote(w: WorkerHandle = w) -> None:
                try:
                    await w.request("REMOTE_PRODUCER_CLOSE", {"id": self.id})
                except errors.SfuError:
                    pass
            asyncio.get_running_loop().create_task(drop_remote())
        self.remote_refs.clear()

    async def stats(self) -> dict:
        return await self.worker.request("PRODUCER_STATS", {"id": self.id})

    async def audio_level(self) -> dict:
        """the RFC 6464 levels received so far: packets, loud, loud_dbov_sum"""
        return await self.worker.request("PRODUCER_AUDIO_LEVEL", {"id": self.id})


class Consumer:
    def __init__(self, transport: Transport, producer: Producer, cid: int, ssrc: int, payload_type: int,
                 seq_start: int, ts_offset: int, paused: bool) -> None:
        self.transport = transport
        self.producer = producer
        self.id = cid
        self.ssrc = ssrc
        self.payload_type = payload_type
        self.seq_start = seq_start
        self.ts_offset = ts_offset
        self.paused = paused
        self.rtx_ssrc = 0              # resends as RTX on it, 0 = plain copies
        self.red_payload_type = 0      # audio sent as RED on it, 0 = plain
        self.spatial_layer = -1        # SVC: the highest spatial / temporal layers forwarded, -1 = every one
        self.temporal_layer = -1
        self.closed = False

    async def pause(self) -> None:
        await self._set_paused(True)

    async def resume(self) -> None:
        await self._set_paused(False)

    async def _set_paused(self, paused: bool) -> None:
        if self.closed:
            raise errors.InvalidStateError(f"consumer {self.id} closed")
        await self.transport.worker.request("CONSUMER_SET_PAUSED", {"id": self.id, "paused": paused})
        self.paused = paused

    async def set_rtx(self, rtx_ssrc: int, rtx_payload_type: int) -> None:
        """answer the subscriber's NACKs as RTX on rtx_ssrc (0: plain copies)"""
        if self.closed:
            raise errors.InvalidStateError(f"consumer {self.id} closed")
        await self.transport.worker.request("CONSUMER_SET_RTX", {"id": self.id, "rtx_ssrc": rtx_ssrc,
                                                                 "rtx_payload_type": rtx_payload_type})
        self.rtx_ssrc = rtx_ssrc

    async def set_red(self, red_payload_type: int) -> None:
        """send this audio consumer's packets as RED (RFC 2198: each with the two before it, so
        the subscriber rebuilds a lost one from the next) on red_payload_type; 0: plain Opus"""
        if self.closed:
            raise errors.InvalidStateError(f"consumer {self.id} closed")
        await self.transport.worker.request("CONSUMER_SET_RED", {"id": self.id, "red_payload_type": red_payload_type})
        self.red_payload_type = red_payload_type

    async def set_layers(self, spatial: int, temporal: int = -1) -> None:
        """a scalable (VP9/AV1 SVC) stream: forward its spatial layers up to `spatial` and temporal
        layers up to `temporal` (-1: every one).  The data plane moves down at the next picture and
        up at a key frame (it asks for one) or, temporal, at a switching point."""
        if self.closed:
            raise errors.InvalidStateError(f"consumer {self.id} closed")
        await self.transport.worker.request("CONSUMER_SET_LAYERS", {"id": self.id, "spatial_layer": spatial,
                                                                    "temporal_layer": temporal})
        self.spatial_layer, self.temporal_layer = spatial, temporal

    async def request_key_frame(self) -> None:
        """ask the publisher of a video producer for a key frame (throttled by the data plane)"""
        if self.closed:
            raise errors.InvalidStateError(f"consumer {self.id} closed")
        await self.transport.worker.request("CONSUMER_REQUEST_KEY_FRAME", {"id": self.id})

    async def set_producer(self, producer: Producer) -> None:
        """follow another producer (a simulcast layer); output seq/ts stay continuous"""
        if self.closed or producer.closed:
            raise errors.InvalidStateError("consumer or producer closed")
        old = self.producer
        if producer is old:
            return
        w = self.transport.worker
        if producer.worker.index != w.index:
            await producer.add_remote(w)
        try:
            await w.request("CONSUMER_SET_PRODUCER", {"id": self.id, "producer_id": producer.id})
        except BaseException:
            if producer.worker.index != w.index:
                await producer.remove_remote(w)
            raise
        old.consumers.pop(self.id, None)
        producer.consumers[self.id] = self
        self.producer = producer
        if old.worker.index != w.index and not old.closed:
            # the data plane keeps the old source until the new one's key frame;
            # release it afterwards (were it closed first, the switch happens at once)
            async def release() -> None:
                await asyncio.sleep(SWITCH_GRACE)
                if not old.closed:
                    await old.remove_remote(w)
            asyncio.get_running_loop().create_task(release())

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._forget()
        try:
            await self.transport.worker.request("CONSUMER_CLOSE", {"id": self.id})
        except (errors.WorkerDiedError, errors.NotFoundError):
            pass
        if self.transport.worker.index != self.producer.worker.index and not self.producer.closed:
            await self.producer.remove_remote(self.transport.worker)

    def producer_closed(self) -> None:
        """the C side freed this consumer with its producer"""
        self.closed = True
        self._forget()

    def transport_closed(self) -> None:
        self.closed = True
        self._forget()
        if self.transport.worker.index != self.producer.worker.index and not self.producer.closed:
            p, w = self.producer, self.transport.worker
            p.remote_refs[w.index] = p.remote_refs.get(w.index, 1) - 1
            if p.remote_refs[w.index] <= 0:
                p.remote_refs.pop(w.index, None)
                p.schedule_remote_workers_update()

    def _forget(self) -> None:
        self.transport.consumers.pop(self.id, None)
        self.producer.consumers.pop(self.id, None)

    async def stats(self) -> dict:
        return await self.transport.worker.request("CONSUMER_STATS", {"id": self.id})
