"""Recording and ingest with ffmpeg, through plain RTP.

`record()`: each track of a room is consumed onto a plain transport toward an ffmpeg that
reads it from an SDP file and writes it without transcoding: opus into Ogg (or WebM), VP8
(and VP9, AV1) into WebM, H.264 into Matroska.  A video consumer asks the publisher for a key
frame when it starts, and again during the first seconds, so ffmpeg's first frame decodes.

`ingest()`: an ffmpeg encodes a source (by default a 440 Hz tone and a test pattern) to opus
and VP8 and sends it as RTP to comedia plain transports; their producers are published as the
tracks of an ingress participant the room's clients see.

Both take a server: an `EmbeddedServer`, or `RemoteServer` (sfu.control.remote: a running
server through its HTTP APIs, as `sfu record` and `sfu ingest` use it).
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import signal
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from livekit.protocol import models

log = logging.getLogger("sfu.control")

KEY_FRAME_RETRIES = (1.0, 2.0, 4.0)     # s after the start: ask again (a request may be lost)
START_CHECK = 0.5                       # s an ingest's ffmpeg must keep running to count as started
EXTENSIONS = {"opus": "ogg", "vp8": "webm", "vp9": "webm", "av1": "webm", "h264": "mkv"}
DEFAULT_SOURCE = ["-re", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
                  "-re", "-f", "lavfi", "-i", "testsrc=size=640x360:rate=30"]


def free_udp_pair(host: str = "0.0.0.0") -> int:
    """an even UDP port whose next port is free too (ffmpeg takes port + 1 for RTCP)"""
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as a:
            a.bind((host, 0))
            port = a.getsockname()[1]
            if port % 2 or port >= 65535:
                continue
            try:
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as b:
                    b.bind((host, port + 1))
            except OSError:
                continue
            return port
    raise OSError("no free UDP port pair")


def sdp_for(kind: str, ip: str, port: int, payload_type: int, codec: Any) -> str:
    """the SDP ffmpeg reads one RTP stream with (`codec`: sfu.control.Codec)"""
    rtpmap = f"{codec.name}/{codec.clock_rate}" + (f"/{codec.channels}" if codec.channels else "")
    lines = ["v=0", f"o=- 0 0 IN IP4 {ip}", "s=sfu recording", f"c=IN IP4 {ip}", "t=0 0",
             f"m={kind} {port} RTP/AVP {payload_type}", f"a=rtpmap:{payload_type} {rtpmap}"]
    if codec.fmtp:
        lines.append(f"a=fmtp:{payload_type} {codec.fmtp}")
    lines.append("a=recvonly")
    return "\r\n".join(lines) + "\r\n"


async def _stop_process(proc: asyncio.subprocess.Process, timeout: float = 6.0) -> int:
    """SIGINT: ffmpeg finishes its file.  An ffmpeg whose input has stopped (the track ended)
    sits in its read and only stops on a second SIGINT, sent after a third of `timeout`: its
    file then lacks the trailer (Ogg's last page, WebM's cues) but holds every packet, which
    `-flush_packets 1` wrote as it came.  SIGKILL at `timeout`."""
    for wait in (timeout / 3, timeout * 2 / 3):
        if proc.returncode is not None:
            break
        try:
            proc.send_signal(signal.SIGINT)
        except ProcessLookupError:
            break
        try:
            await asyncio.wait_for(proc.wait(), wait)
        except asyncio.TimeoutError:
            pass
    if proc.returncode is None:
        log.warning("ffmpeg %d did not stop on SIGINT: killed", proc.pid)
        proc.kill()
        await proc.wait()
    return proc.returncode if proc.returncode is not None else -1


def udp_port_bound(port: int) -> bool:
    """whether a local UDP socket is bound to `port` (Linux: /proc/net/udp, udp6)"""
    want = f":{port:04X}"
    for table in ("/proc/net/udp", "/proc/net/udp6"):
        try:
            with open(table) as f:
                next(f, None)
                if any(line.split()[1].endswith(want) for line in f if len(line.split()) > 1):
                    return True
        except OSError:
            continue
    return False


async def _wait_bound(proc: asyncio.subprocess.Process, port: int, log_path: Path, timeout: float = 15.0) -> None:
    """until ffmpeg listens on `port` (what is sent before is lost)"""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not udp_port_bound(port):
        if proc.returncode is not None:
            raise RuntimeError(f"ffmpeg exited at once ({proc.returncode}): {log_path.read_text()[-500:]}")
        if loop.time() > end:
            raise RuntimeError(f"ffmpeg did not open UDP port {port} in {timeout:.0f} s")
        await asyncio.sleep(0.05)


@dataclass
class TrackRecording:
    """One track being recorded: its file, and the ffmpeg writing it."""

    track_sid: str
    kind: str
    path: Path
    process: asyncio.subprocess.Process
    transport: Any
    consumer: Any
    log_path: Path


@dataclass
class Recording:
    """What `record()` started; `stop()` ends it (the files are complete afterwards)."""

    room: str
    tracks: list[TrackRecording] = field(default_factory=list)
    _tasks: list[asyncio.Task] = field(default_factory=list)

    @property
    def files(self) -> dict[str, Path]:
        """track sid -> the file it is written to"""
        return {t.track_sid: t.path for t in self.tracks}

    async def stop(self) -> dict[str, int]:
        """stop every ffmpeg (they finish their files) and close the transports; returns each
        track's ffmpeg exit status (0 or 255 after SIGINT are normal)"""
        for task in self._tasks:
            task.cancel()

        async def one(t: TrackRecording) -> int:
            code = await _stop_process(t.process)
            try:
                await t.transport.close()
            except Exception as e:       # the room may be gone already
                log.debug("closing the transport of %s: %s", t.track_sid, e)
            return code
        codes = await asyncio.gather(*(one(t) for t in self.tracks))
        return {t.track_sid: code for t, code in zip(self.tracks, codes)}


