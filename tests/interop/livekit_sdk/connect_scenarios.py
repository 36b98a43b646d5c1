"""Connectivity scenarios with the unmodified livekit rtc SDK: the clients run in a network
namespace of their own, behind the veth pair, so what they reach of the server is what the
veth (and the nftables rules of their namespace) lets through.

    unshare -n python -m interop.livekit_sdk.connect_scenarios NAME      (from tests/)

The scenario's namespace holds the server and sfu0 (10.99.0.1); a holder process made with
`unshare -n` holds the clients' namespace with sfu1 (10.99.0.2); the clients start under
`nsenter --net=/proc/PID/ns/net`.  Prints one JSON summary on the last line.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from helpers.netns import CLIENT_IP, SERVER_IP, add_veth
from helpers.sdk_client import client as _client, result
from helpers.sfu_server import SfuServer, token

PORT = 7880
URL = f"ws://{SERVER_IP}:{PORT}"


class ClientNamespace:
    """sfu1 moved into a fresh namespace held by a `sleep` (bounded: it ends by itself)"""

    def __init__(self, hold_seconds: int = 600, veth: bool = True) -> None:
        """veth False: an empty namespace (lo only) the caller wires up"""
        self.holder = subprocess.Popen(["unshare", "-n", "sleep", str(hold_seconds)])
        self.prefix = ("nsenter", f"--net=/proc/{self.holder.pid}/ns/net")
        for _ in range(50):          # unshare has made the namespace once its child runs sleep
            try:
                with open(f"/proc/{self.holder.pid}/comm") as f:
                    if f.read().strip() == "sleep":
                        break
            except OSError:
                pass
            time.sleep(0.02)
        if not veth:
            return
        subprocess.run(["ip", "link", "set", "sfu1", "netns", str(self.holder.pid)], check=True)
        for cmd in ("ip link set lo up", f"ip addr add {CLIENT_IP}/24 dev sfu1", "ip link set sfu1 up"):
            self.run(cmd)

    def run(self, cmd: str, stdin: str | None = None) -> str:
        p = subprocess.run([*self.prefix, *cmd.split()], input=stdin, capture_output=True, text=True)
        if p.returncode != 0:
            raise RuntimeError(f"{cmd}: {p.stderr.strip()}")
        return p.stdout

    def nft(self, ruleset: str) -> None:
        """load an nftables ruleset into the clients' namespace"""
        self.run("nft -f -", stdin=ruleset)

    def client(self, tok: str, role: str, seconds: float, **kw) -> subprocess.Popen:
        return _client(tok, role, seconds, URL, prefix=self.prefix, **kw)

    def close(self) -> None:
        self.holder.kill()
        self.holder.wait()


BEHIND_NAT_IP = "10.98.0.2"      # the clients, behind the NAT
NAT_INSIDE_IP = "10.98.0.1"


class NatNamespaces:
    """the clients behind a NAT: sfu1 (10.99.0.2) goes to a NAT namespace that masquerades what
    the clients' namespace (10.98.0.2, its default route the NAT) sends out of it"""

    def __init__(self) -> None:
        self.nat = ClientNamespace()
        self.inside = ClientNamespace(veth=False)
        self.nat.run("ip link add nat0 type veth peer name nat1")
        self.nat.run(f"ip link set nat1 netns {self.inside.holder.pid}")
        for cmd in (f"ip addr add {NAT_INSIDE_IP}/24 dev nat0", "ip link set nat0 up",
                    "sysctl -w net.ipv4.ip_forward=1"):
            self.nat.run(cmd)
        for cmd in ("ip link set lo up", f"ip addr add {BEHIND_NAT_IP}/24 dev nat1", "ip link set nat1 up",
                    f"ip route add default via {NAT_INSIDE_IP}"):
            self.inside.run(cmd)
        self.nat.nft(f"""
table ip sfunat {{
  chain post {{
    type nat hook postrouting priority srcnat; policy accept;
    oifname "sfu1" ip saddr 10.98.0.0/24 counter masquerade
  }}
}}
""")

    def client(self, tok: str, role: str, seconds: float, **kw) -> subprocess.Popen:
        return self.inside.client(tok, role, seconds, **kw)

    def close(self) -> None:
        self.inside.close()
        self.nat.close()


