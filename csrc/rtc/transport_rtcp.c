/* transport_rtcp.c - RTCP on a transport: what arrives (NACKs answered from
 * the retransmission buffer, sender reports noted for the receiver reports,
 * PLI/FIR passed to the publisher, transport-cc feedback and REMB to the
 * send-side estimate) and what the loop's timers send
 * (SR to subscribers and RR to publishers once a second, transport-cc
 * feedback every 100 ms). */
#include <time.h>
#include "util/sfu_common.h"
#include "loop/loop_internal.h"

#define RTCP_SR 200
#define RTCP_RR 201
#define RTCP_RTPFB 205
#define RTCP_PSFB 206
#define FMT_NACK 1
#define FMT_TCC 15
#define FMT_PLI 1
#define FMT_FIR 4
#define FMT_AFB 15                 /* application layer feedback: REMB */
#define NACK_SEQS_MAX 256          /* sequence numbers one NACK packet may ask for */
#define TCC_FEEDBACK_MAX 4         /* feedback packets per transport per timer tick */

/* queue an RTCP packet built in e->buf for transport t (SRTCP when secure) */
void transport_send_rtcp(sfu_loop_t *l, struct transport *t, struct tx_entry *e, uint32_t len)
{
    int n = (int)len;
    if (t->flags & SFU_TF_SRTP) {
        if (!t->send_srtp) {           /* DTLS not finished yet */
            loop_drop(l, SFU_DROP_NO_SRTP);
            return;
        }
        if (sfu_srtp_protect_rtcp(t->send_srtp, e->buf, &n) != 0) {
            loop_drop(l, SFU_DROP_SRTP_PROTECT);
            return;
        }
    }
    transport_queue(l, t, e, (uint32_t)n);
    l->stats.rtcp_sent++;
}

/* a subscriber's report blocks name the streams it knows: padding may follow on them */
static void on_report_blocks(sfu_loop_t *l, struct transport *t, const uint8_t *buf, const sfu_rtcp_t *pkt)
{
    uint32_t ssrcs[31];                    /* RC is 5 bits */
    int n = sfu_rtcp_report_ssrcs(buf, pkt, ssrcs, 31);
    if (n < 0)
        loop_drop(l, SFU_DROP_BAD_RTCP);
    for (int i = 0; i < n; i++) {
        struct consumer *c = transport_consumer(t, ssrcs[i]);
        if (c)
            c->receiver_reported = 1;
    }
}

void transport_on_rtcp(sfu_loop_t *l, struct transport *t, uint8_t *buf, uint32_t len)
{
    int n = (int)len;
    if (t->flags & SFU_TF_SRTP) {
        if (!t->recv_srtp) {
            loop_drop(l, SFU_DROP_NO_SRTP);
            return;
        }
        if (sfu_srtp_unprotect_rtcp(t->recv_srtp, buf, &n) != 0) {
            loop_drop(l, SFU_DROP_SRTP_UNPROTECT);
            return;
        }
    }
    int rc = sfu_rtcp_validate(buf, (size_t)n);
    if (rc) {
        loop_drop(l, rc);
        return;
    }
    size_t off = 0;
    sfu_rtcp_t pkt;
    uint64_t now = sfu_now_ns();
    while (sfu_rtcp_next(buf, (size_t)n, &off, &pkt) == 1) {
        if (pkt.pt == RTCP_RTPFB && pkt.count == FMT_NACK) {   /* generic NACK from a subscriber */
            struct consumer *c = transport_consumer(t, pkt.media_ssrc);
            uint16_t seqs[NACK_SEQS_MAX];
            int k = c ? sfu_rtcp_nack_seqs(buf, &pkt, seqs, NACK_SEQS_MAX) : 0;
            for (int i = 0; i < k; i++)
                consumer_resend(l, c, seqs[i], now);
            continue;
        }
        if (pkt.pt == RTCP_RTPFB && pkt.count == FMT_TCC) {    /* transport-cc feedback from a subscriber */
            transport_bwe_on_feedback(t, buf + pkt.offset, pkt.len, now);
            continue;
        }
        if (pkt.pt == RTCP_PSFB && pkt.count == FMT_AFB) {
            transport_bwe_on_remb(t, buf, &pkt, now);
            continue;
        }
        if ((pkt.pt == RTCP_SR || pkt.pt == RTCP_RR) && pkt.count)
            on_report_blocks(l, t, buf, &pkt);
        if (pkt.pt == RTCP_SR && pkt.len >= SFU_RTCP_SR_LEN) {   /* from a publisher: for RR's LSR/DLSR */
            struct producer *p = transport_producer(t, pkt.sender_ssrc);
            if (p)
                sfu_rtp_stream_recv_on_sr(&p->recv, sfu_rd32(buf + pkt.offset + 8),
                                          sfu_rd32(buf + pkt.offset + 12), now);
            continue;
        }
        int is_pli = pkt.pt == RTCP_PSFB && pkt.count == FMT_PLI;
        int is_fir = pkt.pt == RTCP_PSFB && pkt.count == FMT_FIR;
        if (is_pli || is_fir) {
            if (is_pli)
                l->stats.plis_received++;
            else
                l->stats.firs_received++;
            uint32_t target = pkt.media_ssrc;
            if (is_fir && pkt.len >= 20)          /* FIR: SSRC is in the FCI */
                target = sfu_rd32(buf + pkt.offset + 12);
            struct consumer *c = transport_consumer(t, target);
            if (!c || !c->p)
                continue;
            /* a paused consumer decodes nothing from us, and one switching layers has
             * asked for the new layer's key frame already: neither is passed on */
            if (c->paused || c->target || !sfu_subscriber_pli_allow(&c->pli, now)) {
                l->stats.plis_throttled++;
                continue;
            }
            producer_keyframe_needed(l, c->p);
        }
    }
}

