"""scripts/api_docs builds the Python API reference from the docstrings, without warnings,
and every public name of sfu.control has a docstring to build it from."""

from __future__ import annotations

import inspect
import pathlib
import subprocess

import sfu.control

REPO = pathlib.Path(__file__).resolve().parents[2]


def test_api_docs_script_builds_the_reference(tmp_path):
    p = subprocess.run([str(REPO / "scripts" / "api_docs"), str(tmp_path)], capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 0, p.stderr
    assert "Warn" not in p.stderr, p.stderr
    page = (tmp_path / "sfu" / "control.html").read_text()
    for name in ("EmbeddedServer", "create_plain_transport", "remove_participant", "data_received",
                 "request_key_frame"):
        assert name in page, name
    for name in ("Rooms.perform_rpc", "Dispatch.list_dispatch", "Ingest.stop", "TwirpError.status", "RemoteMedia",
                 "RemotePlainTransport.set_srtp", "RemoteProducer.stats", "RemoteConsumer.close"):
        assert f'id="{name}"' in page, name          # an entry of its own


def test_every_public_name_has_a_docstring():
    missing = []
    for name in sfu.control.__all__:
        obj = getattr(sfu.control, name)
        if not inspect.isclass(obj):
            if callable(obj) and not (obj.__doc__ or "").strip():
                missing.append(name)
            continue
        if not (obj.__dict__.get("__doc__") or "").strip():
            missing.append(name)
        for attr, value in vars(obj).items():
            fn = value.fget if isinstance(value, property) else value
            if not attr.startswith("_") and callable(fn) and not (fn.__doc__ or "").strip():
                missing.append(f"{name}.{attr}")
    assert not missing, f"no docstring: {', '.join(missing)}"
