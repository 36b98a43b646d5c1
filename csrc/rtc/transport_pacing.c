/* transport_pacing.c - congestion control on a subscriber transport: the
 * pacer (pacer.c) in front of everything its consumers send, and probes
 * (probe_controller.c) sent as padding-only packets on one of its video
 * streams.  Both start with the stream allocator's first wanted bitrate
 * (SFU_CMD_TRANSPORT_SET_WANTED_BITRATE: sent only when congestion
 * control is configured) and need transport-cc feedback; before it, and on
 * transports without them, packets pass straight through.
 *
 * The path of a packet: the consumer rewrites it into a transmit slot,
 * transport_send_rtp asks the pacer; what may go now is stamped with the
 * transport-wide sequence number, encrypted and queued (emit); the rest
 * is copied into the pacer's storage and leaves from the loop's pacing
 * timer (transport_pace, every millisecond while anything waits), where
 * the probe controller is asked for padding too. */
#include <stdlib.h>
#include "util/sfu_common.h"
#include "util/ptr_array.h"
#include "loop/loop_internal.h"

#define PACE_INTERVAL_NS 1000000ull
/* a padding packet on the wire: header, the transport-wide number's block, the padding, the SRTP tag */
#define PADDING_WIRE_BYTES (12 + 8 + SFU_RTP_PADDING_MAX + 10)

struct paced_packet {
    uint32_t len;                  /* plaintext, not yet numbered */
    uint8_t tcc_flags;             /* SFU_TCC_SENT_* */
    sfu_rtp_t rtp;
    uint8_t buf[BUF_SIZE];
};

struct transport_cc {
    sfu_pacer_t pacer;
    sfu_probe_controller_t probe;
    struct paced_packet *slots;    /* SFU_PACER_SLOTS, by pacer handle */
    uint64_t drops_counted[2];     /* pacer drops already added to the loop's */
    uint64_t padding_packets;
};

int transport_set_wanted_bitrate(sfu_loop_t *l, struct transport *t, uint64_t bps)
{
    int64_t now_us = (int64_t)(sfu_now_ns() / 1000);
    if (!t->cc) {
        sfu_send_side_bwe_t *b = transport_bwe(t);
        struct transport_cc *cc = calloc(1, sizeof(*cc));
        if (!b || !cc || !(cc->slots = malloc(sizeof(*cc->slots) * SFU_PACER_SLOTS)) ||
            PUSH(l->paced, l->n_paced, l->cap_paced, t)) {
            if (cc)
                free(cc->slots);
            free(cc);
            return SFU_ENOMEM;
        }
        sfu_pacer_init(&cc->pacer, now_us);
        /* start-up probes at 3x and 6x the estimate before any measurement */
        sfu_probe_controller_init(&cc->probe, b->estimate_bps, b->max_bps, now_us);
        t->cc = cc;
    }
    sfu_probe_controller_set_wanted(&t->cc->probe, bps, now_us);
    return SFU_OK;
}

void transport_pacing_free(sfu_loop_t *l, struct transport *t)
{
    if (!t->cc)
        return;
    REMOVE(l->paced, l->n_paced, t);
    free(t->cc->slots);
    free(t->cc);
    t->cc = NULL;
}

/* number, encrypt and queue for sending the plaintext packet in e->buf;
 * media sent while a probe cluster runs is part of it */
static int emit(sfu_loop_t *l, struct transport *t, struct tx_entry *e, uint32_t len, const sfu_rtp_t *rtp,
                uint8_t tcc_flags, uint64_t now_ns)
{
    int stamped = transport_bwe_stamp(t, e->buf, &len, rtp);
    int outlen = (int)len;
    if ((t->flags & SFU_TF_SRTP) && (!t->send_srtp || sfu_srtp_protect(t->send_srtp, e->buf, &outlen) != 0)) {
        loop_drop(l, SFU_DROP_SRTP_PROTECT);
        return -1;
    }
    if (stamped) {
        int16_t cluster = t->cc ? sfu_probe_controller_active(&t->cc->probe) : -1;
        if (cluster >= 0) {
            tcc_flags |= SFU_TCC_SENT_PROBE;
            sfu_probe_controller_on_sent(&t->cc->probe, cluster, (uint32_t)outlen);
        }
        transport_bwe_sent(t, (uint32_t)outlen, tcc_flags, cluster, now_ns);
    }
    transport_queue(l, t, e, (uint32_t)outlen);
    return outlen;
}

static void count_drops(sfu_loop_t *l, struct transport_cc *cc)
{
    static const int reason[2] = {[SFU_PACER_DROP_FULL] = SFU_DROP_PACER_FULL,
                                  [SFU_PACER_DROP_LATE] = SFU_DROP_PACER_LATE};
    for (int i = 0; i < 2; i++) {
        l->stats.drops[reason[i]] += cc->pacer.drops[i] - cc->drops_counted[i];
        cc->drops_counted[i] = cc->pacer.drops[i];
    }
}

int transport_send_rtp(sfu_loop_t *l, struct transport *t, struct tx_entry *e, uint32_t len, const sfu_rtp_t *rtp,
                       uint8_t pace_class, uint8_t tcc_flags, uint64_t now_ns)
{
    struct transport_cc *cc = t->cc;
    uint16_t h;
    if (SFU_LIKELY(!cc) || sfu_pacer_enqueue(&cc->pacer, pace_class, len, (int64_t)(now_ns / 1000), &h))
        return emit(l, t, e, len, rtp, tcc_flags, now_ns) < 0 ? -1 : 0;
    /* it waits: the transmit slot is left unqueued (sfu_udp_tx_slot allows that) */
    struct paced_packet *q = &cc->slots[h];
    memcpy(q->buf, e->buf, len);
    q->len = len;
    q->tcc_flags = tcc_flags;
    q->rtp = *rtp;
    l->stats.paced++;
    l->pacing_busy = 1;            /* the loop must not sleep on it */
    count_drops(l, cc);
    return 0;
}

