"""Fixtures of the cluster tier: a redis-server and two `sfu serve --redis` nodes
per test module; the nodes' log tails after each test that used them."""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis

from helpers.redis_server import RedisServer
from helpers.server_process import ServerProcess


@pytest.fixture(scope="module")
def redis_proc():
    rp = RedisServer().start()
    try:
        yield rp
    finally:
        rp.stop()


@pytest.fixture
async def r(redis_proc):
    await redis_proc.wait()
    c = aioredis.from_url(redis_proc.url)
    yield c
    await c.aclose()


@pytest.fixture(autouse=True)
def node_logs(request):
    """after each test, the tails of the nodes' logs (pytest shows them when the test failed)"""
    yield
    if "nodes" in request.fixturenames:
        for n in request.getfixturevalue("nodes"):
            print(f"--- node {n.id or n.port} log tail ---\n{n.log_tail()}")


@pytest.fixture(scope="module")
def nodes(redis_proc):
    import redis

    redis.Redis.from_url(redis_proc.ready().url).flushall()
    ns = [ServerProcess(redis=redis_proc.url), ServerProcess(redis=redis_proc.url)]
    try:
        for n in ns:
            n.ready()
        yield ns
    finally:
        for n in ns:
            n.stop()
