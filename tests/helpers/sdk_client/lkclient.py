"""A participant driven by the unmodified livekit rtc SDK (run with the client venv's Python).

    python lkclient.py URL TOKEN ROLE SECONDS [JSON-OPTIONS]

Roles:
  publisher   publishes a sine (audio) and a solid-colour pattern (video), sends data packets
  subscriber  receives; measures frames, rate, audio pitch, video colour, data packets
  both        publishes and receives
  publish-denied  tries to publish without the grant and reports the error
Options (JSON): freq, color, simulcast, and `actions`: a list of
{"at": seconds after connect, "do": mute|unmute|unpublish|resume|full_reconnect|unsubscribe|subscribe|rpc|
 permissions (with "allow": [identities] that may subscribe to this participant's tracks, or null),
 send_text ("text", "topic", optional "sender_identity"), transcribe ("for": identity, "text"),
 "track": "audio"|"video" (own track) or "identity/kind" (a remote one), or for rpc the callee's identity}.
"rpc": true registers the RPC method "echo" (its answer names the callee, the caller and the payload;
every call received is kept in "rpc_received"); an rpc action calls "echo" and keeps the answer, or
the RpcError's code and message, in "actions_done".
"degradation": "maintain_resolution" keeps the published video layers at full size when the encoder is short
of CPU (frames are dropped instead).
"quality": true keeps every connection quality change (who, quality) in "quality".
"text_topics": [topics] keeps every text stream received on them in "texts" (sender identity, text),
and every transcription received in "transcriptions".
"log": "info"|"debug" prints the SDK's own log (its reconnect decisions) to stdout.
For measurements (bench/bench_network.py): "pattern": "moving" publishes a scrolling textured
I420 picture (lkmedia.MovingPattern) instead of a solid colour; "timeline": true keeps every
video frame's arrival time and a per-100-ms analysis of received audio (lkmedia.AudioWindows);
"stats_every": S samples the SDK's WebRTC stats every S seconds (lkstats.snapshot) into "rtc";
with "timeline", "loop_lag" lists the moments this process was starved of CPU.
Events (track muted, unsubscribed, reconnected, ...) are recorded with their times; each audio
stream received (one per subscription) keeps its pitch / RMS every 0.5 s; `t0_mono` is the
client's time zero on CLOCK_MONOTONIC, comparable with other processes on the machine.
Prints `RESULT {json}` lines; the last one is the summary.  SIGTERM ends the run early
(disconnect, then the summary, with "stopped": true).
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import signal
import sys
import time

import numpy as np
from livekit import rtc
from lkmedia import AudioWindows, MovingPattern
from lkstats import snapshot

URL, TOKEN, ROLE, SECONDS = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
OPTS = json.loads(sys.argv[5]) if len(sys.argv) > 5 else {}
W, H = int(OPTS.get("width", 320)), int(OPTS.get("height", 240))


def report(**kw) -> None:
    print("RESULT " + json.dumps(kw), flush=True)


def dominant_frequency(samples: np.ndarray, rate: int) -> float:
    if len(samples) < rate // 4:
        return 0.0
    x = samples[-rate:].astype(np.float64)
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / rate)[int(np.argmax(spec[1:])) + 1])


LOCAL: dict = {}


async def publish(room: rtc.Room, end: float, summary: dict) -> None:
    freq = float(OPTS.get("freq", 440))
    color = OPTS.get("color", [200, 30, 30])
    asrc = rtc.AudioSource(48000, 1)
    vsrc = rtc.VideoSource(W, H)
    lp = room.local_participant
    t0 = time.monotonic()
    atrack = rtc.LocalAudioTrack.create_audio_track("sine", asrc)
    vtrack = rtc.LocalVideoTrack.create_video_track("pattern", vsrc)
    apub = await lp.publish_track(atrack, rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE))
    vpub = await lp.publish_track(vtrack, rtc.TrackPublishOptions(
        source=rtc.TrackSource.SOURCE_CAMERA, simulcast=bool(OPTS.get("simulcast", False)),
        video_encoding=rtc.VideoEncoding(max_bitrate=int(OPTS.get("bitrate", 600_000)), max_framerate=30),
        # "maintain_resolution": frames are dropped rather than the layers scaled down when the
        # encoder is short of CPU (libwebrtc's default for a camera scales them)
        **({"degradation_preference": rtc.DegradationPreference.MAINTAIN_RESOLUTION}
           if OPTS.get("degradation") == "maintain_resolution" else {})))
    LOCAL.update(audio=(atrack, apub), video=(vtrack, vpub))
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
        pattern = MovingPattern(W, H) if OPTS.get("pattern") == "moving" else None
        per_second = summary.setdefault("video_captured_per_second", {})
        due = time.monotonic()
        while time.monotonic() < end:
            if pattern is not None:
                vsrc.capture_frame(rtc.VideoFrame(W, H, rtc.VideoBufferType.I420, pattern.next_i420()))
            else:
                vsrc.capture_frame(rtc.VideoFrame(W, H, rtc.VideoBufferType.RGBA, data))
            sec = str(int(time.monotonic() - summary["t0_mono"]))    # the client's time, as receivers'
            per_second[sec] = per_second.get(sec, 0) + 1
            due += 1 / 30       # a steady 30 fps; a late frame does not push the next ones back
            await asyncio.sleep(max(0.0, due - time.monotonic()))

    async def data() -> None:
        n = 0
        while time.monotonic() < end:
            await lp.publish_data(f"reliable-{n}".encode(), reliable=True, topic="test")
            await lp.publish_data(f"lossy-{n}".encode(), reliable=False, topic="test")
            n += 1
            await asyncio.sleep(0.5)
        summary["data_sent"] = n

    await asyncio.gather(audio(), video(), data())


REMOTE: dict = {}


def attach_receiver(room: rtc.Room, t0: float, summary: dict) -> None:
    tracks: dict = {}
    data: list = []
    events: list = summary.setdefault("events", [])
    summary["tracks"] = tracks
    summary["data"] = data

    def ev(name: str, **kw) -> None:
        events.append({"t": round(time.monotonic() - t0, 2), "event": name, **kw})

    for name in ("reconnecting", "reconnected", "disconnected"):
        room.on(name, lambda *a, n=name: ev(n))

    @room.on("track_muted")
    def _muted(participant, pub) -> None:
        ev("track_muted", who=participant.identity, sid=pub.sid)

    @room.on("track_unmuted")
    def _unmuted(participant, pub) -> None:
        ev("track_unmuted", who=participant.identity, sid=pub.sid)

    @room.on("track_unsubscribed")
    def _unsub(track, pub, participant) -> None:
        ev("track_unsubscribed", who=participant.identity, sid=pub.sid)

    @room.on("track_unpublished")
    def _unpub(pub, participant) -> None:
        ev("track_unpublished", who=participant.identity, sid=pub.sid)

    @room.on("participant_disconnected")
    def _gone(participant) -> None:
        ev("participant_disconnected", who=participant.identity)

    async def read_audio(key: str, track: rtc.Track) -> None:
        st = tracks[key]
        chunks = []
        sub = {"start_ms": (time.monotonic() - t0) * 1000, "first_ms": None, "frames": 0, "pitch_hz": None}
        st.setdefault("streams", []).append(sub)
        windows = AudioWindows() if OPTS.get("timeline") else None
        if windows is not None:
            st["windows"] = windows.windows
        async for ev in rtc.AudioStream(track, sample_rate=48000, num_channels=1):
            st["frames"] += 1
            sub["frames"] += 1
            sec = str(int(time.monotonic() - t0))
            st["per_second"][sec] = st["per_second"].get(sec, 0) + 1
            if st["first_ms"] is None:
                st["first_ms"] = (time.monotonic() - t0) * 1000
            if sub["first_ms"] is None:
                sub["first_ms"] = (time.monotonic() - t0) * 1000
            st["last_ms"] = (time.monotonic() - t0) * 1000
            chunks.append(np.frombuffer(ev.frame.data, dtype=np.int16).copy())
            if windows is not None:
                windows.feed(chunks[-1], time.monotonic() - t0)
            if len(chunks) % 50 == 0:
                st["pitch_hz"] = dominant_frequency(np.concatenate(chunks[-100:]), 48000)
                st["rms"] = float(np.sqrt(np.mean(np.concatenate(chunks[-100:]).astype(np.float64) ** 2)))
                sub["pitch_hz"], sub["rms"] = st["pitch_hz"], st["rms"]
                sub.setdefault("pitches", []).append(      # [t, pitch, rms] of the last second, every 0.5 s
                    [round(time.monotonic() - t0, 2), st["pitch_hz"], round(st["rms"])])

    async def read_video(key: str, track: rtc.Track) -> None:
        st = tracks[key]
        async for ev in rtc.VideoStream(track):
            st["frames"] += 1
            sec = str(int(time.monotonic() - t0))
            st["per_second"][sec] = st["per_second"].get(sec, 0) + 1
            now = (time.monotonic() - t0) * 1000
            if st["first_ms"] is None:
                st["first_ms"] = now
                if OPTS.get("timeline"):     # for a controller waiting until video flows
                    report(event="first_video", key=key, ms=round(now, 1))
            st["last_ms"] = now
            if OPTS.get("timeline"):
                st.setdefault("times", []).append(round(now, 1))
            size = [ev.frame.width, ev.frame.height]
            if size != st.get("size"):
                st.setdefault("sizes", []).append({"t": round(time.monotonic() - t0, 2), "size": size})
            if st["frames"] % 10 == 1:
                f = ev.frame.convert(rtc.VideoBufferType.RGBA)
                px = np.frombuffer(f.data, dtype=np.uint8).reshape(f.height, f.width, 4)
                st["center"] = px[f.height // 2, f.width // 2, :3].tolist()
            st["size"] = size

    @room.on("track_subscribed")
    def on_track(track: rtc.Track, pub: rtc.RemoteTrackPublication, participant: rtc.RemoteParticipant) -> None:
        key = f"{participant.identity}/{'audio' if track.kind == rtc.TrackKind.KIND_AUDIO else 'video'}"
        REMOTE[key] = pub
        events.append({"t": round(time.monotonic() - t0, 2), "event": "track_subscribed", "key": key,
                       "sid": pub.sid})
        if key in tracks:  # subscribed again: keep counting
            tracks[key]["resubscribed_ms"] = (time.monotonic() - t0) * 1000
        else:
            tracks[key] = {"sid": pub.sid, "frames": 0, "first_ms": None, "last_ms": None,
                           "subscribed_ms": (time.monotonic() - t0) * 1000, "per_second": {}}
        if track.kind == rtc.TrackKind.KIND_AUDIO:
            asyncio.ensure_future(read_audio(key, track))
        else:
            asyncio.ensure_future(read_video(key, track))

    @room.on("data_received")
    def on_data(packet: rtc.DataPacket) -> None:
        data.append({"from": packet.participant.identity if packet.participant else None,
                     "payload": packet.data.decode(errors="replace"), "topic": packet.topic,
                     "kind": int(packet.kind)})


async def run_actions(room: rtc.Room, t0: float, summary: dict) -> None:
    done = summary.setdefault("actions_done", [])
    for act in OPTS.get("actions", []):
        delay = t0 + float(act["at"]) - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        do, target = act["do"], act.get("track", "")
        try:
            if do in ("mute", "unmute"):
                track = LOCAL[target][0]
                track.mute() if do == "mute" else track.unmute()
            elif do == "unpublish":
                await room.local_participant.unpublish_track(LOCAL[target][1].sid)
            elif do == "resume":
                await room.simulate_scenario(rtc.SimulateScenarioKind.SIMULATE_SIGNAL_RECONNECT)
            elif do == "full_reconnect":
                await room.simulate_scenario(rtc.SimulateScenarioKind.SIMULATE_FULL_RECONNECT)
            elif do in ("subscribe", "unsubscribe"):
                REMOTE[target].set_subscribed(do == "subscribe")
            elif do == "quality":
                REMOTE[target].set_video_quality(int(act["quality"]))
            elif do == "permissions":        # "allow": identities that may subscribe, or null: everyone
                allow = act.get("allow")
                room.local_participant.set_track_subscription_permissions(
                    allow_all_participants=allow is None,
                    participant_permissions=[rtc.ParticipantTrackPermission(participant_identity=i, allow_all=True)
                                             for i in allow or ()])
            elif do == "send_text":      # a text stream; "sender_identity": on someone's behalf (agents)
                writer = await room.local_participant.stream_text(topic=act.get("topic", ""),
                                                                   sender_identity=act.get("sender_identity"))
                await writer.write(act["text"])
                await writer.aclose()
            elif do == "transcribe":     # a Transcription packet about participant act["for"]
                await room.local_participant.publish_transcription(rtc.Transcription(
                    participant_identity=act["for"], track_sid="",
                    segments=[rtc.TranscriptionSegment(id="s1", text=act["text"], start_time=0, end_time=0,
                                                       language="en", final=True)]))
            elif do == "rpc":
                try:
                    answer = await room.local_participant.perform_rpc(
                        destination_identity=target, method="echo",
                        payload=f"ping from {room.local_participant.identity}", response_timeout=10)
                    done.append({"t": round(time.monotonic() - t0, 2), "do": do, "track": target, "response": answer})
                except rtc.RpcError as e:
                    done.append({"t": round(time.monotonic() - t0, 2), "do": do, "track": target,
                                 "rpc_error": [e.code, e.message]})
                continue
            done.append({"t": round(time.monotonic() - t0, 2), "do": do, "track": target})
        except Exception as e:  # noqa: BLE001 - reported to the test
            done.append({"t": round(time.monotonic() - t0, 2), "do": do, "error": f"{type(e).__name__}: {e}"})


async def watch_loop_lag(t0: float, end: float, summary: dict) -> None:
    """[t, seconds late] whenever this process's event loop woke >= 100 ms late: the client
    itself was starved of CPU, so its gaps are not the network's"""
    lags = summary.setdefault("loop_lag", [])
    while time.monotonic() < end:
        before = time.monotonic()
        await asyncio.sleep(0.05)
        late = time.monotonic() - before - 0.05
        if late >= 0.1:
            lags.append([round(before - t0, 2), round(late, 3)])


