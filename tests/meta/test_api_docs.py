"""scripts/api_docs builds the Python API reference from the docstrings, without warnings."""

from __future__ import annotations

import pathlib
import subprocess

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
