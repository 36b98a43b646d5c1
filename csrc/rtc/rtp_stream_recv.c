/* rtp_stream_recv.c - receive statistics of one incoming RTP stream and
 * the RFC 3550 report block about it (sfu_units.h): sequence validation
 * (A.1), cumulative and interval loss (A.3), interarrival jitter (A.8),
 * LSR/DLSR (6.4.1).  Pure: arrival and report times are arguments. */
#include "util/sfu_common.h"
#include "sfu_units.h"

#define MAX_DROPOUT 3000
#define MAX_MISORDER 100

void sfu_rtp_stream_recv_init(sfu_rtp_stream_recv_t *s, uint32_t clock_hz)
{
    memset(s, 0, sizeof(*s));
    s->clock_hz = clock_hz ? clock_hz : 90000;
}

void sfu_rtp_stream_recv_update(sfu_rtp_stream_recv_t *s, uint16_t seq, uint32_t ts, uint64_t arrival_ns)
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
        /* |D| of the signed 32-bit difference, negated in unsigned arithmetic
         * (a difference of exactly -2^31 has no positive int32_t) */
        uint32_t d = transit - s->transit;
        if ((int32_t)d < 0)
            d = 0u - d;
        s->jitter16 += d - ((s->jitter16 + 8) >> 4);
    }
    s->transit = transit;
    s->have_transit = 1;
}

void sfu_rtp_stream_recv_on_sr(sfu_rtp_stream_recv_t *s, uint32_t ntp_sec, uint32_t ntp_frac, uint64_t arrival_ns)
{
    s->last_sr_mid = (ntp_sec << 16) | (ntp_frac >> 16);
    s->last_sr_ns = arrival_ns;
}

int sfu_rtp_stream_recv_report_block(sfu_rtp_stream_recv_t *s, uint32_t ssrc, uint64_t now_ns, uint8_t *out)
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
