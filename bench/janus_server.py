"""Run Debian's Janus (videoroom plugin + plain HTTP transport only) for benchmarks.

    ensure_janus()              apt-get install -y janus when /usr/bin/janus is missing
    netns_setup(ip)             inside a fresh `unshare -n` namespace: lo up, ip/24 on a dummy
                                interface, or on a veth pair when the kernel lacks the dummy driver
    JanusServer(ip).start()     private config dir in a temp directory, `janus -C ... -F ...`,
                                bounded wait for GET /janus/info; .pid for psutil; .stop()

`python bench/janus_server.py --check` re-runs itself under `unshare -n` (root), sets up
the namespace, starts Janus, reads /janus/info and stops it.

Janus gathers host candidates with libnice, which (like libwebrtc) skips loopback, so
the server and its peers share a non-loopback address in a private network namespace.
ICE gathering is restricted to that address with `ice_enforce_list`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

JANUS_BIN = "/usr/bin/janus"
LIB_DIR = Path("/usr/lib/x86_64-linux-gnu/janus")
NETNS_IFACE = "lt0"


def ensure_janus() -> str:
    """Install Debian's janus package if the binary is missing; return the binary's path."""
    if os.path.exists(JANUS_BIN):
        return JANUS_BIN
    if os.geteuid() != 0:
        raise RuntimeError(f"{JANUS_BIN} is missing and installing it (apt-get install -y janus) needs root")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    cmd = ["apt-get", "install", "-y", "--no-install-recommends", "janus"]
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    if p.returncode != 0:   # a stale package index is the usual cause
        subprocess.run(["apt-get", "update"], env=env, capture_output=True, text=True, timeout=600)
        p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    if p.returncode != 0 or not os.path.exists(JANUS_BIN):
        raise RuntimeError(f"apt-get install janus failed (rc={p.returncode}): {p.stdout[-1500:]}{p.stderr[-1500:]}")
    return JANUS_BIN


def netns_setup(ip: str = "10.98.0.1", prefix: int = 24, iface: str = NETNS_IFACE,
                peer_ip: str | None = None) -> str:
    """Inside a fresh network namespace (unshare -n, as root): bring lo up and put ip/prefix on
    a non-loopback interface `iface`. A dummy interface when the kernel has the dummy driver,
    otherwise a veth pair (iface <-> iface + "p"); the veth peer end gets peer_ip (default: the
    next address) so clients may also use a second address. Returns iface (for ice_enforce_list)."""
    def run(*cmd: str, check: bool = True) -> subprocess.CompletedProcess:
        p = subprocess.run(cmd, capture_output=True, text=True)
        if check and p.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)}: {p.stderr.strip()} (run inside `unshare -n` as root)")
        return p

    run("ip", "link", "set", "lo", "up")
    if run("ip", "link", "add", iface, "type", "dummy", check=False).returncode == 0:
        run("ip", "addr", "add", f"{ip}/{prefix}", "dev", iface)
        run("ip", "link", "set", iface, "up")
        return iface
    # no dummy driver (common in containers): a veth pair, both ends in this namespace
    if peer_ip is None:
        a, b, c, d = (int(x) for x in ip.split("."))
        peer_ip = f"{a}.{b}.{c}.{d + 1 if d < 254 else d - 1}"
    run("ip", "link", "add", iface, "type", "veth", "peer", "name", iface + "p")
    run("ip", "addr", "add", f"{ip}/{prefix}", "dev", iface)
    run("ip", "addr", "add", f"{peer_ip}/{prefix}", "dev", iface + "p")
    run("ip", "link", "set", iface, "up")
    run("ip", "link", "set", iface + "p", "up")
    return iface


def free_port(ip: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((ip, 0))
        return s.getsockname()[1]


def _others(folder: Path, keep: str) -> str:
    """Comma-separated names of every module in folder but `keep` (the 'disable' list)."""
    if not folder.is_dir():
        return ""
    names = sorted({p.name for p in folder.glob("libjanus_*.so")} - {keep})
    return ",".join(names)


def write_config(folder: Path, ip: str, http_port: int, iface: str | None = None,
                 rtp_port_range: str = "20000-40000", debug_level: int = 4) -> Path:
    """A private config dir: janus.jcfg (videoroom + HTTP only, ICE on one interface),
    janus.transport.http.jcfg (plain HTTP on ip:http_port), janus.plugin.videoroom.jcfg
    (no predefined rooms). Returns the janus.jcfg path."""
    folder.mkdir(parents=True, exist_ok=True)
    # entries match as substrings of interface names and addresses ("lt0" would also take
    # "lt0p"), so the address alone unless an interface is asked for explicitly
    enforce = iface or ip
    (folder / "janus.jcfg").write_text(f"""\
general: {{
	configs_folder = "{folder}"
	plugins_folder = "{LIB_DIR / 'plugins'}"
	transports_folder = "{LIB_DIR / 'transports'}"
	events_folder = "{LIB_DIR / 'events'}"
	loggers_folder = "{LIB_DIR / 'loggers'}"
	debug_level = {debug_level}
	debug_timestamps = true
	debug_colors = false
	interface = "{ip}"
	session_timeout = 60
	hide_dependencies = false
	server_name = "bench-janus"
	protected_folders = ["/bin", "/boot", "/dev", "/etc", "/lib", "/proc", "/sbin", "/sys", "/usr", "/var"]
}}
certificates: {{
}}
media: {{
	ipv6 = false
	rtp_port_range = "{rtp_port_range}"
}}
nat: {{
	nice_debug = false
	full_trickle = false
	ice_lite = false
	ice_tcp = false
	ice_enforce_list = "{enforce}"
}}
plugins: {{
	disable = "{_others(LIB_DIR / 'plugins', 'libjanus_videoroom.so')}"
}}
transports: {{
	disable = "{_others(LIB_DIR / 'transports', 'libjanus_http.so')}"
}}
loggers: {{
	disable = "{_others(LIB_DIR / 'loggers', '')}"
}}
events: {{
	broadcast = false
	disable = "{_others(LIB_DIR / 'events', '')}"
}}
""")
    (folder / "janus.transport.http.jcfg").write_text(f"""\
