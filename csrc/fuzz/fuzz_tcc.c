/* fuzz_tcc.c - the transport-cc register and feedback builder
 * (csrc/rtc/tcc_server.c) fed arbitrary sequence numbers and arrival times.
 * Input: steps of one op byte: op < 0xE0 records a packet (2 bytes of
 * sequence number, 1 byte of time step; op & 1 steps the clock back),
 * otherwise a feedback packet is built with cap 64 + (op & 0x1f) * 41.
 * Each packet must be one valid RTCP RTPFB FMT=15 packet within cap whose
 * base and count are what the register covered, whose chunks are two-bit
 * status vectors, and which reports only packets that arrived; everything
 * recorded is reported within a few packets of the full size. */
#include "../util/common.c"
#include "../rtp/rtcp.c"
#include "../rtc/tcc_server.c"
#include "fuzz_common.h"

#define SENDER 1u
#define MEDIA 0x11223344u

static sfu_tcc_server_t tcc, before;
static uint8_t fb[SFU_MTU];

static void build_and_check(uint32_t cap)
{
    memcpy(&before, &tcc, sizeof(tcc));
    uint32_t n = sfu_tcc_server_build(&tcc, SENDER, MEDIA, fb, cap);
    if (n == 0) {
        FUZZ_CHECK(!tcc.pending);
        FUZZ_CHECK(tcc.base == before.base);
        return;
    }
    FUZZ_CHECK(before.pending && cap >= 64);
    FUZZ_CHECK(n <= cap && n % 4 == 0 && n >= 24);
    FUZZ_CHECK(sfu_rtcp_validate(fb, n) == SFU_DROP_NONE);
    size_t off = 0;
    sfu_rtcp_t pkt;
    FUZZ_CHECK(sfu_rtcp_next(fb, n, &off, &pkt) == 1 && off == n);
    FUZZ_CHECK(pkt.pt == 205 && pkt.count == 15 && pkt.len == n);
    FUZZ_CHECK(pkt.sender_ssrc == SENDER && pkt.media_ssrc == MEDIA);
    uint16_t base = sfu_rd16(fb + 12), count = sfu_rd16(fb + 14);
    FUZZ_CHECK(base == (uint16_t)before.base && count >= 1);
    FUZZ_CHECK(tcc.base == before.base + count && tcc.base <= before.max + 1);
    FUZZ_CHECK(fb[19] == before.fb_count && tcc.fb_count == (uint8_t)(before.fb_count + 1));
    size_t chunks = ((size_t)count + 6) / 7, deltas = 0;
    FUZZ_CHECK(20 + 2 * chunks <= n);
    int first = 1;
    for (size_t k = 0; k < count; k++) {
        uint16_t chunk = sfu_rd16(fb + 20 + 2 * (k / 7));
        FUZZ_CHECK((chunk & 0xC000) == 0xC000);
        int sym = (chunk >> (12 - 2 * (k % 7))) & 3;
        FUZZ_CHECK(sym != 3);
        int64_t seq = before.base + (int64_t)k;
        uint64_t arrival = before.arrival[seq & (SFU_TCC_SLOTS - 1)];
        if (sym) {
            FUZZ_CHECK(arrival != 0);          /* only what arrived is reported received */
            if (first)                         /* the reference time is the first arrival's 64 ms slot */
                FUZZ_CHECK(sym == 1);
            first = 0;
        }
        deltas += (size_t)sym;
    }
    for (size_t k = count; k < chunks * 7; k++) {
        uint16_t chunk = sfu_rd16(fb + 20 + 2 * (k / 7));
        FUZZ_CHECK(((chunk >> (12 - 2 * (k % 7))) & 3) == 0);
    }
    size_t used = 20 + 2 * chunks + deltas;
    FUZZ_CHECK(used <= n && n - used < 4);     /* then only padding */
    for (int64_t s = before.base; s < before.base + count; s++)
        FUZZ_CHECK(tcc.arrival[s & (SFU_TCC_SLOTS - 1)] == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sfu_tcc_server_init(&tcc);
    uint64_t now = 1000000;
    size_t i = 0;
    while (i < size) {
        uint8_t op = data[i++];
        if (op < 0xE0) {
            if (size - i < 3)
                break;
            uint16_t seq = (uint16_t)(data[i] | (data[i + 1] << 8));
            uint64_t step = (uint64_t)data[i + 2] * 250;
            i += 3;
            now = (op & 1) && now > step ? now - step : now + step;
            sfu_tcc_server_record(&tcc, seq, (op & 2) ? now : now * 977);
            FUZZ_CHECK(tcc.base <= tcc.max + 1 && tcc.max - tcc.base < SFU_TCC_SLOTS);
        } else {
            build_and_check(64 + (uint32_t)(op & 0x1f) * 41);
        }
    }
    /* whatever was recorded is reported in a bounded number of packets */
    for (int k = 0; k < 64 && tcc.pending; k++)
        build_and_check(SFU_MTU - SFU_SRTP_TRAILER_MAX);
    FUZZ_CHECK(!tcc.pending);
    return 0;
}
