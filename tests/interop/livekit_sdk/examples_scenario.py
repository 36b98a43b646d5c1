"""The examples (examples/*.py) as written, against real rtc SDK participants, in a private
network namespace (`unshare -n python -m interop.livekit_sdk.examples_scenario NAME` from
tests/).  Each example runs as its own process with a --duration bound.

  keyword_kick  a participant sending "data-only-N" messages is removed when it says
                data-only-3
  recorder      a publisher's sine and test pattern end up in .ogg and .webm files

Prints one JSON summary on the last line.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from helpers.media_files import audio_pitch, frame_count
from helpers.netns import SERVER_IP, add_veth
from helpers.sdk_client import client, result
from helpers.sfu_server import token

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
URL = f"ws://{SERVER_IP}:7880"


def start_example(name: str, *args: str) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, str(EXAMPLES / name), "--host", SERVER_IP, "--port", "7880", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:              # "ready: ws://..." once the server listens
        if line.startswith("ready:"):
            return proc
    raise AssertionError(f"{name} did not start: rc {proc.wait()}")


def finish(proc: subprocess.Popen, timeout: float = 30) -> dict:
    out, _ = proc.communicate(timeout=timeout)
    return {"rc": proc.returncode, "output": out[-4000:]}


def keyword_kick() -> dict:
    ex = start_example("keyword_kick.py", "--keyword", "data-only-3", "--duration", "14")
    t0 = time.monotonic()
    alice = result(client(token("alice"), "data", 10, URL))
    return {"alice": alice, "alice_seconds": time.monotonic() - t0, "example": finish(ex)}


def recorder() -> dict:
    out_dir = Path(tempfile.mkdtemp(prefix="sfu-example-rec-"))
    ex = start_example("recorder.py", "--dir", str(out_dir), "--duration", "14")
    alice = result(client(token("alice"), "publisher", 9, URL, freq=440, color=[200, 30, 30]))
    out: dict = {"alice": alice, "example": finish(ex), "files": {}}
    for path in sorted(out_dir.iterdir()):
        if path.suffix in (".ogg", ".webm"):
            entry: dict = {"size": path.stat().st_size, **frame_count(path)}
            if path.suffix == ".ogg":
                entry["pitch_hz"], entry["rms"], entry["seconds"] = audio_pitch(path)
            out["files"][path.name] = entry
    return out


if __name__ == "__main__":
    add_veth()
    print(json.dumps({"keyword_kick": keyword_kick, "recorder": recorder}[sys.argv[1]]()))
