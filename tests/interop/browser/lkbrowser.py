"""Python side of the test driver (driver.mjs): a node process in the test's
network namespace that runs headless Chromium pages with livekit-client
(window.lk, page/harness.js) and @livekit/rtc-node participants.  Requests are
JSON lines on its stdin; replies come back on stdout prefixed REPLY_PREFIX;
everything else it prints is kept for diagnostics."""

from __future__ import annotations

import collections
import concurrent.futures
import itertools
import json
import subprocess
import threading
import time
from pathlib import Path
from typing import Any, Callable

from helpers.netns import NetNamespace

HERE = Path(__file__).resolve().parent
REPLY_PREFIX = "@@lk "


class DriverError(RuntimeError):
    pass


class Driver:
    def __init__(self, ns: NetNamespace, name: str = "driver") -> None:
        self.name = name
        self.output: collections.deque[str] = collections.deque(maxlen=400)
        self._pending: dict[int, concurrent.futures.Future] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self.proc = ns.popen(["node", str(HERE / "driver.mjs")], cwd=HERE, stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
        self._reader = threading.Thread(target=self._read, name=f"{name}-reader", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith(REPLY_PREFIX):
                msg = json.loads(line[len(REPLY_PREFIX):])
                with self._lock:
                    fut = self._pending.pop(msg["id"], None)
                if fut is not None:
                    if msg["ok"]:
                        fut.set_result(msg["result"])
                    else:
                        fut.set_exception(DriverError(msg["error"]))
            else:
                self.output.append(line.rstrip("\n"))
        with self._lock:
            pending, self._pending = self._pending, {}
        for fut in pending.values():
            fut.set_exception(DriverError(f"{self.name} exited ({self.proc.poll()}): " + "\n".join(self.output)))

    def request(self, op: str, timeout: float = 60, **fields: Any) -> Any:
        if self.proc.poll() is not None:
            raise DriverError(f"{self.name} exited ({self.proc.returncode}): " + "\n".join(self.output))
        fut: concurrent.futures.Future = concurrent.futures.Future()
        assert self.proc.stdin is not None
        with self._lock:                     # requests may come from several threads (parallel())
            rid = next(self._ids)
            self._pending[rid] = fut
            self.proc.stdin.write(json.dumps({"id": rid, "op": op, **fields}) + "\n")
            self.proc.stdin.flush()
        try:
            return fut.result(timeout)
        except concurrent.futures.TimeoutError:
            raise DriverError(f"{op}: no reply within {timeout} s") from None

    def close(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()              # the driver closes its browsers and rooms and exits
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Page:
    """One browser page with one livekit-client Room."""

    def __init__(self, driver: Driver, browser: str, label: str) -> None:
        self.driver, self.label = driver, label
        self.connected: dict | None = None         # what lk.connect answered
        self.id = driver.request("browser.open", browser=browser, label=label)

    def js(self, fn: str, *args: Any, timeout: float = 30) -> Any:
        """window.lk[fn](*args) in the page."""
        return self.driver.request("browser.call", timeout=timeout + 5, page=self.id, fn=fn, args=list(args),
                                   ms=int(timeout * 1000))

    def screenshot(self, element: str, path: Path) -> Path:
        self.driver.request("browser.screenshot", page=self.id, element=element, path=str(path))
        return path

    def log(self) -> list[str]:
        try:
            return self.driver.request("browser.log", timeout=10, page=self.id)
        except DriverError as e:
            return [f"(no log: {e})"]

    def close(self) -> None:
        self.driver.request("browser.close", timeout=30, page=self.id)


class NodeParticipant:
    """An @livekit/rtc-node participant."""

    def __init__(self, driver: Driver, name: str, url: str, token: str) -> None:
        self.driver, self.name = driver, name
        self.info = driver.request("node.connect", name=name, url=url, token=token)

    def __getattr__(self, op: str) -> Callable[..., Any]:
        return lambda **kw: self.driver.request(f"node.{op}", name=self.name, **kw)


def parallel(fn: Callable[..., Any], *calls: tuple) -> list[Any]:
    """fn(*args) for each args tuple at the same time (pages connect and publish independently)."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(lambda args: fn(*args), calls))


def wait_for(probe: Callable[[], Any], check: Callable[[Any], bool], timeout: float, interval: float = 0.25) -> Any:
    """Poll probe() until check(value); returns the last value either way (the test asserts on it)."""
    end = time.monotonic() + timeout
    while True:
        value = probe()
        if check(value) or time.monotonic() > end:
            return value
        time.sleep(interval)
