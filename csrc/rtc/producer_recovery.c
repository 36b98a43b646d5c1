/* producer_recovery.c - loss recovery toward publishers: a local video
 * producer's NACK generator (sfu_units.h) fed by its packets, its NACKs
 * sent on the loop's timer, its publisher's RTX stream (RFC 4588)
 * unwrapped into the stream, and a key frame request when a packet is
 * given up. */
#include <stdlib.h>
#include "util/sfu_common.h"
#include "loop/loop_internal.h"

int producer_recovery_init(struct producer *p)
{
    p->nack = malloc(sizeof(*p->nack));
    if (!p->nack)
        return SFU_ENOMEM;
    sfu_nack_generator_init(p->nack);
    return SFU_OK;
}

void producer_recovery_free(struct producer *p)
{
    free(p->nack);
    p->nack = NULL;
}

int producer_set_rtx(struct producer *p, uint32_t rtx_ssrc, uint8_t rtx_payload_type)
{
    if (!rtx_ssrc || rtx_ssrc == p->ssrc)
        return SFU_EINVAL;
    struct producer *other = transport_producer(p->t, rtx_ssrc);
    if (!other)
        other = transport_rtx_producer(p->t, rtx_ssrc);
    if (other && other != p)
        return SFU_EEXIST;
    p->rtx_ssrc = rtx_ssrc;
    p->rtx_payload_type = rtx_payload_type;
    return SFU_OK;
}

/* the generator's counters moved from (recovered, lost): into the loop's
 * stats, and a given-up packet broke a frame: ask for a key frame */
static void account(sfu_loop_t *l, struct producer *p, uint64_t recovered, uint64_t lost)
{
    l->stats.nack_recovered += p->nack->recovered - recovered;
    if (p->nack->lost == lost)
        return;
    l->stats.nack_lost += p->nack->lost - lost;
    producer_keyframe_needed(l, p);   /* throttled */
}

void producer_recovery_on_media(sfu_loop_t *l, struct producer *p, uint16_t seq, uint64_t now)
{
    sfu_nack_generator_t *g = p->nack;
    uint64_t recovered = g->recovered, lost = g->lost;
    sfu_nack_generator_on_packet(g, seq, 0, now);
    account(l, p, recovered, lost);
    if (g->n)
        l->nack_waiting = 1;
}

/* an RTX packet of p's publisher: forwarded as the packet it repairs when
 * that one is missing; padding and duplicates (the publisher's probes) are
 * dropped */
void producer_on_rtx(sfu_loop_t *l, struct producer *p, uint8_t *pkt, uint32_t len, const sfu_rtp_t *rtp)
{
    if (rtp->payload_type != p->rtx_payload_type) {
        loop_drop(l, SFU_DROP_BAD_RTX);
        return;
    }
    sfu_rtp_t orig;
    int rc = sfu_rtx_unwrap(pkt, &len, rtp, p->ssrc, p->payload_type, &orig);
    if (rc != SFU_DROP_NONE) {
        loop_drop(l, rc);
        return;
    }
    uint64_t now = sfu_now_ns();
    uint64_t recovered = p->nack ? p->nack->recovered : 0, lost = p->nack ? p->nack->lost : 0;
    if (!p->nack || sfu_nack_generator_on_packet(p->nack, orig.seq, 1, now) != SFU_NACK_FILLED) {
        loop_drop(l, SFU_DROP_RTX_DUPLICATE);
        return;
    }
    account(l, p, recovered, lost);
    l->stats.rtx_received++;
    producer_forward(l, p, pkt, len, &orig, now);
}

/* the loop's NACK timer: each local video producer's due sequence numbers
 * to its publisher, in as many NACK packets as they need */
static void producer_send_nacks(sfu_loop_t *l, struct transport *t, struct producer *p, uint64_t now,
                                uint64_t rtt_ns)
{
    uint16_t seqs[SFU_NACK_LIST_MAX];
    uint64_t recovered = p->nack->recovered, lost = p->nack->lost;
    uint32_t n = sfu_nack_generator_due(p->nack, now, rtt_ns, seqs, SFU_NACK_LIST_MAX);
    account(l, p, recovered, lost);
    for (uint32_t off = 0; off < n;) {
        uint32_t used;
        struct tx_entry *e = sfu_udp_tx_slot(&l->tx);
        uint32_t len = sfu_rtcp_build_nack(e->buf, SFU_MTU - SFU_SRTP_TRAILER_MAX, SFU_SSRC, p->ssrc, seqs + off,
                                           n - off, &used);
        if (!len)
            break;
        transport_send_rtcp(l, t, e, len);
        l->stats.nacks_sent += used;
        off += used;
    }
}

void producers_send_nacks(sfu_loop_t *l, uint64_t now)
{
    int waiting = 0;
    for (uint32_t i = 0; i < l->transports.cap; i++) {
        if (!sfu_idmap_live(&l->transports, i))
            continue;
        struct transport *t = l->transports.vals[i];
        if (!t->has_remote || ((t->flags & SFU_TF_SRTP) && !t->send_srtp))
            continue;
        /* the round trip the transport's send side measured (one PeerConnection
         * both ways), else the generator's default */
        uint64_t rtt_ns = t->bwe && t->bwe_snapshot.rtt_us > 0 ? (uint64_t)t->bwe_snapshot.rtt_us * 1000 : 0;
        for (uint32_t j = 0; j < t->n_producers; j++) {
            struct producer *p = t->producers[j];
            if (!p->nack || !p->nack->n)
                continue;
            producer_send_nacks(l, t, p, now, rtt_ns);
            waiting |= p->nack->n != 0;
        }
    }
    l->nack_waiting = waiting;
}