general: {{
	json = "plain"
	base_path = "/janus"
	http = true
	port = {http_port}
	ip = "{ip}"
	https = false
}}
admin: {{
	admin_http = false
	admin_https = false
}}
cors: {{
}}
""")
    (folder / "janus.plugin.videoroom.jcfg").write_text("""\
general: {
	string_ids = false
}
""")
    return folder / "janus.jcfg"


def http_get_json(url: str, timeout: float = 2.0) -> dict:
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return json.loads(r.read())


class JanusServer:
    """One Janus process with a private config in a temp dir.

    server = JanusServer("10.98.0.1"); server.start(); server.url -> "http://10.98.0.1:PORT/janus"
    server.pid for psutil.Process(pid).cpu_times(); server.stop()."""

    def __init__(self, ip: str, iface: str | None = None, http_port: int | None = None,
                 rtp_port_range: str = "20000-40000", debug_level: int = 4, log_path: str | None = None):
        self.ip, self.iface = ip, iface
        self.http_port = http_port
        self.rtp_port_range, self.debug_level = rtp_port_range, debug_level
        self.tmp: str | None = None
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None
        self.info: dict = {}

    @property
    def url(self) -> str:
        return f"http://{self.ip}:{self.http_port}/janus"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, timeout: float = 15.0) -> "JanusServer":
        ensure_janus()
        self.tmp = tempfile.mkdtemp(prefix="janus-bench-")
        conf = Path(self.tmp) / "conf"
        if self.http_port is None:
            self.http_port = free_port(self.ip)
        jcfg = write_config(conf, self.ip, self.http_port, self.iface, self.rtp_port_range, self.debug_level)
        if self.log_path is None:
            self.log_path = str(Path(self.tmp) / "janus.log")
        self._log = open(self.log_path, "wb")
        cmd = [JANUS_BIN, "-C", str(jcfg), "-F", str(conf), "--interface", self.ip, "--log-stdout", "-o",
               "-d", str(self.debug_level)]
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     cwd=self.tmp)
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"janus exited with {self.proc.returncode} during startup:\n{self.log_tail()}")
            try:
                info = http_get_json(self.url + "/info", timeout=1.0)
                if info.get("janus") == "server_info":
                    self.info = info
                    if "janus.plugin.videoroom" not in info.get("plugins", {}):
                        raise RuntimeError(f"janus started without the videoroom plugin:\n{self.log_tail()}")
                    return self
            except (OSError, ValueError) as e:
                last = e
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"janus did not answer {self.url}/info within {timeout} s ({last}):\n{self.log_tail()}")

    def log_tail(self, n: int = 4000) -> str:
        try:
            return Path(self.log_path).read_bytes()[-n:].decode(errors="replace") if self.log_path else ""
        except OSError:
            return ""

    def stop(self, timeout: float = 5.0) -> int | None:
        """SIGTERM, then SIGKILL after `timeout` s. Returns the exit code."""
        rc = None
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(5)
            rc = self.proc.returncode
        if getattr(self, "_log", None):
            self._log.close()
            self._log = None
        if self.tmp is not None and not os.environ.get("JANUS_KEEP_TMP"):
            shutil.rmtree(self.tmp, ignore_errors=True)
            self.tmp = None
        return rc

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def _check(ip: str) -> int:
    netns_setup(ip)
    t0 = time.monotonic()
    server = JanusServer(ip).start()
    started = time.monotonic() - t0
    try:
        info = server.info
        out = {"version": info.get("version_string"), "pid": server.pid, "url": server.url,
               "startup_s": round(started, 2), "plugins": sorted(info.get("plugins", {})),
               "transports": sorted(info.get("transports", {})),
               "dependencies": info.get("dependencies"), "full-trickle": info.get("full-trickle"),
               "ice-lite": info.get("ice-lite")}
    finally:
        rc = server.stop()
    out["exit_code"] = rc
    print(json.dumps(out, indent=1))
    ok = out["plugins"] == ["janus.plugin.videoroom"] and out["transports"] == ["janus.transport.http"]
    print("janus check:", "OK" if ok else "FAILED")
    return 0 if ok else 1


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="self-test: install if needed, start, /info, stop")
    ap.add_argument("--ip", default="10.98.0.1")
    ap.add_argument("--in-netns", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if not a.check:
        ap.print_help()
        return 2
    if not a.in_netns:
        if os.geteuid() != 0 or shutil.which("unshare") is None:
            print("--check needs root and unshare(1) for a private network namespace", file=sys.stderr)
            return 1
        ensure_janus()
        return subprocess.run(["unshare", "-n", sys.executable, os.path.abspath(__file__), "--check",
                               "--in-netns", "--ip", a.ip], timeout=120).returncode
    return _check(a.ip)


if __name__ == "__main__":
    sys.exit(main())
