"""What the browser tests share and what each test owns.

`BrowserEnv` (one per test session): the private network namespace, two
headless Chromium instances "A" and "B" with different fake capture files
(A: red picture and a 440 Hz sine, B: blue and 660 Hz) in one driver process,
a second driver process for @livekit/rtc-node participants (started when first
needed), and one server per mode, started when first needed: "single-pc"
(default, `/rtc/v1`) and "no-single-pc" (`--no-single-pc`).

`TestRoom` (one per test): a room of its own, the pages and node participants
the test joined to it (closed after the test), and the diagnostics a failing
test prints: every page's console log, the node driver's output and the
server log lines of this room.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import subprocess
import threading
from pathlib import Path
from typing import Any, Callable

import pytest

from helpers.netns import NetNamespace
from helpers.sfu_server import SfuServer, token
from .lkbrowser import HERE, Driver, DriverError, NodeParticipant, Page, parallel
from .media_files import write_sine_wav, write_y4m

CHROMIUM = os.environ.get("SFU_CHROMIUM", "/usr/bin/chromium")   # Debian package chromium
BROWSERS = {"A": {"rgb": (200, 30, 30), "hz": 440}, "B": {"rgb": (20, 40, 220), "hz": 660}}
SERVER_MODES = {"single-pc": {"port": 7880, "udp_port": 7882},
                "no-single-pc": {"port": 7890, "udp_port": 7892, "single_pc": False}}
PC_OPTIONS = {"single-pc": {"singlePeerConnection": True}, "two-pc": {"singlePeerConnection": False}}
LIVEKIT_CLIENT = json.loads((HERE / "package.json").read_text())["dependencies"]["livekit-client"]
BUILD_INPUTS = ("page/harness.js", "page/index.html", "build.mjs", "package-lock.json")
BUILD_OUTPUTS = ("build/harness.js", "build/e2ee-worker.js", "build/index.html")


def server_gap(reason: str) -> pytest.MarkDecorator:
    """A scenario that fails today because the server lacks something: it must fail with an
    AssertionError (anything else is a harness error and shows as a failure), and once the server
    does it, the XPASS fails the run so the mark gets removed."""
    assert reason.startswith("server: ")
    return pytest.mark.xfail(strict=True, raises=AssertionError, reason=reason)


def check_prerequisites() -> None:
    """What scripts/setup installs; a clear error instead of a confusing one later."""
    missing = [what for what, ok in (
        (f"Chromium ({CHROMIUM}, Debian package chromium)", Path(CHROMIUM).exists()),
        ("node (Debian package nodejs)", shutil.which("node") is not None),
        (f"npm packages ({HERE}/node_modules: npm ci)", (HERE / "node_modules" / "livekit-client").is_dir()),
    ) if not ok]
    if missing:
        raise RuntimeError("browser tests need " + ", ".join(missing) + ": run scripts/setup")
    newest_input = max((HERE / p).stat().st_mtime for p in BUILD_INPUTS)
    if any(not (HERE / p).exists() or (HERE / p).stat().st_mtime < newest_input for p in BUILD_OUTPUTS):
        subprocess.run(["node", "build.mjs"], cwd=HERE, check=True)


class BrowserEnv:
    def __init__(self, workdir: Path) -> None:
        check_prerequisites()
        self.workdir = workdir
        self.ns = NetNamespace()
        self.servers: dict[str, SfuServer] = {}
        self._node_driver: Driver | None = None
        self._lock = threading.Lock()                # pages of one test join from several threads
        self.driver = Driver(self.ns, "browser driver")
        try:
            for name, media in BROWSERS.items():
                video = write_y4m(workdir / f"{name}.y4m", media["rgb"])
                audio = write_sine_wav(workdir / f"{name}.wav", media["hz"])
                self.chromium = self.driver.request("browser.launch", name=name, executable=CHROMIUM,
                                                    video=str(video), audio=str(audio))["version"]
        except BaseException:
            self.close()
            raise

    def server(self, mode: str) -> SfuServer:
        """The shared server of this mode, started when first asked for."""
        with self._lock:
            if mode not in self.servers:
                self.servers[mode] = SfuServer(ns=self.ns, log_path=str(self.workdir / f"server-{mode}.log"),
                                               **SERVER_MODES[mode])
            return self.servers[mode]


    @property
    def node_driver(self) -> Driver:
        with self._lock:
            if self._node_driver is None:
                self._node_driver = Driver(self.ns, "rtc-node driver")
            return self._node_driver

    def close(self) -> None:
        for d in (self.driver, self._node_driver):
            if d is not None:
                d.close()
        for s in self.servers.values():
            s.stop()
        self.ns.close()


class TestRoom:
    __test__ = False                      # not a test class, whatever pytest thinks of its name
    _numbers = itertools.count(1)

    def __init__(self, env: BrowserEnv, test_name: str) -> None:
        self.env = env
        self.name = f"r{next(self._numbers)}-" + re.sub(r"[^A-Za-z0-9]+", "-", test_name)[:60].strip("-")
        self.pages: list[Page] = []
        self.nodes: list[NodeParticipant] = []
        self.servers: dict[int, SfuServer] = {}     # port -> the servers this test used

    def url(self, server: str | SfuServer = "single-pc") -> str:
        srv = server if isinstance(server, SfuServer) else self.env.server(server)
        self.servers[srv.port] = srv
        return srv.url


    def token(self, identity: str, **grant: Any) -> str:
        return token(identity, self.name, **grant)

    def page(self, identity: str, browser: str = "A") -> Page:
        """A new page in browser A or B, not connected yet."""
        page = Page(self.env.driver, browser, identity)
        self.pages.append(page)
        return page

    def join(self, identity: str, browser: str = "A", pc: str = "single-pc", server: str | SfuServer = "single-pc",
             e2ee_key: str | None = None, **options: Any) -> Page:
        """A page connected to this room: pc picks the client's mode (PC_OPTIONS)."""
        page = self.page(identity, browser)
        opts = {**PC_OPTIONS[pc], **options}
        if e2ee_key:
            opts["e2eeKey"] = e2ee_key
        page.connected = page.js("connect", self.url(server), self.token(identity), opts)
        return page

    def join_all(self, *who: tuple[str, str], **options: Any) -> list[Page]:
        """join((identity, browser), ...) at the same time, with the same options"""
        return parallel(lambda identity, browser: self.join(identity, browser, **options), *who)

    def node(self, identity: str, server: str | SfuServer = "single-pc") -> NodeParticipant:
        """An @livekit/rtc-node participant connected to this room."""
        node = NodeParticipant(self.env.node_driver, f"{self.name}/{identity}", self.url(server),
                               self.token(identity))
        self.nodes.append(node)
        return node

    def diagnostics(self) -> list[tuple[str, str]]:
        out = [("versions", f"Chromium {self.env.chromium}, livekit-client {LIVEKIT_CLIENT}")]
        out += [(f"console of {p.label} ({p.id})", "\n".join(p.log()[-300:])) for p in self.pages]
        if self.env.driver.output:
            out.append(("browser driver output", "\n".join(self.env.driver.output)))
        if self.nodes:
            out.append(("rtc-node driver output", "\n".join(self.env.node_driver.output)))
        for port, server in sorted(self.servers.items()):
            lines = server.log_tail(400_000).splitlines()
            # the room's lines, and those about its tracks (layer switches and activity name
            # the track, not the room)
            tracks = {w for ln in lines if self.name in ln for w in ln.split() if w.startswith("TR_")}
            mine = [ln for ln in lines if self.name in ln or "ERROR" in ln or "Traceback" in ln
                    or any(t in ln for t in tracks)]
            out.append((f"server log (:{port}), lines of room {self.name} and errors", "\n".join(mine[-200:])))
            out.append((f"server log (:{port}), tail", "\n".join(lines[-40:])))
        return out

    def close(self) -> None:
        def quietly(leave: Callable[[], Any]) -> None:
            try:
                leave()
            except DriverError:
                pass
        if self.pages or self.nodes:
            parallel(quietly, *((p.close,) for p in self.pages), *((n.disconnect,) for n in self.nodes))

