"""A server in this process that records every track published in it with ffmpeg: opus to
DIR/IDENTITY-TRACKSID.ogg, VP8 to .webm (each file is complete when its track ends or the
server stops).

    python examples/recorder.py [--dir recordings] [--host 127.0.0.1] [--port 7880] [--duration S]
"""

from __future__ import annotations

import argparse
import asyncio

import sfu.control


async def main(directory: str, host: str, port: int, duration: float) -> None:
    async with sfu.control.embed(bind=[host], node_ip=host, port=port) as server:
        recordings: dict[str, sfu.control.Recording] = {}      # track sid -> its recording

        async def start(event: sfu.control.Event) -> None:
            await asyncio.sleep(0.5)         # the publisher's first packets
            rec = await sfu.control.record(server, event.room.name, directory, track_sids=[event.track.sid])
            recordings[event.track.sid] = rec
            print(f"recording {event.participant.identity}'s {event.track.sid} to {rec.files[event.track.sid]}",
                  flush=True)

        async def stop(event: sfu.control.Event) -> None:
            rec = recordings.pop(event.track.sid, None)
            if rec is not None:
                status = await rec.stop()
                print(f"finished {rec.files[event.track.sid]} (ffmpeg exit {status[event.track.sid]})", flush=True)

        server.on("track_published", start)
        server.on("track_unpublished", stop)
        print(f"ready: {server.url}", flush=True)
        await (asyncio.sleep(duration) if duration else asyncio.Event().wait())
        for sid, rec in list(recordings.items()):
            status = await rec.stop()
            print(f"finished {rec.files[sid]} (ffmpeg exit {status[sid]})", flush=True)


if __name__ == "__main__":
    p = argparse.ArgumentParser(description="record every track published, with ffmpeg")
    p.add_argument("--dir", default="recordings")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=7880)
    p.add_argument("--duration", type=float, default=0.0, help="stop after S seconds (default: until Ctrl-C)")
    a = p.parse_args()
    try:
        asyncio.run(main(a.dir, a.host, a.port, a.duration))
    except KeyboardInterrupt:
        pass