async def sample_stats(room: rtc.Room, t0: float, end: float, every: float, summary: dict) -> None:
    samples = summary.setdefault("rtc", [])
    while time.monotonic() < end:
        try:
            samples.append(snapshot(await room.get_rtc_stats(), time.monotonic() - t0))
        except Exception as e:  # noqa: BLE001 - e.g. while reconnecting; recorded, sampling goes on
            samples.append({"t": round(time.monotonic() - t0, 3), "error": f"{type(e).__name__}: {e}"})
        await asyncio.sleep(every)


async def main() -> None:
    if OPTS.get("log"):       # the SDK's own log (reconnect decisions) on stdout
        import logging
        logging.basicConfig(level=logging.DEBUG if OPTS["log"] == "debug" else logging.INFO, stream=sys.stdout,
                            format="%(asctime)s %(name)s %(levelname)s %(message)s")
    room = rtc.Room()
    t0 = time.monotonic()
    summary: dict = {"role": ROLE, "t0_mono": t0}     # CLOCK_MONOTONIC: comparable across processes
    stop = asyncio.Event()        # SIGTERM: end now (still disconnecting and reporting)
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    if ROLE in ("subscriber", "both", "data"):
        attach_receiver(room, t0, summary)
    for topic in OPTS.get("text_topics", []):
        texts = summary.setdefault("texts", [])

        def on_text(reader, identity: str, topic: str = topic) -> None:
            async def read() -> None:
                texts.append({"topic": topic, "from": identity, "text": await reader.read_all()})
            asyncio.ensure_future(read())
        room.register_text_stream_handler(topic, on_text)
    if OPTS.get("quality"):       # ConnectionQualityUpdate as the SDK surfaces it
        qualities = summary.setdefault("quality", [])
        room.on("connection_quality_changed", lambda participant, quality: qualities.append(
            {"t": round(time.monotonic() - t0, 2), "who": participant.identity, "quality": int(quality)}))
    if OPTS.get("text_topics"):
        heard = summary.setdefault("transcriptions", [])
        room.on("transcription_received", lambda segments, participant, publication: heard.append(
            {"about": participant.identity if participant else None, "text": [x.text for x in segments]}))
    try:
        await room.connect(URL, TOKEN, rtc.RoomOptions(auto_subscribe=True))
    except Exception as e:  # noqa: BLE001 - reported to the test
        summary["connect_error"] = str(e)
        report(**summary)
        return
    summary["join_ms"] = (time.monotonic() - t0) * 1000
    if OPTS.get("rpc"):
        received = summary.setdefault("rpc_received", [])

        def echo(call: rtc.RpcInvocationData) -> str:
            received.append({"from": call.caller_identity, "payload": call.payload})
            return json.dumps({"by": room.local_participant.identity, "caller": call.caller_identity,
                               "payload": call.payload})
        room.local_participant.register_rpc_method("echo", echo)
    summary["remote_participants"] = sorted(p.identity for p in room.remote_participants.values())
    report(event="connected", join_ms=summary["join_ms"])
    end = time.monotonic() + SECONDS
    if OPTS.get("stats_every"):
        asyncio.ensure_future(sample_stats(room, t0, end, float(OPTS["stats_every"]), summary))
    if OPTS.get("timeline"):
        asyncio.ensure_future(watch_loop_lag(t0, end, summary))
    if ROLE == "publish-denied":
        try:
            src = rtc.AudioSource(48000, 1)
            await asyncio.wait_for(room.local_participant.publish_track(
                rtc.LocalAudioTrack.create_audio_track("denied", src),
                rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE)), 10)
            summary["publish_error"] = None
        except Exception as e:  # noqa: BLE001
            summary["publish_error"] = f"{type(e).__name__}: {e}"
    elif ROLE == "data":
        n = 0
        while time.monotonic() < end:
            await room.local_participant.publish_data(f"data-only-{n}".encode(), reliable=True, topic="test")
            n += 1
            await asyncio.sleep(0.5)
        summary["data_sent"] = n
    elif ROLE in ("publisher", "both"):
        pub_task = asyncio.ensure_future(publish(room, end, summary))
        await run_actions(room, t0, summary)
        await asyncio.wait([pub_task, asyncio.ensure_future(stop.wait())], return_when=asyncio.FIRST_COMPLETED)
        if pub_task.done():
            pub_task.result()      # its exception, if any
        pub_task.cancel()
    else:
        await run_actions(room, t0, summary)
    remaining = end - time.monotonic()
    if remaining > 0 and not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), remaining)
        except asyncio.TimeoutError:
            pass
    summary["stopped"] = stop.is_set()
    summary["remote_participants_end"] = sorted(p.identity for p in room.remote_participants.values())
    await room.disconnect()
    report(**summary)


asyncio.run(asyncio.wait_for(main(), SECONDS + 60))
# The summary is out and the room disconnected.  Skip the interpreter's teardown: the SDK's
# native side (libwebrtc threads) sometimes aborts while it is destroyed at exit (SIGABRT after
# a complete run), which says nothing about the call.  A crash during the call still shows: no
# summary, or one without "stopped".
sys.stdout.flush()
os._exit(0)
