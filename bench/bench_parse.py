"""Micro-benchmarks: ns per sfu_rtp_parse / sfu_demux / SRTP protect+unprotect call.

Two measurements per function:

* "C loop": a tight loop in C calling the product's function `iters` times
  (bench-only helper module built here from csrc/rtp/rtp.c, rtp/demux.c,
  util/srtp.c, util/common.c -- the same sources as sfu._native, compiled with the same flags,
  separate translation units so every call is a real call as in the loop).
  Timed with CLOCK_THREAD_CPUTIME_ID, so time-slicing by other processes does
  not count (cache/frequency effects of a busy machine still do); the minimum
  of --repeat runs is reported.
* "cffi call": the same function called from Python through sfu._native
  (timeit with the thread CPU clock), i.e. what one call costs from Python:
  the difference is cffi + interpreter overhead.

SRTP (AEAD_AES_128_GCM, the pylibsrtp wheel's libsrtp/OpenSSL through the
same function pointers the data plane uses): protect of a 200/1200 B packet
(memcpy of the template included, as in the loop) and unprotect, with the
replay window the product uses (sfu.srtp.REPLAY_WINDOW, 1024) and with 128,
to show what the outbound replay bitmap costs per packet.

    PYTHONPATH=. python bench/bench_parse.py [--iters 2000000] [--json out.json]
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import shlex
import struct
import sys
import time
import timeit

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
try:  # the installed package, with its C extension ...
    import sfu._native  # noqa: F401
    SOURCE_PATH = ""
except ImportError:  # ... or the source tree with an in-place build (python build_ext.py)
    sys.path.insert(0, ROOT)
    SOURCE_PATH = ROOT
OUT = os.path.join(ROOT, "bench", "out", "parse")   # bench/out/ is git-ignored

HELPER_C = r"""
#include <string.h>
#include <time.h>
#include "sfu_packet.h"
#include "sfu_srtp.h"

static uint64_t cpu_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

double bl_rtp_parse(const uint8_t *buf, size_t len, uint64_t iters)
{
    sfu_rtp_t r;
    int acc = 0;
    uint64_t t0 = cpu_ns();
    for (uint64_t i = 0; i < iters; i++) {
        acc += sfu_rtp_parse(buf, len, &r);
        __asm__ volatile("" : : "r"(&r), "r"(acc) : "memory");
    }
    return (double)(cpu_ns() - t0) / (double)iters;
}

double bl_demux(const uint8_t *buf, size_t len, uint64_t iters)
{
    int acc = 0;
    uint64_t t0 = cpu_ns();
    for (uint64_t i = 0; i < iters; i++) {
        acc += sfu_demux(buf, len);
        __asm__ volatile("" : : "r"(acc) : "memory");
    }
    return (double)(cpu_ns() - t0) / (double)iters;
}

/* one loop: copy the template, set seq, protect (in place); optionally unprotect
 * with the matching inbound session.  mode 0: copy only, 1: +protect, 2: +unprotect */
