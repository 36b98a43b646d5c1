/* stream.c - per-stream RTP state: receive statistics for receiver reports
 * (RFC 3550 A.1, A.3, A.8), the packet cache that answers NACKs, the
 * per-consumer history of what was sent, and SR/RR/PLI packet builders.
 * Pure functions over caller-owned structs: no I/O, no clock reads. */
#include <stdlib.h>
#include "util/sfu_common.h"
#include "rtc/stream.h"

#define MAX_DROPOUT 3000
#define MAX_MISORDER 100

/* ------------------------------------------------------------------ */
/* receive statistics */

void sfu_rx_init(sfu_rx_stats_t *s, uint32_t clock_hz)
{
    memset(s, 0, sizeof(*s));
    s->clock_hz = clock_hz ? clock_hz : 90000;
}

void sfu_rx_update(sfu_rx_stats_t *s, uint16_t seq, uint32_t ts, uint64_t arrival_ns)
{
    if (!s->initialized) {
        s->initialized = 1;
        s->base_seq = seq;
        s->max_seq = seq;
        s->bad_seq = UINT32_MAX;
        s->cycles = 0;
        s->received = 1;
    } else {
        uint16_t udelta = (uint16_t)(seq - s->max_seq);
        if (udelta < MAX_DROPOUT) {
            if (seq < s->max_seq)
                s->cycles += 1u << 16;
            s->max_seq = seq;
        } else if (udelta <= 65536 - MAX_MISORDER) {
            /* a very large jump: restart if the next packet continues it */
            if (seq == s->bad_seq) {
                s->base_seq = seq;
                s->max_seq = seq;
                s->cycles = 0;
                s->received = 0;
                s->expected_prior = 0;
                s->received_prior = 0;
            } else {
                s->bad_seq = (uint32_t)((seq + 1) & 0xffff);
                return;
            }
        }
        s->received++;
    }
    /* interarrival jitter, in timestamp units * 16 */
    uint32_t arrival = (uint32_t)(arrival_ns * s->clock_hz / 1000000000ull);
    uint32_t transit = arrival - ts;
    if (s->have_transit) {
        int32_t d = (int32_t)(transit - s->transit);
        if (d < 0)
            d = -d;
        s->jitter16 += (uint32_t)d - ((s->jitter16 + 8) >> 4);
    }
    s->transit = transit;
    s->have_transit = 1;
}

void sfu_rx_on_sr(sfu_rx_stats_t *s, uint32_t ntp_sec, uint32_t ntp_frac, uint64_t arrival_ns)
{
    s->last_sr_mid = (ntp_sec << 16) | (ntp_frac >> 16);
    s->last_sr_ns = arrival_ns;
}

int sfu_rx_report_block(sfu_rx_stats_t *s, uint32_t ssrc, uint64_t now_ns, uint8_t *out)
{
    if (!s->initialized)
        return 0;
    uint32_t ext_max = s->cycles + s->max_seq;
    uint32_t expected = ext_max - s->base_seq + 1;
    int64_t lost = (int64_t)expected - s->received;
    if (lost > 0x7fffff)
        lost = 0x7fffff;
    if (lost < -0x800000)
        lost = -0x800000;
    uint32_t exp_int = expected - s->expected_prior;
    uint32_t rec_int = s->received - s->received_prior;
    s->expected_prior = expected;
    s->received_prior = s->received;
    int32_t lost_int = (int32_t)(exp_int - rec_int);
    uint8_t fraction = (exp_int == 0 || lost_int <= 0) ? 0 : (uint8_t)(((uint32_t)lost_int << 8) / exp_int);
    sfu_wr32(out, ssrc);
    out[4] = fraction;
    uint32_t l24 = (uint32_t)lost & 0xffffff;
    out[5] = (uint8_t)(l24 >> 16);
    out[6] = (uint8_t)(l24 >> 8);
    out[7] = (uint8_t)l24;
    sfu_wr32(out + 8, ext_max);
    sfu_wr32(out + 12, s->jitter16 >> 4);
    uint32_t dlsr = 0;
    if (s->last_sr_ns && now_ns > s->last_sr_ns)
        dlsr = (uint32_t)((now_ns - s->last_sr_ns) * 65536ull / 1000000000ull);
    sfu_wr32(out + 16, s->last_sr_mid);
    sfu_wr32(out + 20, s->last_sr_ns ? dlsr : 0);
    return 24;
}

