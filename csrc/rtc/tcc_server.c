/* tcc_server.c - transport-wide congestion control, receive side
 * (draft-holmer-rmcat-transport-wide-cc-extensions-01; sfu_units.h): the
 * arrival register and the feedback packets.  Each feedback covers the
 * sequence numbers from the first unreported one up to the highest
 * recorded, as two-bit status vector chunks (7 symbols each) followed by
 * the receive deltas in 250 µs units; a packet that did not arrive, or
 * whose delta does not fit 16 bits, is reported as not received.  Pure:
 * arrival times are arguments. */
#include "util/sfu_common.h"
#include "sfu_units.h"

void sfu_tcc_server_init(sfu_tcc_server_t *t)
{
    memset(t, 0, sizeof(*t));
}

void sfu_tcc_server_record(sfu_tcc_server_t *t, uint16_t seq, uint64_t arrival_us)
{
    int64_t ext;
    if (!t->started) {
        t->started = 1;
        ext = (int64_t)seq + 65536;      /* keep unwrapped numbers positive */
        t->base = ext;
        t->max = ext;
    } else {
        int64_t last = t->max;
        int16_t d = (int16_t)(seq - (uint16_t)last);
        ext = last + d;
        if (ext < t->base)                /* older than what was already reported */
            return;
        if (ext - t->base >= SFU_TCC_SLOTS) {
            /* too far ahead of the report window: start a new one there */
            t->base = ext;
            for (int i = 0; i < SFU_TCC_SLOTS; i++)
                t->arrival[i] = 0;
        }
        if (ext > t->max)
            t->max = ext;
    }
    t->arrival[ext & (SFU_TCC_SLOTS - 1)] = arrival_us ? arrival_us : 1;
    t->pending = 1;
}

uint32_t sfu_tcc_server_build(sfu_tcc_server_t *t, uint32_t sender_ssrc, uint32_t media_ssrc, uint8_t *b, uint32_t cap)
{
    if (!t->pending || cap < 64)
        return 0;
    int64_t base = t->base, end = t->max;        /* inclusive */
    int64_t first = base;
    while (first <= end && !t->arrival[first & (SFU_TCC_SLOTS - 1)])
        first++;
    if (first > end) {
        t->pending = 0;
        return 0;
    }
    uint64_t ref = t->arrival[first & (SFU_TCC_SLOTS - 1)] / 64000;   /* 64 ms units */
    uint64_t prev = ref * 64000;
    /* symbols and deltas; stop before the packet would exceed `cap` */
    uint8_t sym[SFU_TCC_SLOTS];
    int32_t dlt[SFU_TCC_SLOTS];
    uint32_t n = 0, delta_bytes = 0;
    int64_t s = base;
    for (; s <= end && n < SFU_TCC_SLOTS; s++) {
        uint64_t a = t->arrival[s & (SFU_TCC_SLOTS - 1)];
        uint8_t sy = 0;
        int32_t d = 0;
        if (a) {
            int64_t q = ((int64_t)a - (int64_t)prev) / 250;
            if (q >= 0 && q <= 255)
                sy = 1;
            else if (q >= -32768 && q <= 32767)
                sy = 2;
            if (sy) {
                d = (int32_t)q;
                prev += (uint64_t)((int64_t)q * 250);
            }
        }
        uint32_t chunks = (n + 1 + 6) / 7;
        uint32_t need = 20 + chunks * 2 + delta_bytes + sy + 3;
        if (need > cap)
            break;
        sym[n] = sy;
        dlt[n] = d;
        delta_bytes += sy;
        n++;
    }
    uint8_t *p = b + 20;
    for (uint32_t i = 0; i < n; i += 7) {            /* two-bit status vector chunks */
        uint16_t chunk = 0xC000;
        for (uint32_t j = 0; j < 7; j++)
            if (i + j < n)
                chunk |= (uint16_t)(sym[i + j] << (12 - 2 * j));
        sfu_wr16(p, chunk);
        p += 2;
    }
    for (uint32_t i = 0; i < n; i++) {
        if (sym[i] == 1) {
            *p++ = (uint8_t)dlt[i];
        } else if (sym[i] == 2) {
            sfu_wr16(p, (uint16_t)(int16_t)dlt[i]);
            p += 2;
        }
    }
    while ((p - b) % 4)
        *p++ = 0;
    uint32_t len = (uint32_t)(p - b);
    b[0] = 0x8f;                   /* V=2, FMT=15 */
    b[1] = 205;
    sfu_wr16(b + 2, (uint16_t)(len / 4 - 1));
    sfu_wr32(b + 4, sender_ssrc);
    sfu_wr32(b + 8, media_ssrc);
    sfu_wr16(b + 12, (uint16_t)base);
    sfu_wr16(b + 14, (uint16_t)n);
    b[16] = (uint8_t)(ref >> 16);
    b[17] = (uint8_t)(ref >> 8);
    b[18] = (uint8_t)ref;
    b[19] = t->fb_count++;
    /* the next report starts after what this one covered */
    for (int64_t k = base; k < base + n; k++)
        t->arrival[k & (SFU_TCC_SLOTS - 1)] = 0;
    t->base = base + n;
    t->pending = t->base <= t->max;
    return len;
}