double bl_srtp(void *tx, void *rx, const uint8_t *tmpl, int len, uint64_t iters, int mode)
{
    static uint8_t buf[SFU_MTU + SFU_SRTP_TRAILER_MAX];
    uint64_t t0 = cpu_ns();
    for (uint64_t i = 0; i < iters; i++) {
        memcpy(buf, tmpl, (size_t)len);
        buf[2] = (uint8_t)(i >> 8);
        buf[3] = (uint8_t)i;
        int n = len;
        if (mode >= 1 && sfu_srtp_protect(tx, buf, &n) != 0)
            return -1.0;
        if (mode >= 2 && sfu_srtp_unprotect(rx, buf, &n) != 0)
            return -2.0;
        __asm__ volatile("" : : "r"(buf) : "memory");
    }
    return (double)(cpu_ns() - t0) / (double)iters;
}
"""

HELPER_CDEF = """
double bl_rtp_parse(const uint8_t *buf, size_t len, uint64_t iters);
double bl_demux(const uint8_t *buf, size_t len, uint64_t iters);
double bl_srtp(void *tx, void *rx, const uint8_t *tmpl, int len, uint64_t iters, int mode);
int sfu_srtp_bind(uintptr_t protect, uintptr_t unprotect, uintptr_t protect_rtcp, uintptr_t unprotect_rtcp);
"""


def build_helper(name: str = "_sfu_benchloop", source: str = HELPER_C, cdef: str = HELPER_CDEF,
                 files: tuple[str, ...] = ("rtp/rtp.c", "rtp/demux.c", "util/srtp.c", "util/common.c"),
                 out: str = OUT):
    """compile (every run: the sources may have changed; ~1 s) and import a bench-only helper
    module: `source` with the product's csrc `files`, compiled with the product's flags"""
    from cffi import FFI
    os.makedirs(out, exist_ok=True)
    csrc = os.path.join(ROOT, "csrc")
    ffi = FFI()
    ffi.cdef(cdef)
    ffi.set_source(name, source, sources=[os.path.join(csrc, f) for f in files],
                   include_dirs=[os.path.join(csrc, "include"), csrc],
                   extra_compile_args=["-O2", "-std=gnu11", "-fno-strict-aliasing", "-D_GNU_SOURCE"])
    ffi.compile(tmpdir=out, verbose=False)
    sys.path.insert(0, out)
    importlib.invalidate_caches()
    return importlib.import_module(name)


def rtp_packet(size: int, csrc: int = 0, ext_words: int = 0) -> bytes:
    b0 = 0x80 | (0x10 if ext_words else 0) | csrc
    p = struct.pack("!BBHII", b0, 96, 1000, 90000, 0x1234ABCD) + b"\x00\x00\x00\x01" * csrc
    if ext_words:
        p += struct.pack("!HH", 0xBEDE, ext_words) + bytes([0x10, 0x55, 0, 0]) * ext_words
    return p + b"\xaa" * (size - len(p))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--iters", type=int, default=2_000_000, help="C-loop iterations for parse/demux")
    ap.add_argument("--srtp-iters", type=int, default=200_000)
    ap.add_argument("--repeat", type=int, default=5, help="repetitions; the minimum is reported")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    print("command: PYTHONPATH=" + os.environ.get("PYTHONPATH", "") + " " + shlex.join([sys.executable] + sys.argv))
    h = build_helper()
    hffi, hlib = h.ffi, h.lib
    from sfu import srtp
    from sfu.native import ffi, lib
    from pylibsrtp._binding import ffi as sffi
    from pylibsrtp._binding import lib as slib

    def fp(name: str) -> int:
        return int(sffi.cast("uintptr_t", sffi.addressof(slib, name)))

    hlib.sfu_srtp_bind(fp("srtp_protect"), fp("srtp_unprotect"), fp("srtp_protect_rtcp"), fp("srtp_unprotect_rtcp"))
    try:
        os.sched_setaffinity(0, {0})
    except OSError:
        pass
    rows = []
    cases = [("rtp_parse 1200 B plain", rtp_packet(1200)),
             ("rtp_parse 1200 B 2 CSRC + 1-byte ext", rtp_packet(1200, csrc=2, ext_words=2)),
             ("rtp_parse 200 B plain", rtp_packet(200))]
    out_rtp = ffi.new("sfu_rtp_t *")
    for name, pkt in cases:
        hbuf = hffi.from_buffer(pkt)
        c_ns = min(hlib.bl_rtp_parse(hbuf, len(pkt), args.iters) for _ in range(args.repeat))
        nbuf = ffi.from_buffer(pkt)
        n = 200_000
        py_ns = min(timeit.repeat(lambda: lib.sfu_rtp_parse(nbuf, len(pkt), out_rtp), number=n, repeat=5, timer=time.thread_time)) / n * 1e9
        rows.append((name, c_ns, py_ns))
    for name, pkt in (("demux RTP", rtp_packet(1200)), ("demux STUN", b"\x00\x01" + b"\x00" * 30)):
        hbuf = hffi.from_buffer(pkt)
        c_ns = min(hlib.bl_demux(hbuf, len(pkt), args.iters) for _ in range(args.repeat))
        nbuf = ffi.from_buffer(pkt)
        n = 200_000
        py_ns = min(timeit.repeat(lambda: lib.sfu_demux(nbuf, len(pkt)), number=n, repeat=5, timer=time.thread_time)) / n * 1e9
        rows.append((name, c_ns, py_ns))

    srtp_rows = []
    key = os.urandom(28)
    for window in (srtp.REPLAY_WINDOW, 128):
        saved = srtp.REPLAY_WINDOW
        srtp.REPLAY_WINDOW = window
        try:
            for size in (200, 1200):
                tx = srtp.Session(srtp.AEAD_AES_128_GCM, key, outbound=True)
                rx = srtp.Session(srtp.AEAD_AES_128_GCM, key, outbound=False)
                tmpl = hffi.from_buffer(rtp_packet(size))
                txp, rxp = hffi.cast("void *", tx.pointer), hffi.cast("void *", rx.pointer)
                it = args.srtp_iters
                copy = min(hlib.bl_srtp(txp, rxp, tmpl, size, it, 0) for _ in range(3))
                # protect+unprotect must run with fresh sequence numbers: new sessions per repetition
                both = []
                prot = []
                for _ in range(args.repeat):
                    tx2 = srtp.Session(srtp.AEAD_AES_128_GCM, key, outbound=True)
                    rx2 = srtp.Session(srtp.AEAD_AES_128_GCM, key, outbound=False)
                    prot.append(hlib.bl_srtp(hffi.cast("void *", tx2.pointer), hffi.NULL, tmpl, size, it, 1))
                    tx3 = srtp.Session(srtp.AEAD_AES_128_GCM, key, outbound=True)
                    both.append(hlib.bl_srtp(hffi.cast("void *", tx3.pointer), hffi.cast("void *", rx2.pointer),
                                             tmpl, size, it, 2))
                    for s_ in (tx2, rx2, tx3):
                        s_.close()
                p, b = min(prot), min(both)
                if p < 0 or b < 0:
                    raise RuntimeError(f"SRTP failed in the C loop ({p}, {b})")
                srtp_rows.append((window, size, p - copy, b - p, copy))
                tx.close()
                rx.close()
        finally:
            srtp.REPLAY_WINDOW = saved

    print(f"\n{'function':40} {'C loop ns/call':>15} {'cffi call ns':>13} {'cffi overhead':>14}")
    for name, c_ns, py_ns in rows:
        print(f"{name:40} {c_ns:15.1f} {py_ns:13.1f} {py_ns - c_ns:14.1f}")
    print(f"\nSRTP AEAD_AES_128_GCM through the data plane's function pointers (C loop; copy of the "
          f"packet subtracted)\n{'replay window':>13} {'size':>5} {'protect ns':>11} {'unprotect ns':>13} "
          f"{'copy ns':>8}")
    for window, size, p, u, c in srtp_rows:
        print(f"{window:13} {size:5} {p:11.0f} {u:13.0f} {c:8.0f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"calls": [dict(name=n, c_loop_ns=c, cffi_ns=p) for n, c, p in rows],
                       "srtp": [dict(window=w, size=s, protect_ns=p, unprotect_ns=u, copy_ns=c)
                                for w, s, p, u, c in srtp_rows]}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