def behind_nat() -> dict:
    """both clients behind one masquerading NAT: the server sees them from the NAT's address,
    on ports the NAT chose, and UDP goes direct (no TURN configured)"""
    nat = NatNamespaces()
    try:
        server = SfuServer(SERVER_IP, PORT, workers=2, log_path="/tmp/sfu-connect-nat.log")
    except BaseException:
        nat.close()
        raise
    try:
        out = _two_way(server, nat)
        out["nat"] = nat.nat.run("nft list ruleset")
        out["conntrack_udp"] = nat.nat.run("cat /proc/net/nf_conntrack") if os.path.exists(
            "/proc/net/nf_conntrack") else ""
    finally:
        log = server.stop()
        nat.close()
    out["server_log_tail"] = log[-3000:]
    return out


SERVER_LAN_IP = "10.97.0.1"       # the server behind a 1:1 NAT; 10.99.0.1 is its public address
NAT_LAN_IP = "10.97.0.2"

STUN_RESPONDER = r"""
import socket, sys
from aioice import stun
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], int(sys.argv[2])))
print("ready", flush=True)
while True:
    data, src = s.recvfrom(2048)
    try:
        req = stun.parse_message(data)
    except ValueError:
        continue
    resp = stun.Message(stun.Method.BINDING, stun.Class.RESPONSE, transaction_id=req.transaction_id)
    resp.attributes["XOR-MAPPED-ADDRESS"] = src
    s.sendto(bytes(resp), src)
    print("asked by", src[0], flush=True)
"""


def server_behind_nat() -> dict:
    """the server in a namespace of its own (10.97.0.1) behind a 1:1 NAT: this scenario's
    namespace forwards TCP 7880-7881 and UDP 7882-7883 of its public address 10.99.0.1 to it and
    source-NATs what it sends.  With rtc.use_external_ip and a STUN server on the clients' side
    (10.99.0.2:3478, run by the test), the server announces 10.99.0.1 and the clients, who know
    only that address, join and exchange media"""
    import tempfile

    from helpers.server_process import ServerProcess

    ns = ClientNamespace()
    lan = ClientNamespace(veth=False)
    stun_proc = server = None
    try:
        for cmd in ("ip link add lan0 type veth peer name lan1", f"ip link set lan1 netns {lan.holder.pid}",
                    f"ip addr add {NAT_LAN_IP}/24 dev lan0", "ip link set lan0 up", "sysctl -w net.ipv4.ip_forward=1"):
            subprocess.run(cmd.split(), check=True, capture_output=True)
        for cmd in ("ip link set lo up", f"ip addr add {SERVER_LAN_IP}/24 dev lan1", "ip link set lan1 up",
                    f"ip route add default via {NAT_LAN_IP}"):
            lan.run(cmd)
        subprocess.run(["nft", "-f", "-"], check=True, capture_output=True, text=True, input=f"""
table ip sfunat {{
  chain pre {{
    type nat hook prerouting priority dstnat; policy accept;
    iifname "sfu0" ip daddr {SERVER_IP} tcp dport {{ 7880, 7881 }} counter dnat to {SERVER_LAN_IP}
    iifname "sfu0" ip daddr {SERVER_IP} udp dport {{ 7882, 7883 }} counter dnat to {SERVER_LAN_IP}
  }}
  chain post {{
    type nat hook postrouting priority srcnat; policy accept;
    oifname "sfu0" ip saddr {SERVER_LAN_IP} counter snat to {SERVER_IP}
  }}
}}
""")
        stun_proc = subprocess.Popen([*ns.prefix, sys.executable, "-c", STUN_RESPONDER, CLIENT_IP, "3478"],
                                     stdout=subprocess.PIPE, text=True)
        assert stun_proc.stdout.readline().strip() == "ready"
        conf = tempfile.mktemp(prefix="sfu-nat-", suffix=".yaml")
        with open(conf, "w") as f:
            f.write(f"rtc:\n  use_external_ip: true\n  stun_servers:\n    - {CLIENT_IP}:3478\n")
        server = ServerProcess("--config", conf, host=SERVER_LAN_IP, port=PORT, udp_port=7882, tcp_port=7881,
                               workers=2, bind="0.0.0.0", node_ip="", prefix=lan.prefix,
                               log_path="/tmp/sfu-connect-server-nat.log")
        server.ready(30)
        out = _two_way(server, ns)
        out["nat"] = subprocess.run(["nft", "list", "ruleset"], capture_output=True, text=True).stdout
    finally:
        log = server.stop() if server is not None else ""
        if stun_proc is not None:
            stun_proc.kill()
            stun_asked = stun_proc.stdout.read()
        lan.close()
        ns.close()
    out["stun_asked"] = stun_asked.splitlines()
    out["announcing"] = [ln for ln in log.splitlines() if "announcing" in ln or "use_external_ip" in ln]
    out["server_log_tail"] = log[-3000:]
    return out


