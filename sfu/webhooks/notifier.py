"""Sends webhook events over HTTP: one DeliveryQueue (and, while it has events, one task) per
URL and room, so a slow or dead receiver delays only that room's events to that URL and never
the room itself (notify() only queues)."""

from __future__ import annotations

import asyncio
import logging
import time

import aiohttp
from livekit.protocol.webhook import WebhookEvent

from .. import auth
from . import events
from .delivery_queue import DROP_REASONS, DeliveryQueue

log = logging.getLogger("sfu.webhooks")

TOKEN_TTL = 300.0        # s; the receiver checks the signature when the event arrives
REQUEST_TIMEOUT = 5.0    # s per attempt


class WebhookNotifier:
    def __init__(self, urls: list[str], keys: auth.KeyProvider, api_key: str,
                 request_timeout: float = REQUEST_TIMEOUT) -> None:
        if keys.secret(api_key) is None:
            raise ValueError(f"webhook.api_key {api_key!r} is not one of the configured keys")
        self.urls = list(urls)
        self.keys = keys
        self.api_key = api_key
        self.request_timeout = request_timeout
        self.queues: dict[tuple[str, str], DeliveryQueue] = {}
        self.tasks: dict[tuple[str, str], asyncio.Task] = {}
        self.sent = 0
        self.dropped = {r: 0 for r in DROP_REASONS}
        self._session: aiohttp.ClientSession | None = None

    def notify(self, resource: str, ev: WebhookEvent) -> None:
        """queue `ev` for every URL, after the earlier events about `resource` (a room's sid)"""
        body = events.encode(ev)
        now = time.monotonic()
        for url in self.urls:
            key = (url, resource)
            q = self.queues.get(key)
            if q is None:
                q = self.queues[key] = DeliveryQueue()
            if not q.push(ev.event, body, now):
                self.dropped["queue_full"] += 1
                log.warning("webhook %s for %s to %s dropped: queue full", ev.event, resource, url)
            if key not in self.tasks:
                self.tasks[key] = asyncio.get_running_loop().create_task(self._drain(key, q))

    def stats(self) -> dict:
        return {"sent": self.sent, "dropped": dict(self.dropped),
                "queued": sum(len(q) for q in self.queues.values())}

    async def flush(self, timeout: float) -> bool:
        """wait until every queued event is sent or dropped (True), at most `timeout` s"""
        tasks = list(self.tasks.values())
        if not tasks:
            return True
        _, pending = await asyncio.wait(tasks, timeout=timeout)
        return not pending

    async def close(self, timeout: float = 2.0) -> None:
        """send what is queued for up to `timeout` s (room_finished on shutdown), then stop"""
        await self.flush(timeout)
        for t in list(self.tasks.values()):
            t.cancel()
        await asyncio.gather(*self.tasks.values(), return_exceptions=True)
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _drain(self, key: tuple[str, str], q: DeliveryQueue) -> None:
        url = key[0]
        before = dict(q.dropped)
        try:
            while True:
                item, wait = q.next(time.monotonic())
                if item is None:
                    if not wait:
                        break
                    await asyncio.sleep(wait)
                    continue
                status = await self._post(url, item.body)
                outcome = q.result(item, status, time.monotonic())
                if outcome == "sent":
                    self.sent += 1
                elif outcome != "retry":
                    log.warning("webhook %s to %s dropped (%s) after %d attempt(s), last status %s",
                                item.name, url, outcome, item.attempts, status)
        finally:
            for r in DROP_REASONS:     # drops the queue decided itself (age, attempts, rejected)
                if r != "queue_full":
                    self.dropped[r] += q.dropped[r] - before[r]
            if self.tasks.get(key) is asyncio.current_task():
                del self.tasks[key]
            if not q.items and self.queues.get(key) is q:
                del self.queues[key]

    async def _post(self, url: str, body: bytes) -> int | None:
        """the HTTP status, or None when there was no answer"""
        if self._session is None:
            self._session = aiohttp.ClientSession()
        token = self.keys.create(self.api_key, ttl=TOKEN_TTL, sha256=events.body_sha256(body))
        try:
            async with self._session.post(
                    url, data=body, timeout=aiohttp.ClientTimeout(total=self.request_timeout),
                    headers={"Authorization": token, "Content-Type": events.CONTENT_TYPE}) as resp:
                await resp.read()
                return resp.status
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as e:
            log.info("webhook to %s: %s", url, e or type(e).__name__)
            return None