async def _published_tracks(server: Any, room: str) -> list[tuple[models.ParticipantInfo, models.TrackInfo]]:
    return [(p, t) for p in await server.rooms.list_participants(room) for t in p.tracks]


async def record(server: Any, room: str, directory: str | os.PathLike, track_sids: list[str] | None = None,
                 audio_container: str = "ogg", ffmpeg: str = "ffmpeg", receiver_ip: str | None = None) -> Recording:
    """record tracks of `room` (the given sids, default every published track now) into
    `directory`, one file per track named IDENTITY-TRACKSID.EXT.  `audio_container`: ogg or
    webm for opus.  `receiver_ip`: where the server sends the RTP (default: the transport's
    own address, i.e. ffmpeg runs on the server's host)."""
    out_dir = Path(directory)
    out_dir.mkdir(parents=True, exist_ok=True)
    rec = Recording(room)
    tracks = await _published_tracks(server, room)
    if track_sids is not None:
        missing = set(track_sids) - {t.sid for _, t in tracks}
        if missing:
            raise LookupError(f"no such published track(s) in room {room}: {', '.join(sorted(missing))}")
        tracks = [(p, t) for p, t in tracks if t.sid in track_sids]
    try:
        for p, t in tracks:
            rec.tracks.append(await _record_track(server, room, p, t, out_dir, audio_container, ffmpeg, receiver_ip))
    except BaseException:
        await rec.stop()
        raise
    videos = [t.consumer for t in rec.tracks if t.kind == "video"]
    if videos:
        rec._tasks.append(asyncio.ensure_future(_ask_key_frames(videos)))
    return rec


async def _ask_key_frames(consumers: list[Any]) -> None:
    start = asyncio.get_running_loop().time()
    for at in KEY_FRAME_RETRIES:
        await asyncio.sleep(max(0.0, start + at - asyncio.get_running_loop().time()))
        for c in consumers:
            try:
                await c.request_key_frame()
            except Exception as e:
                log.debug("key frame request: %s", e)


async def _record_track(server: Any, room: str, p: models.ParticipantInfo, t: models.TrackInfo, out_dir: Path,
                        audio_container: str, ffmpeg: str, receiver_ip: str | None) -> TrackRecording:
    kind = "video" if t.type == models.TrackType.VIDEO else "audio"
    transport = await server.media.create_plain_transport(room)
    try:
        ip = receiver_ip or transport.ip
        port = free_udp_pair()
        consumer = await transport.consume(t.sid, paused=True)   # resumed once ffmpeg listens
        codec = consumer.codec
        if codec is None:
            raise LookupError(f"track {t.sid}: codec unknown")
        ext = EXTENSIONS.get(codec.name.lower(), "mkv")
        if kind == "audio" and codec.name.lower() == "opus":
            ext = audio_container
        base = f"{p.identity}-{t.sid}"
        sdp_path = out_dir / f"{base}.sdp"
        sdp_path.write_text(sdp_for(kind, ip, port, consumer.payload_type, codec))
        path = out_dir / f"{base}.{ext}"
        log_path = out_dir / f"{base}.ffmpeg.log"
        cmd = [ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "warning", "-protocol_whitelist",
               "file,udp,rtp", "-reorder_queue_size", "128",
               # how much of the stream ffmpeg reads before it writes: VP8 needs a key frame
               "-analyzeduration", "2000000" if kind == "video" else "500000", "-probesize", "2000000", "-i", str(sdp_path), "-map", "0", "-c", "copy",
               "-flush_packets", "1", "-y", str(path)]
        with open(log_path, "wb") as logf:
            proc = await asyncio.create_subprocess_exec(*cmd, stdin=asyncio.subprocess.DEVNULL,
                                                        stdout=logf, stderr=logf)
        await _wait_bound(proc, port, log_path)
        await transport.connect(ip, port)
        await consumer.resume()
        if kind == "video":
            await consumer.request_key_frame()
        log.info("recording %s/%s %s to %s", room, p.identity, t.sid, path)
        return TrackRecording(t.sid, kind, path, proc, transport, consumer, log_path)
    except BaseException:
        await transport.close()
        raise


