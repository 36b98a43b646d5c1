"""The unmodified `livekit-api` package (client virtualenv) against the server API
of an in-process server (tests/interop/livekit_sdk/lkapi_script.py, one JSON line per step)."""

from __future__ import annotations

import json
from pathlib import Path

from livekit.protocol import models

from helpers.app_server import server_fixture
from helpers.commands import run
from helpers.sdk_venvs import CLIENT_PYTHON, require
from helpers.signal_client import Client
from helpers.tokens import join_token

SCRIPT = Path(__file__).resolve().parent / "livekit_sdk" / "lkapi_script.py"

server = server_fixture(room={"empty_timeout": 30, "departure_timeout": 10})


async def test_livekit_api_package(server):
    require(CLIENT_PYTHON, "livekit-api")
    async with Client(server, join_token("alice", "lk")) as a:
        await a.next("join")
        rc, out, err = await run(CLIENT_PYTHON, str(SCRIPT), f"http://127.0.0.1:{server.settings.port}",
                                 "devkey", "secret", "lk", "alice")
        assert rc == 0, f"livekit-api script failed:\n{out}\n{err}"
        steps = {s["step"]: s for s in map(json.loads, out.splitlines())}
        assert steps["create"]["name"] == "lk" and steps["create"]["empty_timeout"] == 120
        assert steps["create_again"]["sid"] == steps["create"]["sid"]
        assert steps["list_rooms"]["names"] == ["lk"] and steps["list_rooms_filtered"]["names"] == []
        assert steps["list_participants"]["identities"] == ["alice"]
        assert steps["get_participant"]["identity"] == "alice"
        assert steps["get_missing"] == {"step": "get_missing", "code": "not_found", "status": 404}
        assert steps["update_participant"] == {"step": "update_participant", "metadata": "hello",
                                               "attributes": {"a": "1"}}
        assert steps["update_room_metadata"]["metadata"] == "m2"
        cd = steps["create_dispatch"]
        assert cd["code"] is None and cd["id"].startswith("AD_") and cd["agent_name"] == "a"
        assert ["a", "my_job_metadata"] in cd["listed"]
        assert steps["after_remove"]["identities"] == [] and steps["after_delete"]["names"] == []
        assert (await a.next("leave")).leave.reason == models.DisconnectReason.PARTICIPANT_REMOVED