def only_tcp_out(*ports: int) -> str:
    """the clients may reach the server on these TCP ports only (signalling, TURN/TLS ...)"""
    allowed = ", ".join(str(p) for p in ports)
    return f"""
table inet sfutest {{
  chain out {{
    type filter hook output priority 0; policy accept;
    ip daddr {SERVER_IP} tcp dport {{ {allowed} }} counter accept
    ip daddr {SERVER_IP} counter drop
  }}
}}
"""


def allow_out(tcp: tuple[int, ...], udp: tuple[int, ...]) -> str:
    rules = [f"ip daddr {SERVER_IP} tcp dport {{ {', '.join(map(str, tcp))} }} counter accept"]
    if udp:
        rules.append(f"ip daddr {SERVER_IP} udp dport {{ {', '.join(map(str, udp))} }} counter accept")
    body = "\n    ".join(rules)
    return f"""
table inet sfutest {{
  chain out {{
    type filter hook output priority 0; policy accept;
    {body}
    ip daddr {SERVER_IP} counter drop
  }}
}}
"""


def _two_way(server: SfuServer, ns: ClientNamespace, seconds: float = 8) -> dict:
    """bob and alice both publish and receive; what each got, and the remote addresses the
    server's transports use mid-call"""
    bob = ns.client(token("bob"), "both", seconds + 2, freq=660, color=[20, 40, 220], stats_every=2)
    time.sleep(1.0)
    alice = ns.client(token("alice"), "both", seconds, freq=440, color=[200, 30, 30], stats_every=2)
    time.sleep(seconds / 2 + 1)
    selected = [t.get("selected") for w in server.stats()["workers"] for t in (w.get("webrtc") or {}).values()]
    out = {"bob": result(bob), "alice": result(alice), "selected": selected}
    return out


def _cert(directory: str) -> tuple[str, str]:
    cert, key = f"{directory}/turn-cert.pem", f"{directory}/turn-key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "1", "-subj", f"/CN={SERVER_IP}", "-addext", f"subjectAltName=IP:{SERVER_IP}"],
                   check=True, capture_output=True)
    return cert, key


def _turn(blocked: str, udp_port: int, tls_port: int) -> dict:
    """the clients may reach the server on TCP 7880 (signalling) and what `blocked` leaves open"""
    import tempfile

    tmp = tempfile.mkdtemp(prefix="sfu-turn-test-")
    cert, key = _cert(tmp)
    conf = f"{tmp}/sfu.yaml"
    with open(conf, "w") as f:
        f.write(f"turn:\n  enabled: true\n  udp_port: {udp_port}\n  tls_port: {tls_port}\n"
                f"  cert_file: {cert}\n  key_file: {key}\n  relay_range_start: 31000\n  relay_range_end: 31999\n")
    ns = ClientNamespace()
    try:
        ns.nft(blocked)
        server = SfuServer(SERVER_IP, PORT, workers=1, extra=["--config", conf], log_path="/tmp/sfu-connect-turn.log")
    except BaseException:
        ns.close()
        raise
    try:
        out = _two_way(server, ns)
        out["nft"] = ns.run("nft list ruleset")
    finally:
        log = server.stop()
        ns.close()
    out["server_log_tail"] = log[-3000:]
    out["turn_log"] = [ln for ln in log.splitlines() if "TURN" in ln or "coturn" in ln][-20:]
    return out