static uint32_t clock_of(const struct producer *p)
{
    return (p && p->kind == SFU_KIND_AUDIO) ? 48000 : 90000;
}

/* once a second: a receiver report per local producer to its publisher and a
 * sender report per consumer to its subscriber (RTCP transports only) */
void transport_rtcp_send_reports(sfu_loop_t *l, uint64_t now)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t ntp = sfu_ntp_from_unix_ns((uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec);
    for (uint32_t i = 0; i < l->transports.cap; i++) {
        if (!sfu_idmap_live(&l->transports, i))
            continue;
        struct transport *t = l->transports.vals[i];
        if (!(t->flags & SFU_TF_RTCP) || !t->has_remote || ((t->flags & SFU_TF_SRTP) && !t->send_srtp))
            continue;
        for (uint32_t j = 0; j < t->n_producers; j++) {
            struct producer *p = t->producers[j];
            uint8_t block[SFU_REPORT_BLOCK_LEN];
            if (sfu_rtp_stream_recv_report_block(&p->recv, p->ssrc, now, block) != SFU_REPORT_BLOCK_LEN)
                continue;
            struct tx_entry *e = sfu_udp_tx_slot(&l->tx);
            transport_send_rtcp(l, t, e, sfu_rtcp_build_rr(e->buf, SFU_SSRC, block));
        }
        for (uint32_t j = 0; j < t->n_consumers; j++) {
            struct consumer *c = t->consumers[j];
            if (!c->stats.packets || c->paused || (uint32_t)c->stats.packets == c->sr_packets)
                continue;
            c->sr_packets = (uint32_t)c->stats.packets;
            uint32_t rtp_ts = sfu_seq_manager_ts_at(&c->seq, clock_of(c->p), now);
            struct tx_entry *e = sfu_udp_tx_slot(&l->tx);
            transport_send_rtcp(l, t, e, sfu_rtcp_build_sr(e->buf, c->ssrc, ntp, rtp_ts,
                                                           (uint32_t)c->stats.packets, (uint32_t)c->stats.bytes));
        }
    }
}

/* every 100 ms: transport-cc feedback to publishers that use it */
void transport_rtcp_send_tcc_feedback(sfu_loop_t *l)
{
    for (uint32_t i = 0; i < l->transports.cap; i++) {
        if (!sfu_idmap_live(&l->transports, i))
            continue;
        struct transport *t = l->transports.vals[i];
        if (!t->tcc || !t->tcc->pending || !t->has_remote)
            continue;
        uint32_t media = t->n_producers ? t->producers[0]->ssrc : 0;
        for (int k = 0; k < TCC_FEEDBACK_MAX && t->tcc->pending; k++) {
            struct tx_entry *e = sfu_udp_tx_slot(&l->tx);
            uint32_t len = sfu_tcc_server_build(t->tcc, SFU_SSRC, media, e->buf, SFU_MTU - SFU_SRTP_TRAILER_MAX);
            if (!len)
                break;
            transport_send_rtcp(l, t, e, len);
        }
    }
}
