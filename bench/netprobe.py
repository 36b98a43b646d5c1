"""UDP probe traffic for measuring an emulated link (no SDK, no server).

    python netprobe.py recv IP PORT SECONDS      # until SECONDS or SIGTERM; one JSON line on stdout
    python netprobe.py send IP PORT PHASE SECONDS RATE_BPS SIZE

Each probe datagram carries a magic, the phase number, a sequence number and the
sender's CLOCK_REALTIME just before sendto; the receiver takes the kernel's receive
timestamp (SO_TIMESTAMPNS, also CLOCK_REALTIME), so the one-way delay excludes both
interpreters' scheduling on the receive side.  Rates count IP bytes (payload + 28).
"""

from __future__ import annotations

import json
import signal
import socket
import struct
import sys
import time

MAGIC = b"LEPR"
HEADER = struct.Struct("!4sIIQ")
IP_UDP = 28
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)    # Linux; struct timespec in the cmsg


def receive(ip: str, port: int, seconds: float) -> dict:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    s.bind((ip, port))
    s.settimeout(0.2)
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    print("listening", flush=True)
    cols: dict[str, list[int]] = {"phase": [], "seq": [], "sent_ns": [], "recv_ns": [], "size": []}
    other = 0
    end = time.monotonic() + seconds
    while not stop and time.monotonic() < end:
        try:
            data, anc, _flags, _addr = s.recvmsg(2048, socket.CMSG_SPACE(16))
        except (TimeoutError, InterruptedError):
            continue
        if len(data) < HEADER.size or data[:4] != MAGIC:
            other += 1
            continue
        recv_ns = time.time_ns()
        for level, kind, value in anc:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(value) >= 16:
                sec, nsec = struct.unpack("qq", value[:16])
                recv_ns = sec * 1_000_000_000 + nsec
        _, phase, seq, sent_ns = HEADER.unpack_from(data)
        for k, v in (("phase", phase), ("seq", seq), ("sent_ns", sent_ns), ("recv_ns", recv_ns),
                     ("size", len(data))):
            cols[k].append(v)
    return {"packets": cols, "other": other}


def send(ip: str, port: int, phase: int, seconds: float, rate_bps: float, size: int) -> dict:
    """paced at rate_bps (IP bytes); a late sender catches up, so the mean rate holds"""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    pad = bytes(max(0, size - HEADER.size))
    interval = (size + IP_UDP) * 8 / rate_bps
    start = time.monotonic()
    n = errors = 0
    while True:
        due = start + n * interval
        if due - start >= seconds:
            break
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        try:
            s.sendto(HEADER.pack(MAGIC, phase, n, time.time_ns()) + pad, (ip, port))
        except OSError:
            errors += 1
        n += 1
    return {"phase": phase, "sent": n, "send_errors": errors, "seconds": time.monotonic() - start}


def main(argv: list[str]) -> None:
    if argv[:1] == ["recv"] and len(argv) == 4:
        print(json.dumps(receive(argv[1], int(argv[2]), float(argv[3]))), flush=True)
    elif argv[:1] == ["send"] and len(argv) == 7:
        print(json.dumps(send(argv[1], int(argv[2]), int(argv[3]), float(argv[4]), float(argv[5]),
                              int(argv[6]))), flush=True)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