def turn_tls_untrusted(trust_env: bool = False) -> dict:
    """only TCP reaches the server, on 7880 and 5349, and the TURN certificate is self-signed:
    libwebrtc checks a turns: certificate against its compiled-in roots and hangs up during the
    handshake, so the client cannot connect (what coturn saw, with its session log on)"""
    import os
    import tempfile

    os.environ["SFU_TEST_LOG_LEVEL"] = "DEBUG"        # coturn's verbose session log
    tmp = tempfile.mkdtemp(prefix="sfu-turn-test-")
    cert, key = _cert(tmp)
    conf = f"{tmp}/sfu.yaml"
    with open(conf, "w") as f:
        f.write(f"turn:\n  enabled: true\n  tls_port: 5349\n  cert_file: {cert}\n  key_file: {key}\n")
    if trust_env:       # the certificate named where OpenSSL-based clients look for trusted roots
        os.environ["SSL_CERT_FILE"] = cert
        os.environ["SSL_CERT_DIR"] = tmp
    ns = ClientNamespace()
    try:
        ns.nft(only_tcp_out(PORT, 5349))
        server = SfuServer(SERVER_IP, PORT, workers=1, extra=["--config", conf], log_path="/tmp/sfu-connect-tls.log")
    except BaseException:
        ns.close()
        raise
    try:
        bob = result(ns.client(token("bob"), "both", 3))
    finally:
        log = server.stop()
        ns.close()
    return {"bob": bob, "tls_sessions": [ln for ln in log.splitlines() if "coturn" in ln and
                                         ("TLS/TCP socket" in ln or "username=" in ln or "tls connected" in ln)]}


def turn_tcp() -> dict:
    """only TCP reaches the server, on 7880 and 3478: the SDK relays through TURN over plain TCP"""
    return _turn(only_tcp_out(PORT, 3478), 3478, 5349)


def turn_udp() -> dict:
    """UDP to the media port is dropped but 3478 is open: the SDK relays through TURN over UDP"""
    return _turn(allow_out((PORT,), (3478,)), 3478, 0)


def _ice_tcp(rules: str | None, workers: int = 2, tcp_port: int = 7881) -> dict:
    """two workers (the node's one ICE-TCP port hands each connection to the right one)"""
    ns = ClientNamespace()
    try:
        if rules:
            ns.nft(rules)
        server = SfuServer(SERVER_IP, PORT, workers=workers, tcp_port=tcp_port, log_path="/tmp/sfu-connect-ice-tcp.log")
    except BaseException:
        ns.close()
        raise
    try:
        out = _two_way(server, ns)
        stats = server.stats()
        out["ice_tcp"] = stats.get("ice_tcp")
        out["tcp_by_worker"] = [w.get("tcp") for w in stats["workers"]]
        out["drops"] = [w["stats"].get("drops") for w in stats["workers"]]
        if rules:
            out["nft"] = ns.run("nft list ruleset")
    finally:
        log = server.stop()
        ns.close()
    out["server_log_tail"] = log[-3000:]
    return out


def ice_tcp() -> dict:
    """only TCP reaches the server, on 7880 (signalling) and 7881 (ICE over TCP): the SDK pairs
    with the passive TCP candidates and the media goes over TCP, RFC 4571 framed"""
    return _ice_tcp(only_tcp_out(PORT, 7881))


def ice_tcp_443() -> dict:
    """the clients may reach only TCP: 7880 (signalling) and 443, where ICE over TCP listens
    (`rtc.tcp_port: 443`).  Run by hand: libwebrtc takes TCP candidates below 1024 only for 80
    and 443 on public addresses, and 10.99.0.1 is private: the SDK opens no connection (1024
    and 8443 connect)"""
    return _ice_tcp(only_tcp_out(PORT, 443), tcp_port=443)


def ice_tcp_udp_open() -> dict:
    """everything open: the SDK checks the TCP candidates too, but uses UDP"""
    return _ice_tcp(None)


SERVER_IP6, CLIENT_IP6 = "fd99::1", "fd99::2"


