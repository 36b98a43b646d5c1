/* tcc_send_history.c - the send side of transport-wide congestion control
 * (sfu_bwe.h): one entry per packet sent to a subscriber transport, keyed
 * by its transport-wide sequence number, and what the subscriber's
 * feedback says about it.  The history hands out the sequence numbers, so
 * the numbers on the wire and the entries cannot disagree.  Pure: the send
 * time is an argument, arrivals come from the feedback. */
#include "util/sfu_common.h"
#include "sfu_bwe.h"

#define SLOT_MASK (SFU_TCC_HISTORY_SLOTS - 1)
/* a packet reordered on the way arrives at most this much before one sent earlier */
#define REORDER_SLACK_US 100000

void sfu_tcc_send_history_init(sfu_tcc_send_history_t *h, uint16_t first_seq)
{
    memset(h, 0, sizeof(*h));
    h->next_seq = (int64_t)first_seq + 65536;     /* keep unwrapped numbers positive */
    h->newest_reported = -1;
    h->newest_arrival_us = INT64_MIN;
    for (int i = 0; i < SFU_TCC_HISTORY_SLOTS; i++)
        h->e[i].seq = -1;
}

uint16_t sfu_tcc_send_history_add(sfu_tcc_send_history_t *h, uint32_t size, uint8_t flags, int16_t cluster,
                                  int64_t now_us)
{
    int64_t seq = h->next_seq++;
    h->added++;
    sfu_tcc_sent_t *e = &h->e[seq & SLOT_MASK];
    e->seq = seq;
    e->send_us = now_us;
    e->arrival_us = 0;
    e->size = size > 0xFFFF ? 0xFFFF : (uint16_t)size;
    e->flags = flags;
    e->state = SFU_TCC_STATE_UNREPORTED;
    e->cluster = cluster;
    return (uint16_t)seq;
}

uint16_t sfu_tcc_send_history_next_seq(const sfu_tcc_send_history_t *h)
{
    return (uint16_t)h->next_seq;
}

/* the unwrapped number of a 16-bit one, nearest to the newest sent */
static int64_t unwrap(const sfu_tcc_send_history_t *h, uint16_t seq)
{
    int64_t last = h->next_seq - 1;
    return last + (int16_t)(uint16_t)(seq - (uint16_t)last);
}

static sfu_tcc_sent_t *entry(sfu_tcc_send_history_t *h, int64_t ext)
{
    if (ext >= h->next_seq || ext < h->next_seq - SFU_TCC_HISTORY_SLOTS)
        return NULL;
    sfu_tcc_sent_t *e = &h->e[ext & SLOT_MASK];
    return e->seq == ext ? e : NULL;
}

const sfu_tcc_sent_t *sfu_tcc_send_history_get(const sfu_tcc_send_history_t *h, uint16_t seq)
{
    return entry((sfu_tcc_send_history_t *)h, unwrap(h, seq));
}

uint32_t sfu_tcc_send_history_on_feedback(sfu_tcc_send_history_t *h, const sfu_tcc_feedback_t *fb,
                                          const sfu_tcc_feedback_packet_t *pkts, sfu_tcc_packet_result_t *out,
                                          uint32_t cap)
{
    /* 24-bit reference time, unwrapped against the previous feedback's (wraps after ~12 days) */
    if (!h->have_ref) {
        h->ref_unwrapped = fb->reference_time;
        h->have_ref = 1;
    } else {
        int32_t d = (int32_t)((fb->reference_time - (uint32_t)h->ref_unwrapped) << 8) >> 8;
        h->ref_unwrapped += d;
    }
    int64_t ref_us = h->ref_unwrapped * SFU_TCC_REFERENCE_UNIT_US;
    h->feedback_packets++;
    uint32_t n = 0;
    int64_t base = unwrap(h, fb->base_seq);
    for (uint32_t i = 0; i < fb->status_count; i++) {
        int64_t ext = base + i;
        sfu_tcc_sent_t *e = entry(h, ext);
        if (!e) {
            h->unknown++;
            continue;
        }
        uint8_t was = e->state;
        if (pkts[i].status) {
            if (was == SFU_TCC_STATE_RECEIVED)
                continue;                         /* reported twice */
            if (was == SFU_TCC_STATE_LOST)
                h->late++;
            e->state = SFU_TCC_STATE_RECEIVED;
            e->arrival_us = ref_us + pkts[i].arrival_offset_us;
            if (e->arrival_us > h->newest_arrival_us)
                h->newest_arrival_us = e->arrival_us;
        } else {
            if (was != SFU_TCC_STATE_UNREPORTED)
                continue;                         /* lost again, or a later feedback saw it */
            e->state = SFU_TCC_STATE_LOST;
        }
        if (ext > h->newest_reported)
            h->newest_reported = ext;
        if (n < cap) {
            sfu_tcc_packet_result_t *r = &out[n++];
            r->seq = ext;
            r->send_us = e->send_us;
            r->arrival_us = e->state == SFU_TCC_STATE_RECEIVED ? e->arrival_us : -1;
            r->size = e->size;
            r->flags = e->flags;
            r->cluster = e->cluster;
        }
    }
    return n;
}

uint64_t sfu_tcc_send_history_acked_bps(const sfu_tcc_send_history_t *h, int64_t window_us)
{
    if (h->newest_arrival_us == INT64_MIN || window_us <= 0)
        return 0;
    int64_t from = h->newest_arrival_us - window_us;
    uint64_t bytes = 0, first_bytes = 0;
    int64_t oldest = INT64_MAX;
    uint32_t packets = 0;
    int reached_start = 0;
    for (int64_t s = h->newest_reported; s > h->newest_reported - SFU_TCC_HISTORY_SLOTS; s--) {
        const sfu_tcc_sent_t *e = &h->e[s & SLOT_MASK];
        if (e->seq != s)
            break;
        if (e->state != SFU_TCC_STATE_RECEIVED)
            continue;
        if (e->arrival_us <= from) {
            reached_start = 1;
            if (e->arrival_us < from - REORDER_SLACK_US)
                break;
            continue;
        }
        bytes += e->size;
        packets++;
        if (e->arrival_us < oldest) {
            oldest = e->arrival_us;
            first_bytes = e->size;
        }
    }
    if (packets < 2)
        return 0;
    int64_t span = window_us;
    if (!reached_start) {
        /* the history is shorter than the window: the rate between the first and the newest
         * arrival, the first packet's bytes being before that span */
        span = h->newest_arrival_us - oldest;
        bytes -= first_bytes;
        if (span <= 0)
            return 0;
    }
    return bytes * 8 * 1000000 / (uint64_t)span;
}

double sfu_tcc_send_history_loss(const sfu_tcc_send_history_t *h, int64_t since_send_us, uint32_t *reported)
{
    uint32_t lost = 0, seen = 0;
    if (h->newest_reported >= 0) {
        for (int64_t s = h->newest_reported; s > h->newest_reported - SFU_TCC_HISTORY_SLOTS; s--) {
            const sfu_tcc_sent_t *e = &h->e[s & SLOT_MASK];
            if (e->seq != s || e->send_us <= since_send_us)
                break;                            /* send times only grow with the sequence number */
            if (e->state == SFU_TCC_STATE_UNREPORTED)
                continue;
            seen++;
            lost += e->state == SFU_TCC_STATE_LOST;
        }
    }
    *reported = seen;
    return seen ? (double)lost / seen : 0.0;
}
