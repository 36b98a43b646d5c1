"""One control vocabulary: the channel schema (sfu.worker.messages), the worker's
handlers, the typed wrapper over the C commands (sfu.worker.native_loop) and the
error table (sfu.errors) name the same things, and nothing is declared but unused."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

import sfu
from sfu import errors
from sfu.native import _RC_KINDS, lib
from sfu.worker import messages
from sfu.worker.main import Worker
from sfu.worker.native_loop import NativeLoop

SFU = Path(sfu.__file__).resolve().parent


def _source(*skip: str) -> str:
    return "\n".join(p.read_text() for p in SFU.rglob("*.py") if p.name not in skip)


def test_every_request_has_a_handler_and_every_handler_a_request():
    handlers = {name[3:].upper() for name, _ in inspect.getmembers(Worker, inspect.isfunction)
                if name.startswith("on_") and name != "on_queue_readable"}
    assert handlers == set(messages.REQUESTS), (handlers ^ set(messages.REQUESTS))


def test_every_request_is_sent_by_the_main_process():
    src = _source("messages.py", "main.py")
    unsent = [m for m in messages.REQUESTS if f'"{m}"' not in src]
    assert not unsent, unsent


def test_every_c_command_has_its_method_and_each_is_used():
    commands = {n[len("SFU_CMD_"):].lower() for n in dir(lib) if n.startswith("SFU_CMD_")}
    methods = {n for n, _ in inspect.getmembers(NativeLoop, inspect.isfunction) if not n.startswith("_")}
    assert commands <= methods, commands - methods
    src = _source("native_loop.py")
    unused = [m for m in commands if not re.search(rf"\.{m}\(", src)]
    assert not unused, f"C commands no code sends: {unused}"


def test_the_wrapper_is_the_only_place_that_builds_commands():
    src = _source("native_loop.py")
    assert "sfu_cmd_t" not in src.replace("(sfu_cmd_t)", "")
    assert "sfu_loop_command" not in src


def test_schema_checks_required_optional_and_unknown_fields():
    messages.check_request("CONSUMER_CREATE", {"id": 1, "transport_id": 1, "producer_id": 1, "ssrc": 1,
                                               "payload_type": 96, "seq_start": 0, "ts_offset": 0, "paused": False,
                                               "ext_map": {}})
    with pytest.raises(messages.SchemaError, match="missing paused"):
        messages.check_request("CONSUMER_CREATE", {"id": 1, "transport_id": 1, "producer_id": 1, "ssrc": 1,
                                                   "payload_type": 96, "seq_start": 0, "ts_offset": 0})
    with pytest.raises(messages.SchemaError, match="unknown field pausd"):
        messages.check_request("CONSUMER_SET_PAUSED", {"id": 1, "paused": True, "pausd": True})
    with pytest.raises(messages.SchemaError, match="unknown method"):
        messages.check_request("CONSUMER_EXPLODE", {})
    with pytest.raises(messages.SchemaError, match="reply: missing port"):
        messages.check_reply("TRANSPORT_CREATE", {"ip": "1.2.3.4"})
    with pytest.raises(messages.SchemaError, match="unknown field"):
        messages.check_plain_body("connect", {"ip": "1.2.3.4", "port": 5, "prot": 6})


def test_every_plain_api_body_is_checked_by_the_http_api():
    app = (SFU / "app.py").read_text()
    assert {m for m in re.findall(r'_body\(request, "(\w+)"\)', app)} == set(messages.PLAIN_API)


def test_error_table():
    names = [k.name for k in errors.ERROR_KINDS]
    assert len(set(names)) == len(names) and len({k.exception for k in errors.ERROR_KINDS}) == len(names)
    for k in errors.ERROR_KINDS:           # a kind sent over the channel comes back as the same exception
        exc = errors.from_kind(k.name, "x")
        assert type(exc) is k.exception and errors.kind_of(exc) is k
    assert errors.kind_of(ValueError("bad")).twirp_code == "invalid_argument"
    assert errors.kind_of(RuntimeError("?")).name == "Error"
    assert type(errors.from_kind("NoSuchKind", "x")) is errors.SfuError
    assert set(_RC_KINDS.values()) <= set(errors.BY_NAME)
