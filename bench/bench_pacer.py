"""Micro-benchmark: what a subscriber transport's pacer (csrc/rtc/pacer.c) costs per packet.

A tight C loop (bench-only helper module built from csrc/rtc/pacer.c with the product's
flags, see bench_parse.py) sends `iters` packets of `size` bytes through the pacer the way
the transport driver (csrc/rtc/transport_pacing.c) does, in three cases:

* pass-through: no rate (no transport-cc feedback yet, or congestion control off) --
  `sfu_pacer_enqueue` says "send now";
* not limiting: a rate far above what is offered -- the budget is grown and charged, every
  packet still goes at once;
* queued: a rate of exactly the offered one, so every packet waits one step -- enqueue, the
  copy into the pacer's slot, `sfu_pacer_next` one step later and the copy back into a
  transmit slot (the driver's two extra copies of a held packet are in the loop).

Timed with CLOCK_THREAD_CPUTIME_ID; the minimum of --repeat runs is reported, with a
memcpy of the packet (what forwarding copies anyway) for scale.

    PYTHONPATH=. python bench/bench_pacer.py [--iters 2000000] [--size 1200]
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys

from bench_parse import OUT, build_helper

HELPER_C = r"""
#include <string.h>
#include <time.h>
#include "sfu_bwe.h"

static uint64_t cpu_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

static sfu_pacer_t pacer;
static uint8_t slots[SFU_PACER_SLOTS][1600];
static uint8_t pkt[1600], out[1600];

/* mode 0: pass through, 1: not limiting, 2: every packet queued one step, 3: memcpy only;
 * returns ns per packet, or a negative number when the pacer did not do what the mode means */
double bp_pacer(int mode, uint32_t size, uint64_t iters)
{
    int64_t now = 1000000, step = 10;          /* a packet every 10 us */
    uint16_t h;
    sfu_pacer_init(&pacer, now);
    if (mode == 1) {
        sfu_pacer_set_rate(&pacer, 100000000000ull, now);
        now += step;                           /* a budget before the first packet */
    }
    if (mode == 2)                             /* one packet's bytes per step */
        sfu_pacer_set_rate(&pacer, (uint64_t)size * 8 * 1000000 / (uint64_t)step, now);
    uint64_t queued = 0;
    uint64_t t0 = cpu_ns();
    for (uint64_t i = 0; i < iters; i++) {
        pkt[2] = (uint8_t)i;
        if (mode == 3) {
            memcpy(out, pkt, size);
        } else if (sfu_pacer_enqueue(&pacer, SFU_PACE_VIDEO, size, now, &h)) {
            memcpy(out, pkt, size);
        } else {
            memcpy(slots[h], pkt, size);
            queued++;
        }
        now += step;
        while (mode == 2 && sfu_pacer_next(&pacer, now, &h))
            memcpy(out, slots[h], size);
        __asm__ volatile("" : : "r"(out) : "memory");
    }
    double ns = (double)(cpu_ns() - t0) / (double)iters;
    if ((mode == 2 && queued < iters - 1) || (mode != 2 && queued))
        return -1.0;
    return ns;
}
"""

HELPER_CDEF = "double bp_pacer(int mode, uint32_t size, uint64_t iters);"

CASES = [("memcpy of the packet only (scale)", 3), ("pass-through (no rate)", 0),
         ("not limiting (budget charged)", 1), ("queued one step (+2 copies)", 2)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--iters", type=int, default=2_000_000)
    ap.add_argument("--size", type=int, default=1200)
    ap.add_argument("--repeat", type=int, default=5, help="repetitions; the minimum is reported")
    args = ap.parse_args(argv)
    print("command: PYTHONPATH=" + os.environ.get("PYTHONPATH", "") + " " + shlex.join([sys.executable] + sys.argv))
    h = build_helper("_sfu_benchpacer", HELPER_C, HELPER_CDEF, ("rtc/pacer.c",), os.path.join(OUT, "..", "pacer"))
    try:
        os.sched_setaffinity(0, {0})
    except OSError:
        pass
    print(f"\n{'pacer, ' + str(args.size) + ' B packets':40} {'C loop ns/packet':>17}")
    for name, mode in CASES:
        ns = min(h.lib.bp_pacer(mode, args.size, args.iters) for _ in range(args.repeat))
        if ns < 0:
            raise RuntimeError(f"{name}: the pacer did not behave as the case means")
        print(f"{name:40} {ns:17.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
