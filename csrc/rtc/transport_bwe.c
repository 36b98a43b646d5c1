/* transport_bwe.c - send-side bandwidth estimation on a subscriber
 * transport (sfu_bwe.h): every packet sent to it carries a transport-wide
 * sequence number (the transport's id for the transport-cc extension) and
 * is entered in the send history; the subscriber's transport-cc feedback
 * and REMB feed the estimator (and, with congestion control on, the probe
 * controller: transport_pacing.c); the loop's 100 ms timer refreshes the
 * stats snapshot Python reads and queues a transport_bwe record when the
 * estimate moved enough (sfu_send_side_bwe_report_due). */
#include <stdlib.h>
#include "util/sfu_common.h"
#include "loop/loop_internal.h"

#define BWE_START_BPS 1000000      /* before any feedback: about a mid simulcast layer and audio */
#define BWE_MIN_BPS 50000
#define BWE_MAX_BPS 50000000

/* what a feedback reported, for the probe controller (one loop per thread) */
static __thread sfu_tcc_packet_result_t fb_results[SFU_TCC_HISTORY_SLOTS];

sfu_send_side_bwe_t *transport_bwe(struct transport *t)
{
    if (!t->bwe) {
        t->bwe = malloc(sizeof(*t->bwe));
        if (t->bwe)
            sfu_send_side_bwe_init(t->bwe, BWE_START_BPS, BWE_MIN_BPS, BWE_MAX_BPS);
    }
    return t->bwe;
}

/* write the next transport-wide sequence number into pkt (before SRTP);
 * 1 when it did (then transport_bwe_sent follows once the packet is queued) */
int transport_bwe_stamp(struct transport *t, uint8_t *pkt, uint32_t *len, const sfu_rtp_t *rtp)
{
    if (!t->ext_ids.transport_cc || !(t->flags & SFU_TF_RTCP))
        return 0;
    sfu_send_side_bwe_t *b = transport_bwe(t);
    if (!b)
        return 0;
    uint16_t seq = sfu_tcc_send_history_next_seq(&b->history);
    uint32_t n = sfu_tcc_seq_stamp(pkt, *len, SFU_MTU, rtp, t->ext_ids.transport_cc, seq);
    if (!n) {
        t->bwe_unstamped++;
        return 0;
    }
    *len = n;
    return 1;
}

void transport_bwe_sent(struct transport *t, uint32_t wire_len, uint8_t flags, int16_t cluster, uint64_t now_ns)
{
    sfu_send_side_bwe_on_sent(t->bwe, wire_len, flags, cluster, (int64_t)(now_ns / 1000));
}

void transport_bwe_on_feedback(struct transport *t, const uint8_t *pkt, uint32_t len, uint64_t now_ns)
{
    if (!t->bwe)  /* feedback about packets we never numbered has nothing to match */
        return;
    int64_t now_us = (int64_t)(now_ns / 1000);
    if (!t->cc) {
        sfu_send_side_bwe_on_feedback(t->bwe, pkt, len, now_us, NULL, 0, NULL);
        return;
    }
    uint32_t n = 0;
    if (sfu_send_side_bwe_on_feedback(t->bwe, pkt, len, now_us, fb_results, SFU_TCC_HISTORY_SLOTS, &n) ==
            SFU_TCC_FB_OK && n)
        transport_pacing_on_feedback(t, fb_results, n, now_ns);
    transport_pacing_estimate_changed(t, now_ns);
}

void transport_bwe_on_remb(struct transport *t, const uint8_t *buf, const sfu_rtcp_t *pkt, uint64_t now_ns)
{
    uint64_t bps = 0;
    int r = sfu_rtcp_remb_bps(buf, pkt, &bps);
    if (r == 0 || !t->n_consumers)
        return;
    sfu_send_side_bwe_t *b = transport_bwe(t);
    if (!b)
        return;
    if (r < 0)
        b->remb_rejected++;
    else
        sfu_send_side_bwe_on_remb(b, bps, (int64_t)(now_ns / 1000));
    transport_pacing_estimate_changed(t, now_ns);
}

void transport_bwe_report(sfu_loop_t *l, uint64_t now_ns)
{
    int64_t now_us = (int64_t)(now_ns / 1000);
    for (uint32_t i = 0; i < l->transports.cap; i++) {
        if (!sfu_idmap_live(&l->transports, i))
            continue;
        struct transport *t = l->transports.vals[i];
        if (!t->bwe)
            continue;
        sfu_bwe_stats_t s;
        sfu_send_side_bwe_stats(t->bwe, now_us, &s);
        transport_pacing_stats(t, now_us, &s);
        pthread_mutex_lock(&l->mu);
        t->bwe_snapshot = s;
        pthread_mutex_unlock(&l->mu);
        /* the first report waits for the start-up probes: an allocator acting on the start rate
         * would move a subscriber that can take everything down first */
        if (transport_pacing_starting(t, now_us))
            continue;
        if (sfu_send_side_bwe_report_due(t->bwe, transport_pacing_probing(t), now_us))
            sfu_control_queue_push(&l->pyq, SFU_REC_TRANSPORT_BWE, t->sock->id, t->id, 0, 0, NULL,
                                   (const uint8_t *)&s, sizeof(s));
    }
}

int sfu_loop_transport_bwe_stats(sfu_loop_t *l, uint32_t id, sfu_bwe_stats_t *out, uint64_t *unstamped)
{
    pthread_mutex_lock(&l->mu);
    struct transport *t = sfu_idmap_get(&l->transports, id);
    if (t) {
        *out = t->bwe_snapshot;
        *unstamped = t->bwe_unstamped;
    }
    pthread_mutex_unlock(&l->mu);
    return t ? SFU_OK : SFU_ENOENT;
}
