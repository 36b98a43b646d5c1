"""Recording and ingest against real rtc SDK participants, in a private network namespace
(`unshare -n python -m interop.livekit_sdk.record_ingest_scenario NAME` from tests/): the
server runs in this process (sfu.control.embed) on the veth address.

  record  alice (SDK) publishes a 440 Hz sine and a test pattern; her tracks are recorded
          with ffmpeg; the files' pitch (FFT) and frame count (ffprobe) are reported
  ingest  an ffmpeg test source is ingested as participant "tv"; bob (SDK) subscribes and
          reports what he decoded

Prints one JSON summary on the last line.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
from pathlib import Path

import sfu.control
from helpers.media_files import audio_pitch, frame_count
from helpers.netns import SERVER_IP, add_veth
from helpers.sdk_client import client, result


def embed() -> "sfu.control.server.EmbeddedServer":
    return sfu.control.embed(bind=[SERVER_IP], node_ip=SERVER_IP, port=7880, udp_port=7882, workers=2)


async def wait_tracks(events, identity: str, n: int, timeout: float) -> list[str]:
    sids: list[str] = []

    async def wait() -> None:
        async for ev in events:
            if ev.participant is not None and ev.participant.identity == identity:
                sids.append(ev.track.sid)
                if len(sids) == n:
                    return
    await asyncio.wait_for(wait(), timeout)
    return sids


async def record() -> dict:
    out_dir = Path(tempfile.mkdtemp(prefix="sfu-record-"))
    async with embed() as server:
        events = server.events("track_published")
        alice = client(server.token("alice", "room"), "publisher", 14, server.url, freq=440, color=[200, 30, 30])
        sids = await wait_tracks(events, "alice", 2, 30)
        await asyncio.sleep(1.0)
        rec = await sfu.control.record(server, "room", out_dir)
        await asyncio.sleep(6.0)
        codes = await rec.stop()
        alice_result = await asyncio.to_thread(result, alice)
    out: dict = {"alice": alice_result, "sids": sids, "codes": codes, "files": {}}
    for sid, path in rec.files.items():
        entry: dict = {"path": str(path), "size": path.stat().st_size if path.exists() else 0}
        entry.update(frame_count(path))
        if path.suffix == ".ogg":
            entry["pitch_hz"], entry["rms"], entry["seconds"] = audio_pitch(path)
        entry["ffmpeg_log"] = Path(str(path.with_suffix("")) + ".ffmpeg.log").read_text()[-1500:]
        out["files"][sid] = entry
    return out


async def ingest() -> dict:
    async with embed() as server:
        bob = client(server.token("bob", "room"), "subscriber", 12, server.url)
        await asyncio.sleep(1.0)
        ing = await sfu.control.ingest(server, "room", "tv", log_path="/tmp/sfu-ingest-ffmpeg.log")
        bob_result = await asyncio.to_thread(result, bob)
        await ing.stop()
    return {"bob": bob_result, "sids": ing.track_sids}


if __name__ == "__main__":
    add_veth()
    name = sys.argv[1]
    print(json.dumps(asyncio.run({"record": record, "ingest": ingest}[name]())))