@dataclass
class Ingest:
    """What `ingest()` started: the ffmpeg and the tracks it publishes; `stop()` ends it (the
    ingress participant leaves)."""

    room: str
    identity: str
    track_sids: list[str]
    process: asyncio.subprocess.Process
    transports: list[Any]
    _server: Any = None

    async def stop(self) -> int:
        """stop ffmpeg and remove the ingress participant (its tracks are unpublished, its
        transports closed); ffmpeg's exit code"""
        code = await _stop_process(self.process)
        try:
            await self._server.rooms.remove_participant(self.room, self.identity)
        except Exception as e:        # gone with its room
            log.debug("ingest %s: %s", self.identity, e)
        for t in self.transports:
            try:
                await t.close()
            except Exception:
                pass
        return code


async def ingest(server: Any, room: str, identity: str, input_args: list[str] | None = None, audio: bool = True,
                 video: bool = True, name: str = "", ffmpeg: str = "ffmpeg", video_bitrate: str = "800k",
                 keyframe_interval: int = 30, log_path: str | os.PathLike | None = None) -> Ingest:
    """publish an ffmpeg source in `room` as the tracks of the ingress participant `identity`:
    opus audio and VP8 video (a key frame every `keyframe_interval` frames: an RTP sender
    ffmpeg does not answer key frame requests).  `input_args`: ffmpeg's input options (default
    DEFAULT_SOURCE, a 440 Hz tone and a test pattern; with one input, its first audio and
    video streams are used).  `log_path`: a file for ffmpeg's messages (default: none)."""
    if not (audio or video):
        raise ValueError("nothing to ingest")
    src = list(input_args) if input_args else list(DEFAULT_SOURCE)
    two_inputs = not input_args
    cmd = [ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "warning", *src]
    plan = []
    transports: list[Any] = []
    try:
        for kind in ("audio", "video"):
            if not (audio if kind == "audio" else video):
                continue
            t = await server.media.create_plain_transport(room, comedia=True)
            transports.append(t)
            ssrc = random.randint(1, 0x7FFFFFFF)      # ffmpeg's -ssrc is a signed int
            pt = 111 if kind == "audio" else 96
            codec = "opus" if kind == "audio" else "vp8"
            producer = await t.produce(kind, ssrc, pt, codec)
            plan.append((kind, t, producer, codec))
            # RTCP goes to port + 1 (unused): comedia learns one source address, the RTP one
            url = f"rtp://{t.ip}:{t.port}?pkt_size=1200"
            if kind == "audio":
                cmd += ["-map", "0:a:0", "-c:a", "libopus", "-b:a", "64k", "-ar", "48000", "-ac", "2"]
            else:
                cmd += ["-map", "1:v:0" if two_inputs else "0:v:0", "-c:v", "libvpx", "-deadline", "realtime",
                        "-cpu-used", "8", "-b:v", video_bitrate, "-g", str(keyframe_interval),
                        "-keyint_min", str(keyframe_interval), "-pix_fmt", "yuv420p"]
            cmd += ["-payload_type", str(pt), "-ssrc", str(ssrc), "-f", "rtp", url]
        sids = []
        for kind, t, producer, codec in plan:
            sids.append(await t.publish(producer, identity=identity, codec=codec, name=name or kind,
                                        participant_name=name))
        with open(log_path or os.devnull, "wb") as logf:
            proc = await asyncio.create_subprocess_exec(*cmd, stdin=asyncio.subprocess.DEVNULL, stdout=logf,
                                                        stderr=logf)
    except BaseException:
        for t in transports:
            try:
                await t.close()
            except Exception:
                pass
        raise
    ing = Ingest(room, identity, sids, proc, transports, server)
    try:      # an input ffmpeg cannot open ends it at once
        await asyncio.wait_for(proc.wait(), START_CHECK)
    except asyncio.TimeoutError:
        log.info("ingesting into %s as %s: %s", room, identity, " ".join(cmd))
        return ing
    await ing.stop()
    raise RuntimeError(f"ffmpeg exited at once ({proc.returncode})" + (f", see {log_path}" if log_path else ""))
