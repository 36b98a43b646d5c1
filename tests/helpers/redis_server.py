"""A private redis-server: loopback, a free port, no persistence."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import time

from .net import free_port


def redis_binary() -> str:
    path = shutil.which("redis-server") or ("/usr/bin/redis-server" if os.path.exists("/usr/bin/redis-server")
                                            else None)
    if path is None:
        raise RuntimeError("redis-server not found: run ./scripts/setup (installs it) or apt-get install redis-server")
    return path


class RedisServer:
    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> "RedisServer":
        self.proc = subprocess.Popen([redis_binary(), "--port", str(self.port), "--bind", "127.0.0.1",
                                      "--save", "", "--appendonly", "no"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return self

    def ready(self, timeout: float = 10) -> "RedisServer":
        """wait until it answers PING"""
        import redis

        end = time.monotonic() + timeout
        while True:
            r = redis.Redis.from_url(self.url)
            try:
                r.ping()
                return self
            except (OSError, redis.ConnectionError):
                if time.monotonic() > end:
                    raise AssertionError("redis-server did not start") from None
                time.sleep(0.05)
            finally:
                r.close()

    async def wait(self, timeout: float = 10) -> "RedisServer":
        return await asyncio.to_thread(self.ready, timeout)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(5)
            self.proc = None
