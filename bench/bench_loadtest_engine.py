"""How many packets/s one load-test sender thread generates.

Runs sfu_lt_send_run (the sender thread of `sfu load-test`) with video
senders asking for more than one thread can do (64 packets of 1200 B payload
per frame, 1000 frames/s each), so the thread never sleeps and skips the
frames it is late for; packets/s is what it actually handed to the kernel
(sendmmsg to a loopback UDP socket that is never read: the kernel drops at
the full socket, the sender does not notice).  Also the packet build rate
without the syscall (sfu_lt_build_frame) and the thread's CPU time.

    PYTHONPATH=. python bench/bench_loadtest_engine.py [--seconds 3] [--mode gcm|cm|rtp]
"""

from __future__ import annotations

import argparse
import os
import socket
import threading
import time

from sfu.loadtest import Engine, SenderSpec
from sfu.loadtest.engine import ffi, lib
from sfu.srtp import AEAD_AES_128_GCM, AES128_CM_SHA1_80, Session, key_length

PROFILES = {"gcm": AEAD_AES_128_GCM, "cm": AES128_CM_SHA1_80, "rtp": None}
BITRATE = 64 * 1200 * 8 * 1000       # 64 packets of 1200 B per frame at 1000 frames/s


def session(mode: str):
    p = PROFILES[mode]
    return None if p is None else Session(p, os.urandom(key_length(p)), True)


def run_sender(mode: str, seconds: float, n_senders: int) -> None:
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tx.bind(("127.0.0.1", 0))
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
    sink.bind(("127.0.0.1", 0))
    eng = Engine()
    for i in range(n_senders):
        eng.add_sender(SenderSpec(fd=tx.fileno(), addr=sink.getsockname(), srtp=session(mode), ssrc=0x1000 + i,
                                  pt=96, kind="video", bitrate=BITRATE, fps=1000.0, keyframe_interval=1.0))
    cpu = {}

    def measure():
        t0 = time.thread_time()
        lib.sfu_lt_send_run(eng._senders, n_senders, seconds, eng._stop)
        cpu["s"] = time.thread_time() - t0

    eng._build()                        # the arrays start() would build; run the C call in our own thread
    t = threading.Thread(target=measure)
    w0 = time.monotonic()
    t.start()
    t.join()
    wall = time.monotonic() - w0
    pk = sum(int(eng._senders[i].packets) for i in range(n_senders))
    err = sum(int(eng._senders[i].send_errors) for i in range(n_senders))
    print(f"send_run  {mode:4s} 1200 B: {pk / wall:10.0f} packets/s ({pk} in {wall:.2f} s, "
          f"thread CPU {cpu['s'] / wall * 100:.0f} %, send errors {err})")
    tx.close(), sink.close()


def run_build(mode: str, seconds: float) -> None:
    s = ffi.new("sfu_lt_sender_t *")
    s.ssrc, s.pt, s.kind, s.codec = 0x4242, 96, lib.SFU_LT_VIDEO, lib.SFU_CODEC_VP8
    s.clock_rate, s.bitrate_bps, s.fps, s.keyframe_interval_ms = 90000, BITRATE, 1000.0, 1000
    sess = session(mode)
    s.srtp = ffi.NULL if sess is None else ffi.cast("void *", sess.pointer)
    buf_size = lib.SFU_MTU + lib.SFU_SRTP_TRAILER_MAX
    bufs = ffi.new("uint8_t[]", 64 * buf_size)
    lens = ffi.new("int[]", 64)
    t0 = time.thread_time()
    n = 0
    while time.thread_time() - t0 < seconds:
        n += lib.sfu_lt_build_frame(s, bufs, lens, 64)
    dt = time.thread_time() - t0
    print(f"build     {mode:4s} 1200 B: {n / dt:10.0f} packets/s of CPU (no syscall)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--mode", choices=sorted(PROFILES), action="append")
    ap.add_argument("--senders", type=int, default=4)
    a = ap.parse_args()
    for mode in a.mode or ["gcm", "cm", "rtp"]:
        run_build(mode, min(a.seconds, 1.0))
        run_sender(mode, a.seconds, a.senders)


if __name__ == "__main__":
    main()