/* ------------------------------------------------------------------ */
/* packet cache (answers NACKs); slots validate their own sequence number */

int sfu_cache_init(sfu_pkt_cache_t *c, uint32_t slots)
{
    if (slots < 2 || (slots & (slots - 1)))
        return SFU_EINVAL;
    c->data = malloc((size_t)slots * SFU_MTU);
    c->meta = calloc(slots, sizeof(*c->meta));
    if (!c->data || !c->meta) {
        free(c->data);
        free(c->meta);
        c->data = NULL;
        c->meta = NULL;
        return SFU_ENOMEM;
    }
    c->mask = slots - 1;
    return SFU_OK;
}

void sfu_cache_free(sfu_pkt_cache_t *c)
{
    free(c->data);
    free(c->meta);
    c->data = NULL;
    c->meta = NULL;
}

void sfu_cache_put(sfu_pkt_cache_t *c, uint16_t seq, const uint8_t *pkt, uint32_t len)
{
    if (!c->data || len > SFU_MTU)
        return;
    uint32_t i = seq & c->mask;
    memcpy(c->data + (size_t)i * SFU_MTU, pkt, len);
    c->meta[i].seq1 = (uint32_t)seq + 1;
    c->meta[i].len = (uint16_t)len;
}

const uint8_t *sfu_cache_get(const sfu_pkt_cache_t *c, uint16_t seq, uint32_t *len)
{
    if (!c->data)
        return NULL;
    uint32_t i = seq & c->mask;
    if (c->meta[i].seq1 != (uint32_t)seq + 1)
        return NULL;               /* overwritten or never stored */
    *len = c->meta[i].len;
    return c->data + (size_t)i * SFU_MTU;
}

/* ------------------------------------------------------------------ */
/* per-consumer send history: out seq -> what it was */

void sfu_hist_put(sfu_send_hist_t *h, uint16_t out_seq, uint16_t in_seq, uint32_t out_ts, uint32_t producer_id)
{
    sfu_sent_t *e = &h->e[out_seq & (SFU_HIST_SLOTS - 1)];
    e->out_seq1 = (uint32_t)out_seq + 1;
    e->in_seq = in_seq;
    e->out_ts = out_ts;
    e->producer_id = producer_id;
    e->resends = 0;
    e->last_ns = 0;
}

sfu_sent_t *sfu_hist_get(sfu_send_hist_t *h, uint16_t out_seq)
{
    sfu_sent_t *e = &h->e[out_seq & (SFU_HIST_SLOTS - 1)];
    return e->out_seq1 == (uint32_t)out_seq + 1 ? e : NULL;
}

/* ------------------------------------------------------------------ */
/* builders */

uint32_t sfu_rtcp_build_sr(uint8_t *b, uint32_t ssrc, uint64_t ntp, uint32_t rtp_ts,
                           uint32_t packets, uint32_t octets)
{
    b[0] = 0x80;                   /* V=2, no report blocks */
    b[1] = 200;
    sfu_wr16(b + 2, 6);
    sfu_wr32(b + 4, ssrc);
    sfu_wr32(b + 8, (uint32_t)(ntp >> 32));
    sfu_wr32(b + 12, (uint32_t)ntp);
    sfu_wr32(b + 16, rtp_ts);
    sfu_wr32(b + 20, packets);
    sfu_wr32(b + 24, octets);
    return 28;
}