def ipv6_only_media(udp6: bool = True) -> dict:
    """the veth has IPv6 addresses too; the server binds the wildcard without node_ip and
    announces both families; the clients' IPv4 reaches only TCP 7880 (signalling): the media
    goes over IPv6, UDP (or, `udp6` False: IPv6 UDP dropped too, ICE over TCP on IPv6)"""
    ns = ClientNamespace()
    try:
        subprocess.run(["ip", "-6", "addr", "add", f"{SERVER_IP6}/64", "dev", "sfu0", "nodad"], check=True)
        ns.run(f"ip -6 addr add {CLIENT_IP6}/64 dev sfu1 nodad")
        ns.nft(only_tcp_out(PORT))
        if not udp6:
            ns.nft(f"""
table inet sfutest6 {{
  chain out {{
    type filter hook output priority 0; policy accept;
    ip6 daddr {SERVER_IP6} meta l4proto udp counter drop
  }}
}}
""")
        server = SfuServer(SERVER_IP, PORT, workers=2, bind="0.0.0.0", node_ip="",
                           log_path="/tmp/sfu-connect-ipv6.log")
    except BaseException:
        ns.close()
        raise
    try:
        out = _two_way(server, ns)
        out["nft"] = ns.run("nft list ruleset")
    finally:
        log = server.stop()
        ns.close()
    out["announcing"] = [ln for ln in log.splitlines() if "announcing" in ln]
    out["server_log_tail"] = log[-3000:]
    return out


def impaired_uplink_quality(loss_percent: int = 20) -> dict:
    """alice (behind the veth) and bob (in the server's namespace) call each other; 8 s in,
    nftables drops `loss_percent` % of what alice sends to the media port, at random: the
    connection quality everyone is told of alice drops, bob's stays"""
    ns = ClientNamespace()
    try:
        server = SfuServer(SERVER_IP, PORT, workers=1, log_path="/tmp/sfu-connect-quality.log")
    except BaseException:
        ns.close()
        raise
    try:
        bob = _client(token("bob"), "both", 22, URL, freq=660, color=[20, 40, 220], quality=True)
        time.sleep(1.0)
        alice = ns.client(token("alice"), "both", 20, freq=440, color=[200, 30, 30], quality=True)
        time.sleep(8.0)
        ns.nft(f"""
table inet sfuloss {{
  chain out {{
    type filter hook output priority 0; policy accept;
    ip daddr {SERVER_IP} udp dport 7882 numgen random mod 100 < {loss_percent} counter drop
  }}
}}
""")
        impaired_at = time.monotonic()
        out = {"bob": result(bob), "alice": result(alice)}
        out["impaired_s"] = {who: impaired_at - out[who]["t0_mono"] for who in ("bob", "alice")}
        out["nft"] = ns.run("nft list ruleset")
    finally:
        log = server.stop()
        ns.close()
    out["server_log_tail"] = log[-3000:]
    return out


def announced() -> dict:
    """the server binds 0.0.0.0 with no node_ip: it names its interface address (not loopback)
    in its candidates, and clients behind the veth reach it there"""
    ns = ClientNamespace()
    try:
        server = SfuServer(SERVER_IP, PORT, workers=1, bind="0.0.0.0", node_ip="",
                           log_path="/tmp/sfu-connect-announced.log")
    except BaseException:
        ns.close()          # its holder would keep the scenario's output open
        raise
    try:
        out = _two_way(server, ns)
    finally:
        log = server.stop()
        ns.close()
    out["announcing"] = [ln for ln in log.splitlines() if "announcing" in ln]
    out["server_log_tail"] = log[-3000:]
    return out


if __name__ == "__main__":
    add_veth()
    name = sys.argv[1]
    summary = {"announced": announced, "turn_tls_untrusted": turn_tls_untrusted,
               "turn_tls_untrusted_env": lambda: turn_tls_untrusted(trust_env=True), "turn_tcp": turn_tcp,
               "turn_udp": turn_udp, "ice_tcp": ice_tcp, "ice_tcp_443": ice_tcp_443, "behind_nat": behind_nat,
               "server_behind_nat": server_behind_nat, "ipv6_only_media": ipv6_only_media,
               "ipv6_tcp_only": lambda: ipv6_only_media(udp6=False),
               "impaired_uplink_quality": impaired_uplink_quality,
               "ice_tcp_udp_open": ice_tcp_udp_open}[name]()
    print(json.dumps(summary))
