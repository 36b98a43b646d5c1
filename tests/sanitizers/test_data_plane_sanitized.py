"""The data-plane tests again, on an AddressSanitizer + UBSan build of the
extension modules (sfu._native, sfu._units, sfu.loadtest._engine; worker
processes included, through LD_PRELOAD)."""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
TESTS = ["component/test_loop_forwarding.py", "process/test_forwarding_matches_reference.py",
         "process/test_cross_worker_forwarding.py", "component/test_loadtest_engine.py", "unit/c",
         "component/test_producer_activity_events.py", "component/test_unknown_ssrc_event.py",
         "component/test_consumer_key_frame_request.py", "component/test_loss_recovery.py",
         "component/test_ice_tcp_loop.py"]


def _runtime(name: str) -> str:
    return subprocess.run(["gcc", f"-print-file-name={name}"], capture_output=True, text=True).stdout.strip()


@pytest.mark.timeout(600)
def test_data_plane_under_sanitizers(tmp_path):
    if not (REPO / "csrc").is_dir():
        pytest.fail("the source tree (csrc/) is needed next to tests/")
    asan = _runtime("libasan.so")
    assert os.path.isabs(asan) and os.path.exists(asan), "gcc's libasan is missing (install gcc)"
    for d in ("csrc", "sfu"):
        shutil.copytree(REPO / d, tmp_path / d, ignore=shutil.ignore_patterns("*.so", "__pycache__", "out"))
    shutil.copy(REPO / "build_ext.py", tmp_path)
    shutil.copy(REPO / "pyproject.toml", tmp_path)  # pytest settings
    shutil.copytree(REPO / "tests", tmp_path / "tests", ignore=shutil.ignore_patterns("__pycache__"))
    env = dict(os.environ, SFU_SANITIZE="1")
    b = subprocess.run([sys.executable, "build_ext.py"], cwd=tmp_path, env=env, capture_output=True, text=True,
                       timeout=300)
    assert b.returncode == 0, b.stderr[-3000:]
    env.update(PYTHONPATH=str(tmp_path), LD_PRELOAD=asan,
               ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:halt_on_error=1",
               UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1")
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider",
                        *[f"tests/{t}" for t in TESTS]],
                       cwd=tmp_path, env=env, capture_output=True, text=True, timeout=500)
    out = r.stdout + r.stderr
    assert "ERROR: AddressSanitizer" not in out and "runtime error:" not in out, out[-6000:]
    assert r.returncode == 0, out[-6000:]
    assert " passed" in out
