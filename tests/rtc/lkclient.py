"""A participant driven by the unmodified livekit rtc SDK (run with the client venv's Python).

    python lkclient.py URL TOKEN ROLE SECONDS [JSON-OPTIONS]

Roles:
  publisher   publishes a sine (audio) and a solid-colour pattern (video), sends data packets
  subscriber  receives; measures frames, rate, audio pitch, video colour, data packets
  both        publishes and receives
  publish-denied  tries to publish without the grant and reports the error
Prints `RESULT {json}` lines; the last one is the summary.
"""

from __future__ import annotations

import asyncio
import json
import math
import sys
import time

import numpy as np
from livekit import rtc

URL, TOKEN, ROLE, SECONDS = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
OPTS = json.loads(sys.argv[5]) if len(sys.argv) > 5 else {}
W, H = 320, 240


def report(**kw) -> None:
    print("RESULT " + json.dumps(kw), flush=True)


def dominant_frequency(samples: np.ndarray, rate: int) -> float:
    if len(samples) < rate // 4:
        return 0.0
    x = samples[-rate:].astype(np.float64)
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / rate)[int(np.argmax(spec[1:])) + 1])


async def publish(room: rtc.Room, end: float, summary: dict) -> None:
    freq = float(OPTS.get("freq", 440))
    color = OPTS.get("color", [200, 30, 30])
    asrc = rtc.AudioSource(48000, 1)
    vsrc = rtc.VideoSource(W, H)
    lp = room.local_participant
    t0 = time.monotonic()
    await lp.publish_track(rtc.LocalAudioTrack.create_audio_track("sine", asrc),
                           rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE))
    await lp.publish_track(rtc.LocalVideoTrack.create_video_track("pattern", vsrc),
                           rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_CAMERA,
                                                   simulcast=bool(OPTS.get("simulcast", False))))
    summary["publish_ms"] = (time.monotonic() - t0) * 1000

    async def audio() -> None:
        i = 0
        while time.monotonic() < end:
            f = rtc.AudioFrame.create(48000, 1, 480)
            t = (np.arange(480) + i * 480) / 48000
            np.frombuffer(f.data, dtype=np.int16)[:] = (np.sin(2 * math.pi * freq * t) * 8000).astype(np.int16)
            await asrc.capture_frame(f)
            i += 1

    async def video() -> None:
        frame = np.zeros((H, W, 4), dtype=np.uint8)
        frame[:, :, 0], frame[:, :, 1], frame[:, :, 2], frame[:, :, 3] = color[0], color[1], color[2], 255
        data = frame.tobytes()
        while time.monotonic() < end:
            vsrc.capture_frame(rtc.VideoFrame(W, H, rtc.VideoBufferType.RGBA, data))
            await asyncio.sleep(1 / 30)

    async def data() -> None:
        n = 0
        while time.monotonic() < end:
            await lp.publish_data(f"reliable-{n}".encode(), reliable=True, topic="test")
            await lp.publish_data(f"lossy-{n}".encode(), reliable=False, topic="test")
            n += 1
            await asyncio.sleep(0.5)
        summary["data_sent"] = n

    await asyncio.gather(audio(), video(), data())


def attach_receiver(room: rtc.Room, t0: float, summary: dict) -> None:
    tracks: dict = {}
    data: list = []
    summary["tracks"] = tracks
    summary["data"] = data

    async def read_audio(key: str, track: rtc.Track) -> None:
        st = tracks[key]
        chunks = []
        async for ev in rtc.AudioStream(track, sample_rate=48000, num_channels=1):
            st["frames"] += 1
            if st["first_ms"] is None:
                st["first_ms"] = (time.monotonic() - t0) * 1000
            st["last_ms"] = (time.monotonic() - t0) * 1000
            chunks.append(np.frombuffer(ev.frame.data, dtype=np.int16).copy())
            if len(chunks) % 50 == 0:
                st["pitch_hz"] = dominant_frequency(np.concatenate(chunks[-100:]), 48000)
                st["rms"] = float(np.sqrt(np.mean(np.concatenate(chunks[-100:]).astype(np.float64) ** 2)))

    async def read_video(key: str, track: rtc.Track) -> None:
        st = tracks[key]
        async for ev in rtc.VideoStream(track):
            st["frames"] += 1
            now = (time.monotonic() - t0) * 1000
            if st["first_ms"] is None:
                st["first_ms"] = now
            st["last_ms"] = now
            if st["frames"] % 10 == 1:
                f = ev.frame.convert(rtc.VideoBufferType.RGBA)
                px = np.frombuffer(f.data, dtype=np.uint8).reshape(f.height, f.width, 4)
                st["center"] = px[f.height // 2, f.width // 2, :3].tolist()
                st["size"] = [f.width, f.height]

    @room.on("track_subscribed")
    def on_track(track: rtc.Track, pub: rtc.RemoteTrackPublication, participant: rtc.RemoteParticipant) -> None:
        key = f"{participant.identity}/{'audio' if track.kind == rtc.TrackKind.KIND_AUDIO else 'video'}"
        tracks[key] = {"sid": pub.sid, "frames": 0, "first_ms": None, "last_ms": None,
                       "subscribed_ms": (time.monotonic() - t0) * 1000}
        if track.kind == rtc.TrackKind.KIND_AUDIO:
            asyncio.ensure_future(read_audio(key, track))
        else:
            asyncio.ensure_future(read_video(key, track))

    @room.on("data_received")
    def on_data(packet: rtc.DataPacket) -> None:
        data.append({"from": packet.participant.identity if packet.participant else None,
                     "payload": packet.data.decode(errors="replace"), "topic": packet.topic,
                     "kind": int(packet.kind)})


async def main() -> None:
    room = rtc.Room()
    summary: dict = {"role": ROLE}
    t0 = time.monotonic()
    if ROLE in ("subscriber", "both"):
        attach_receiver(room, t0, summary)
    try:
        await room.connect(URL, TOKEN, rtc.RoomOptions(auto_subscribe=True))
    except Exception as e:  # noqa: BLE001 - reported to the test
        summary["connect_error"] = str(e)
        report(**summary)
        return
    summary["join_ms"] = (time.monotonic() - t0) * 1000
    summary["remote_participants"] = sorted(p.identity for p in room.remote_participants.values())
    report(event="connected", join_ms=summary["join_ms"])
    end = time.monotonic() + SECONDS
    if ROLE == "publish-denied":
        try:
            src = rtc.AudioSource(48000, 1)
            await asyncio.wait_for(room.local_participant.publish_track(
                rtc.LocalAudioTrack.create_audio_track("denied", src),
                rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE)), 10)
            summary["publish_error"] = None
        except Exception as e:  # noqa: BLE001
            summary["publish_error"] = f"{type(e).__name__}: {e}"
    elif ROLE in ("publisher", "both"):
        await publish(room, end, summary)
    remaining = end - time.monotonic()
    if remaining > 0:
        await asyncio.sleep(remaining)
    summary["remote_participants_end"] = sorted(p.identity for p in room.remote_participants.values())
    await room.disconnect()
    report(**summary)


asyncio.run(asyncio.wait_for(main(), SECONDS + 60))
