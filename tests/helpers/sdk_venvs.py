"""Where the real SDKs are: the Python of the client virtualenv (livekit rtc SDK,
livekit-api) and of the agents virtualenv (livekit-agents), both made by scripts/setup.

SFU_LIVEKIT_PYTHON / SFU_AGENTS_PYTHON name the interpreters; otherwise
SFU_CLIENT_VENV / SFU_AGENTS_VENV (the virtualenvs scripts/setup made, relative
to the repository like there) or .venv-client / .venv-agents.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _python(var: str, venv_var: str, default_venv: str) -> str:
    if os.environ.get(var):
        return os.environ[var]
    return str(REPO / (os.environ.get(venv_var) or default_venv) / "bin" / "python")


CLIENT_PYTHON = _python("SFU_LIVEKIT_PYTHON", "SFU_CLIENT_VENV", ".venv-client")
AGENTS_PYTHON = _python("SFU_AGENTS_PYTHON", "SFU_AGENTS_VENV", ".venv-agents")


def require(python: str, what: str) -> str:
    """`python` if it exists; otherwise the test fails (never skips) saying how to get it"""
    if not os.path.exists(python):
        import pytest
        pytest.fail(f"no Python with {what} at {python}: run ./scripts/setup "
                    "(or set SFU_LIVEKIT_PYTHON / SFU_AGENTS_PYTHON)")
    return python
