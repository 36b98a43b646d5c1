"""Recording and ingest with ffmpeg (sfu.control.record / ingest), in-process on loopback: an
ffmpeg test source (440 Hz tone, test pattern) ingested as a participant's tracks, recorded
back into files: the tone's pitch by FFT, the video's frames by ffprobe."""

from __future__ import annotations

import asyncio
import shutil

import pytest

import sfu.control
from helpers.media_files import audio_pitch, container_format, frame_count
from helpers.net import free_port


def require_ffmpeg() -> None:
    if shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None:
        pytest.fail("ffmpeg and ffprobe are needed (scripts/setup installs Debian's ffmpeg)")


@pytest.mark.timeout(90)
async def test_ingested_source_recorded_back(tmp_path):
    require_ffmpeg()
    async with sfu.control.embed(port=free_port(), udp_port=0, tcp_port=free_port(), workers=2) as server:
        ing = await sfu.control.ingest(server, "r", "tv", name="TV", log_path=tmp_path / "ingest.log")
        assert len(ing.track_sids) == 2
        info = await server.rooms.get_participant("r", "tv")
        assert sorted(t.mime_type for t in info.tracks) == ["audio/opus", "video/VP8"]
        await asyncio.sleep(1.0)
        rec = await sfu.control.record(server, "r", tmp_path / "rec")
        await asyncio.sleep(6.0)
        codes = await rec.stop()
        assert set(codes) == set(ing.track_sids) and all(c in (0, 255) for c in codes.values()), codes
        await ing.stop()
        assert await server.rooms.list_participants("r") == []
    files = rec.files
    audio = next(p for p in files.values() if p.suffix == ".ogg")
    video = next(p for p in files.values() if p.suffix == ".webm")
    pitch, rms, seconds = audio_pitch(audio)
    # 6 s recorded; ffmpeg writes from its first key frame on (one a second from this source),
    # after reading a little to learn each stream's parameters; and the source itself (an
    # ffmpeg encoding in real time) falls behind on a loaded machine
    assert abs(pitch - 440) < 5 and rms > 500 and seconds > 2.5, (pitch, rms, seconds)
    v = frame_count(video)
    assert v["codec_name"] == "vp8" and (v["width"], v["height"]) == (640, 360), v
    assert v["nb_read_frames"] >= 45, v


@pytest.mark.timeout(60)
async def test_opus_recorded_into_webm(tmp_path):
    require_ffmpeg()
    async with sfu.control.embed(port=free_port(), udp_port=0, tcp_port=free_port(), workers=1) as server:
        ing = await sfu.control.ingest(server, "r", "radio", video=False)
        await asyncio.sleep(1.0)
        rec = await sfu.control.record(server, "r", tmp_path, audio_container="webm")
        await asyncio.sleep(4.0)
        await rec.stop()
        await ing.stop()
    [path] = rec.files.values()
    assert path.suffix == ".webm"
    assert container_format(path) == "matroska,webm" and frame_count(path)["codec_name"] == "opus"
    pitch, rms, seconds = audio_pitch(path)
    assert abs(pitch - 440) < 5 and rms > 500 and seconds > 1.5, (pitch, rms, seconds)


async def published(server, room: str, identity: str, n: int, timeout: float = 10.0) -> None:
    for _ in range(int(timeout * 10)):
        if any(p.identity == identity and len(p.tracks) == n for p in await server.rooms.list_participants(room)):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{identity} did not publish {n} tracks in {room}")


async def start_cli(*args: str) -> asyncio.subprocess.Process:
    import sys
    # cwd "/": `-m` puts the working directory first on sys.path, and a checkout's source tree
    # has no C extension (the installed package has)
    return await asyncio.create_subprocess_exec(sys.executable, "-m", "sfu.cli", *args, cwd="/",
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)


async def run_cli(*args: str, timeout: float = 60) -> tuple[int, str, str]:
    proc = await start_cli(*args)
    out, err = await asyncio.wait_for(proc.communicate(), timeout)
    return proc.returncode, out.decode(), err.decode()


@pytest.mark.timeout(120)
async def test_sfu_ingest_and_sfu_record_against_a_running_server(tmp_path):
    """the CLI verbs, through the plain-transport HTTP API (sfu.control.RemoteServer)"""
    import json
    import signal

    require_ffmpeg()
    async with sfu.control.embed(port=free_port(), udp_port=0, tcp_port=free_port(), workers=2) as server:
        api = ["--url", server.http_url, "--api-key", "devkey", "--api-secret", "secret"]
        ingest = await start_cli("ingest", "--room", "r", "--identity", "tv", "--duration", "60", *api)
        try:
            await published(server, "r", "tv", 2, timeout=20)
            await asyncio.sleep(1.0)
            rc, out, err = await run_cli("record", "--room", "r", "--dir", str(tmp_path), "--duration", "6", *api)
            assert rc == 0, err
            files = json.loads(out)["files"]
        finally:
            if ingest.returncode is None:
                ingest.send_signal(signal.SIGINT)      # it stops its ffmpeg, its participant leaves
            out, err = await asyncio.wait_for(ingest.communicate(), 20)
        assert ingest.returncode == 0, err
        sids = json.loads(out)["track_sids"]
        assert set(files) == set(sids)
        assert await server.rooms.list_participants("r") == []
        rc, _, err = await run_cli("record", "--room", "r", "--track", "TR_nope", "--duration", "1", *api)
        assert rc == 1 and "TR_nope" in err
    audio = next(p for p in files.values() if p.endswith(".ogg"))
    video = next(p for p in files.values() if p.endswith(".webm"))
    pitch, rms, seconds = audio_pitch(audio)
    assert abs(pitch - 440) < 5 and seconds > 2.5, (pitch, rms, seconds)      # as above
    assert frame_count(video)["nb_read_frames"] >= 45


@pytest.mark.timeout(60)
async def test_ingest_of_an_input_ffmpeg_cannot_open_fails_and_leaves_nothing(tmp_path):
    require_ffmpeg()
    async with sfu.control.embed(port=free_port(), udp_port=0, tcp_port=free_port(), workers=1) as server:
        with pytest.raises(RuntimeError, match="exited at once"):
            await sfu.control.ingest(server, "r", "tv", input_args=["-i", str(tmp_path / "missing.mp4")])
        assert await server.rooms.list_participants("r") == []
        with pytest.raises(LookupError, match="TR_nope"):
            await sfu.control.record(server, "r", tmp_path, track_sids=["TR_nope"])