uint32_t sfu_rtcp_build_rr(uint8_t *b, uint32_t sender_ssrc, const uint8_t *block)
{
    b[0] = 0x81;                   /* V=2, one report block */
    b[1] = 201;
    sfu_wr16(b + 2, 7);
    sfu_wr32(b + 4, sender_ssrc);
    memcpy(b + 8, block, 24);
    return 32;
}

uint32_t sfu_rtcp_build_pli(uint8_t *b, uint32_t sender_ssrc, uint32_t media_ssrc)
{
    b[0] = 0x81;                   /* V=2, FMT=1 (PLI) */
    b[1] = 206;
    sfu_wr16(b + 2, 2);
    sfu_wr32(b + 4, sender_ssrc);
    sfu_wr32(b + 8, media_ssrc);
    return 12;
}

uint64_t sfu_ntp_from_unix_ns(uint64_t unix_ns)
{
    uint64_t sec = unix_ns / 1000000000ull + 2208988800ull;
    uint64_t frac = ((unix_ns % 1000000000ull) << 32) / 1000000000ull;
    return (sec << 32) | frac;
}

/* ------------------------------------------------------------------ */
/* transport-wide congestion control feedback (draft-holmer-rmcat-transport-wide-cc-extensions-01):
 * the receiver side, so publishers' send-side bandwidth estimation works */

void sfu_twcc_init(sfu_twcc_t *tw)
{
    memset(tw, 0, sizeof(*tw));
}

void sfu_twcc_record(sfu_twcc_t *tw, uint16_t seq, uint64_t arrival_us)
{
    int64_t ext;
    if (!tw->started) {
        tw->started = 1;
        ext = (int64_t)seq + 65536;      /* keep unwrapped numbers positive */
        tw->base = ext;
        tw->max = ext;
    } else {
        int64_t last = tw->max;
        int16_t d = (int16_t)(seq - (uint16_t)last);
        ext = last + d;
        if (ext < tw->base)                /* older than what was already reported */
            return;
        if (ext - tw->base >= SFU_TWCC_SLOTS) {
            /* too far ahead of the report window: start a new one there */
            tw->base = ext;
            for (int i = 0; i < SFU_TWCC_SLOTS; i++)
                tw->arrival[i] = 0;
        }
        if (ext > tw->max)
            tw->max = ext;
    }
    tw->arrival[ext & (SFU_TWCC_SLOTS - 1)] = arrival_us ? arrival_us : 1;
    tw->pending = 1;
}

uint32_t sfu_twcc_build(sfu_twcc_t *tw, uint32_t sender_ssrc, uint32_t media_ssrc, uint8_t *b, uint32_t cap)
{
    if (!tw->pending || cap < 64)
        return 0;
    int64_t base = tw->base, end = tw->max;        /* inclusive */
    int64_t first = base;
    while (first <= end && !tw->arrival[first & (SFU_TWCC_SLOTS - 1)])
        first++;
    if (first > end) {
        tw->pending = 0;
        return 0;
    }
    uint64_t ref = tw->arrival[first & (SFU_TWCC_SLOTS - 1)] / 64000;   /* 64 ms units */
    uint64_t prev = ref * 64000;
    /* symbols and deltas; stop before the packet would exceed `cap` */
    uint8_t sym[SFU_TWCC_SLOTS];
    int32_t dlt[SFU_TWCC_SLOTS];
    uint32_t n = 0, delta_bytes = 0;
    int64_t s = base;
    for (; s <= end && n < SFU_TWCC_SLOTS; s++) {
        uint64_t a = tw->arrival[s & (SFU_TWCC_SLOTS - 1)];
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
    b[19] = tw->fb_count++;
    /* the next report starts after what this one covered */
    for (int64_t k = base; k < base + n; k++)
        tw->arrival[k & (SFU_TWCC_SLOTS - 1)] = 0;
    tw->base = base + n;
    tw->pending = tw->base <= tw->max;
    return len;
}
