"""Fixtures of the real-browser tests (headless Chromium with livekit-client,
@livekit/rtc-node), all inside one private network namespace per session;
see lkroom.py for what is shared and what each test owns."""

from __future__ import annotations

import pytest

from .lkroom import BrowserEnv, TestRoom


@pytest.fixture(scope="session")
def browser_env(tmp_path_factory):
    env = BrowserEnv(tmp_path_factory.mktemp("browser"))
    yield env
    env.close()


@pytest.fixture
def lk(browser_env, request):
    room = TestRoom(browser_env, request.node.name)
    request.node.lk_room = room
    yield room
    room.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A failing browser test prints the pages' console logs and the server log."""
    outcome = yield
    rep = outcome.get_result()
    room = getattr(item, "lk_room", None)
    if room is not None and rep.when == "call" and rep.failed:
        for title, text in room.diagnostics():
            rep.sections.append((title, text))