/* the video stream padding can follow now: the first at a frame boundary */
static struct consumer *padding_carrier(struct transport *t)
{
    for (uint32_t i = 0; i < t->n_consumers; i++)
        if (consumer_can_pad(t->consumers[i]))
            return t->consumers[i];
    return NULL;
}

/* the pacing rate from the estimate now; 0 (pass through) without transport-cc feedback,
 * where the estimate is a guess.  Returns the estimate, 0 when not measured */
static uint64_t update_rate(struct transport *t, int64_t now_us)
{
    struct transport_cc *cc = t->cc;
    sfu_send_side_bwe_t *b = t->bwe;
    int measured = b && b->feedback_us >= 0 && t->ext_ids.transport_cc && t->has_remote;
    uint64_t est = measured ? sfu_send_side_bwe_estimate(b, now_us) : 0;
    uint64_t rate = est * SFU_PACER_FACTOR_PERCENT / 100;
    if (rate != cc->pacer.rate_bps)
        sfu_pacer_set_rate(&cc->pacer, rate, now_us);
    return est;
}

void transport_pacing_estimate_changed(struct transport *t, uint64_t now_ns)
{
    if (t->cc)     /* at once: the next packet may come before the next pacing tick */
        update_rate(t, (int64_t)(now_ns / 1000));
}

static void pace_transport(sfu_loop_t *l, struct transport *t, uint64_t now_ns)
{
    struct transport_cc *cc = t->cc;
    sfu_send_side_bwe_t *b = t->bwe;
    int64_t now_us = (int64_t)(now_ns / 1000);
    uint64_t est = update_rate(t, now_us);
    int measured = est > 0;
    uint16_t h;
    while (sfu_pacer_next(&cc->pacer, now_us, &h)) {
        struct paced_packet *q = &cc->slots[h];
        struct tx_entry *e = sfu_udp_tx_slot(&l->tx);
        memcpy(e->buf, q->buf, q->len);
        emit(l, t, e, q->len, &q->rtp, q->tcc_flags, now_ns);
    }
    count_drops(l, cc);
    if (!measured)
        return;
    struct consumer *carrier = padding_carrier(t);
    int16_t cluster;
    uint32_t n = sfu_probe_controller_padding_packets(&cc->probe, est, b->delay.usage, carrier != NULL,
                                                      sfu_pacer_queued(&cc->pacer) > 0, PADDING_WIRE_BYTES,
                                                      now_us, &cluster);
    for (uint32_t i = 0; i < n; i++) {
        struct tx_entry *e = sfu_udp_tx_slot(&l->tx);
        uint32_t len = consumer_build_padding(carrier, e->buf, SFU_RTP_PADDING_MAX);
        sfu_rtp_t rtp;
        if (!len || sfu_rtp_parse(e->buf, len, &rtp) != SFU_DROP_NONE ||
            emit(l, t, e, len, &rtp, SFU_TCC_SENT_PADDING, now_ns) < 0)
            break;
        cc->padding_packets++;
        l->stats.padding_sent++;
    }
    if (cluster >= 0 || sfu_pacer_queued(&cc->pacer))
        l->pacing_busy = 1;
}

void transport_pace(sfu_loop_t *l, uint64_t now_ns)
{
    if (!l->n_paced || now_ns < l->next_pace_ns)
        return;
    l->next_pace_ns = now_ns + PACE_INTERVAL_NS;
    l->pacing_busy = 0;
    for (uint32_t i = 0; i < l->n_paced; i++)
        pace_transport(l, l->paced[i], now_ns);
}

void transport_pacing_on_feedback(struct transport *t, const sfu_tcc_packet_result_t *results, uint32_t n,
                                  uint64_t now_ns)
{
    int64_t now_us = (int64_t)(now_ns / 1000);
    sfu_send_side_bwe_t *b = t->bwe;
    uint64_t r = sfu_probe_controller_on_feedback(&t->cc->probe, results, n, sfu_send_side_bwe_estimate(b, now_us),
                                                  now_us);
    if (r)       /* taken when above the estimate, within its bounds (sfu_bwe_delay_on_probe) */
        sfu_send_side_bwe_on_probe(b, r, now_us);
    if (t->cc->probe.saturated_bps)     /* the link's rate when a cluster filled it: a ceiling */
        sfu_send_side_bwe_on_probe_ceiling(b, t->cc->probe.saturated_bps, now_us);
}

int transport_pacing_starting(const struct transport *t, int64_t now_us)
{
    return t->cc && sfu_probe_controller_starting(&t->cc->probe, now_us);
}

int transport_pacing_probing(const struct transport *t)
{
    return t->cc && sfu_probe_controller_probing(&t->cc->probe);
}

void transport_pacing_stats(const struct transport *t, int64_t now_us, sfu_bwe_stats_t *out)
{
    const struct transport_cc *cc = t->cc;
    if (!cc)
        return;
    out->probe_clusters = cc->probe.clusters;
    out->probe_results = cc->probe.results;
    out->probe_bps = cc->probe.last_result_bps;
    out->padding_packets = cc->padding_packets;
    out->pacing_bps = cc->pacer.rate_bps;
    out->pacer_queued = sfu_pacer_queued(&cc->pacer);
    out->pacer_delay_us = (uint64_t)sfu_pacer_delay_us(&cc->pacer, now_us);
    out->pacer_drops[0] = cc->pacer.drops[0];
    out->pacer_drops[1] = cc->pacer.drops[1];
}
