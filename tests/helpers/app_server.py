"""The server in-process (sfu.app.Server) as tests and benchmarks run it: on
loopback, a free HTTP port, UDP ports the OS picks, one media worker, the dev key."""

from __future__ import annotations

import contextlib
from typing import AsyncIterator

from sfu import config
from sfu.app import Server

from .net import free_port
from .tokens import KEYS


async def start_server(**settings) -> Server:
    """a started Server; `settings` (config.load keywords: workers=, room=, node_ip=, ...) override the defaults"""
    s = config.load(**{"port": free_port(), "udp_port": 0, "tcp_port": free_port(), "workers": 1, "keys": KEYS, "bind": ["127.0.0.1"],
                       "allow_short_secrets": True, **settings})    # KEYS: the dev key, secret "secret"
    srv = Server(s)
    try:
        await srv.start()
    except BaseException:
        await srv.stop()          # workers that did start must not outlive a failed start
        raise
    return srv


@contextlib.asynccontextmanager
async def running_server(**settings) -> AsyncIterator[Server]:
    srv = await start_server(**settings)
    try:
        yield srv
    finally:
        await srv.stop()


def server_fixture(**settings):
    """a pytest fixture: a running server per test, named by the module attribute it is assigned to
    (`server = server_fixture(workers=2)`)"""
    import pytest      # here, not at the top: benchmarks import this module without pytest

    @pytest.fixture
    async def fixture() -> AsyncIterator[Server]:
        async with running_server(**settings) as srv:
            yield srv
    return fixture
