"""`sfu serve` for the real-client tests: a ServerProcess on the veth address of a
network namespace (see helpers.netns), started and healthy when constructed."""

from __future__ import annotations

import os

from helpers.netns import SERVER_IP, NetNamespace
from helpers.server_process import ServerProcess
from helpers.tokens import join_token


def token(identity: str, room: str = "room", **grant) -> str:
    """A participant token for `room` (roomJoin plus any other VideoGrant fields)."""
    return join_token(identity, room, **grant)


class SfuServer(ServerProcess):
    """the ports `sfu serve` uses by default (HTTP 7880, UDP 7882 + worker index, ICE-TCP 7881) unless
    given; ICE-TCP is the HTTP port + 1 unless given"""

    def __init__(self, ip: str = SERVER_IP, port: int = 7880, workers: int = 2, udp_port: int = 7882,
                 tcp_port: int | None = None,
                 single_pc: bool = True, extra: list[str] | None = None, ns: NetNamespace | None = None,
                 log_path: str | None = None, timeout: float = 30, bind: str | None = None,
                 node_ip: str | None = None) -> None:
        args = [*([] if single_pc else ["--no-single-pc"]), *(extra or [])]
        # ICE over TCP next to the HTTP port (7881 by default): servers side by side do not collide
        super().__init__(*args, host=ip, port=port, udp_port=udp_port, tcp_port=port + 1 if tcp_port is None else tcp_port,
                         workers=workers, log_path=log_path, ns=ns,
                         log_level=os.environ.get("SFU_TEST_LOG_LEVEL", "INFO"), bind=bind, node_ip=node_ip)
        try:
            self.ready(timeout)
        except BaseException:
            self.stop()
            raise
