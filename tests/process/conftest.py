"""Fixtures of the process tier: started worker pools."""

from __future__ import annotations

import pytest

from helpers.worker_pool import running_pool


@pytest.fixture
async def pool1():
    async with running_pool(1) as p:
        yield p


@pytest.fixture
async def pool2():
    async with running_pool(2) as p:
        yield p
