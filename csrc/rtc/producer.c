/* producer.c - producers: the fan-out of their packets (to local consumers,
 * batched consumer by consumer, and once onto the ring of every other
 * worker with consumers), key frame requests to their publisher (local:
 * a PLI; remote: over the ring to the owning worker), their activity, and
 * their lifecycle.  Loss recovery toward the publisher (NACKs, its RTX) is
 * producer_recovery.c. */
#include <stdlib.h>
#include "util/sfu_common.h"
#include "util/ptr_array.h"
#include "loop/loop_internal.h"

#define CACHE_SLOTS_VIDEO 512
#define CACHE_SLOTS_AUDIO 128

static inline void producer_note_keyframe(struct producer *p, const uint8_t *pkt, const sfu_rtp_t *rtp);

/* ------------------------------------------------------------------ */
/* fan-out */

/* Fan out the batch: for each producer (in order of its first packet), each
 * consumer takes all of that producer's packets of the batch in turn, so a
 * consumer's datagrams sit together in the transmit queue (GSO). */
void fanout_flush(void *loop)
{
    sfu_loop_t *l = loop;
    sfu_fanout_t *f = &l->fanout;
    uint32_t n = f->n;
    f->n = 0;
    for (uint32_t a = 0; a < n; a++) {
        struct producer *p = f->pend[a].p;
        if (!p)
            continue;                  /* already done with its producer's group */
        for (uint32_t i = 0; i < p->n_consumers; i++) {
            struct consumer *c = p->consumers[i];
            for (uint32_t b = a; b < n; b++)
                if (f->pend[b].p == p)
                    consumer_on_packet(l, c, p, f->pend[b].pkt, f->pend[b].len, &f->pend[b].rtp);
            if (i < p->n_consumers && p->consumers[i] != c)
                i--;                   /* c switched away from p: the list moved down */
        }
        for (uint32_t b = a + 1; b < n; b++)
            if (f->pend[b].p == p)
                f->pend[b].p = NULL;
    }
}

static inline void fanout_add(sfu_loop_t *l, struct producer *p, const uint8_t *pkt, uint32_t len,
                              const sfu_rtp_t *rtp)
{
    sfu_fanout_t *f = &l->fanout;
    if (f->n == PENDING_MAX)
        fanout_flush(l);
    struct pending *e = &f->pend[f->n++];
    e->p = p;
    e->pkt = pkt;
    e->len = len;
    e->rtp = *rtp;
}

void producer_on_rtp(sfu_loop_t *l, struct producer *p, const uint8_t *pkt, uint32_t len, const sfu_rtp_t *rtp)
{
    p->stats.packets++;
    p->stats.bytes += len;
    p->stats.last_seq = rtp->seq;
    p->stats.last_ts = rtp->ts;
    uint64_t now = sfu_now_ns();
    sfu_rtp_stream_recv_update(&p->recv, rtp->seq, rtp->ts, now);
    if (SFU_UNLIKELY(sfu_producer_activity_on_packet(&p->activity, now)))
        sfu_control_queue_push(&l->pyq, SFU_REC_PRODUCER_ACTIVE, p->t->sock->id, p->t->id, 0, p->id, NULL,
                               NULL, 0);
    if (p->nack)
        producer_recovery_on_media(l, p, rtp->seq, now);
    producer_forward(l, p, pkt, len, rtp, now);
}

/* a packet of p, in its cache now (or p keeps none), to the other workers and its consumers;
 * pkt must stay valid until the fan-out is flushed (a receive buffer or a cache slot) */
static void forward_cached(sfu_loop_t *l, struct producer *p, const uint8_t *pkt, uint32_t len, const sfu_rtp_t *rtp,
                           uint64_t now)
{
    if (p->remote_workers)
        sfu_pipe_rings_put_rtp(&l->rings, p->remote_workers, p->id, now, pkt, len);
    if (p->n_consumers)
        fanout_add(l, p, pkt, len, rtp);
}

void producer_on_red(sfu_loop_t *l, struct producer *p, uint8_t *pkt, uint32_t len, const sfu_rtp_t *rtp)
{
    static __thread uint8_t blocks[SFU_RED_MAX_BLOCKS][SFU_RED_MAX_BLOCK_LEN];
    uint16_t lens[SFU_RED_MAX_BLOCKS], seqs[SFU_RED_MAX_BLOCKS];
    uint32_t ts[SFU_RED_MAX_BLOCKS], n = 0;
    sfu_rtp_t primary;
    int rc = sfu_red_unwrap(pkt, &len, rtp, p->payload_type, &primary, blocks, lens, seqs, ts,
                            SFU_RED_MAX_BLOCKS, &n);
    if (rc != SFU_DROP_NONE) {
        loop_drop(l, rc);
        return;
    }
    uint64_t now = sfu_now_ns();
    for (uint32_t i = 0; i < n && p->cache.data; i++) {
        uint32_t had;
        /* missing: newer than the newest that arrived before this packet (so not from before
         * the stream started here) and not rebuilt from an earlier RED packet already */
        uint16_t ahead = (uint16_t)(seqs[i] - p->recv.max_seq);
        if (!lens[i] || !p->recv.initialized || ahead == 0 || ahead >= 0x8000 ||
            sfu_packet_cache_get(&p->cache, seqs[i], &had))
            continue;
        if ((uint32_t)primary.header_len + lens[i] > SFU_MTU)
            continue;
        /* the primary's header with the block's sequence number and timestamp */
        uint8_t rebuilt[SFU_MTU];
        memcpy(rebuilt, pkt, primary.header_len);
        rebuilt[1] &= 0x7f;
        sfu_wr16(rebuilt + 2, seqs[i]);
        sfu_wr32(rebuilt + 4, ts[i]);
        memcpy(rebuilt + primary.header_len, blocks[i], lens[i]);
        uint32_t rlen = (uint32_t)primary.header_len + lens[i];
        sfu_packet_cache_put(&p->cache, seqs[i], rebuilt, rlen);
        const uint8_t *cached = sfu_packet_cache_get(&p->cache, seqs[i], &had);
        sfu_rtp_t r;
        if (!cached || sfu_rtp_parse(cached, had, &r) != SFU_DROP_NONE)
            continue;
        l->stats.red_recovered++;
        forward_cached(l, p, cached, had, &r, now);
    }
    producer_on_rtp(l, p, pkt, len, &primary);
}

int producer_set_red(struct producer *p, uint8_t red_payload_type)
{
    if (red_payload_type && p->kind != SFU_KIND_AUDIO)
        return SFU_EINVAL;
    if (red_payload_type && producer_want_cache(p) != SFU_OK)
        return SFU_ENOMEM;          /* what arrived is how a block is known to be missing */
    p->red_payload_type = red_payload_type & 0x7f;
    return SFU_OK;
}

/* a packet of local producer p (received or repaired) to its cache, the
 * other workers and its consumers */
void producer_forward(sfu_loop_t *l, struct producer *p, const uint8_t *pkt, uint32_t len, const sfu_rtp_t *rtp,
                      uint64_t now)
{
    sfu_rtp_t r = *rtp;
    producer_read_layers(l, p, pkt, &r);
    producer_note_keyframe(p, pkt, &r);
    if (p->cache.data)
        sfu_packet_cache_put(&p->cache, r.seq, pkt, len);
    forward_cached(l, p, pkt, len, &r, now);
}

/* a message from another worker's ring about producer m->producer_id */
void producer_on_ring_message(void *loop, const sfu_ring_msg_t *m, const uint8_t *data)
{
    sfu_loop_t *l = loop;
    struct producer *p = sfu_idmap_get(&l->producers, m->producer_id);
    if (!p) {
        loop_drop(l, SFU_DROP_RING_UNKNOWN_PRODUCER);
    } else if (m->kind == SFU_RING_RTP) {
        sfu_rtp_t rtp;
        int rc = sfu_rtp_parse(data, m->len, &rtp);
        if (rc) {
            loop_drop(l, rc);
            return;
        }
        producer_read_layers(l, p, data, &rtp);
        producer_note_keyframe(p, data, &rtp);
        if (p->cache.data)
            sfu_packet_cache_put(&p->cache, rtp.seq, data, m->len);
        if (p->n_consumers)
            fanout_add(l, p, data, m->len, &rtp);   /* the slot stays valid until fanout_flush */
    } else if (m->kind == SFU_RING_RTCP_TO_PRODUCER && p->t) {
        producer_keyframe_needed(l, p);
    }
}

/* ------------------------------------------------------------------ */
/* key frames */

/* ask p's publisher for a key frame now: a PLI when p lives on this worker,
 * else a request over the ring to the worker where it does */
static void producer_send_keyframe_request(sfu_loop_t *l, struct producer *p, uint64_t now)
{
    if (p->t) {
        struct tx_entry *e = sfu_udp_tx_slot(&l->tx);
        transport_send_rtcp(l, p->t, e, sfu_rtcp_build_pli(e->buf, SFU_SSRC, p->ssrc));
        l->stats.plis_sent++;
    } else {
        sfu_pipe_rings_put_keyframe_request(&l->rings, p->worker, p->id, now);
    }
}

static int producer_can_request(sfu_loop_t *l, const struct producer *p)
{
    return p->t ? p->t->has_remote : sfu_pipe_rings_out(&l->rings, p->worker) != NULL;
}

/* a consumer of p needs a key frame: ask p's publisher, at most once per
 * interval (a request inside it is held, see producers_send_held_requests) */
void producer_keyframe_needed(sfu_loop_t *l, struct producer *p)
{
    if (!producer_can_request(l, p))
        return;
    uint64_t now = sfu_now_ns();
    if (sfu_keyframe_request_allow(&p->keyframe_request, now))
        producer_send_keyframe_request(l, p, now);
    else
        l->keyframe_held = 1;
}

/* loop timer: the held key frame requests whose interval has ended */
void producers_send_held_requests(sfu_loop_t *l, uint64_t now)
{
    if (!l->keyframe_held)
        return;
    int still = 0;
    for (uint32_t i = 0; i < l->producers.cap; i++) {
        if (!sfu_idmap_live(&l->producers, i))
            continue;
        struct producer *p = l->producers.vals[i];
        if (!p->keyframe_request.held)
            continue;
        if (!producer_can_request(l, p))
            p->keyframe_request.held = 0;     /* nobody to ask: forget it */
        else if (sfu_keyframe_request_due(&p->keyframe_request, now))
            producer_send_keyframe_request(l, p, now);
        else
            still = 1;
    }
    l->keyframe_held = still;
}

/* a packet of video producer p: a key frame answers a held request */
static inline void producer_note_keyframe(struct producer *p, const uint8_t *pkt, const sfu_rtp_t *rtp)
{
    if (SFU_UNLIKELY(p->keyframe_request.held) && sfu_rtp_is_keyframe(pkt, rtp, p->codec) == 1)
        sfu_keyframe_request_answered(&p->keyframe_request);
}

/* ------------------------------------------------------------------ */
/* activity (loop timer) */

void producers_check_activity(sfu_loop_t *l, uint64_t now)
{
    for (uint32_t i = 0; i < l->transports.cap; i++) {
        if (!sfu_idmap_live(&l->transports, i))
            continue;
        struct transport *t = l->transports.vals[i];
        for (uint32_t j = 0; j < t->n_producers; j++) {
            struct producer *p = t->producers[j];
            if (sfu_producer_activity_check(&p->activity, now))
                sfu_control_queue_push(&l->pyq, SFU_REC_PRODUCER_INACTIVE, t->sock->id, t->id, 0, p->id, NULL,
                                       NULL, 0);
        }
    }
}

/* ------------------------------------------------------------------ */
/* lifecycle (commands) */

/* a producer whose consumers may NACK keeps a packet cache */
int producer_want_cache(struct producer *p)
{
    if (p->cache.data)
        return SFU_OK;
    return sfu_packet_cache_init(&p->cache, p->kind == SFU_KIND_AUDIO ? CACHE_SLOTS_AUDIO : CACHE_SLOTS_VIDEO);
}

static uint64_t other_workers(const sfu_loop_t *l, uint64_t workers)
{
    return workers & ~(1ull << l->cfg.worker_id);
}

int producer_create(sfu_loop_t *l, struct transport *t, const sfu_cmd_t *c)
{
    if (sfu_idmap_get(&l->producers, c->id) || transport_producer(t, c->ssrc))
        return SFU_EEXIST;
    struct producer *p = calloc(1, sizeof(*p));
    if (!p)
        return SFU_ENOMEM;
    p->id = c->id;
    p->t = t;
    p->worker = l->cfg.worker_id;
    p->ssrc = c->ssrc;
    p->payload_type = c->payload_type;
    p->kind = c->kind;
    p->codec = c->codec;
    p->dd_ext_id = c->dd_ext_id <= 14 ? c->dd_ext_id : 0;
    p->remote_workers = other_workers(l, c->remote_workers);
    sfu_rtp_stream_recv_init(&p->recv, p->kind == SFU_KIND_AUDIO ? 48000 : 90000);
    sfu_producer_activity_init(&p->activity, sfu_now_ns());
    int rc = c->rtx_ssrc ? producer_set_rtx(p, c->rtx_ssrc, c->rtx_payload_type) : SFU_OK;
    if (rc == SFU_OK && c->red_payload_type)
        rc = producer_set_red(p, c->red_payload_type);
    if (rc == SFU_OK && p->kind == SFU_KIND_VIDEO && (t->flags & SFU_TF_RTCP))
        rc = producer_recovery_init(p);
    if (rc == SFU_OK && (sfu_idmap_put(&l->producers, p->id, p) ||
                         PUSH(t->producers, t->n_producers, t->cap_producers, p)))
        rc = SFU_ENOMEM;
    if (rc != SFU_OK) {
        sfu_idmap_del(&l->producers, p->id);
        producer_recovery_free(p);
        free(p);
        return rc;
    }
    return SFU_OK;
}

int remote_producer_create(sfu_loop_t *l, const sfu_cmd_t *c)
{
    if (c->worker >= l->cfg.n_workers || c->worker == l->cfg.worker_id)
        return SFU_EINVAL;
    if (sfu_idmap_get(&l->producers, c->id))
        return SFU_EEXIST;
    struct producer *p = calloc(1, sizeof(*p));
    if (!p)
        return SFU_ENOMEM;
    p->id = c->id;
    p->worker = c->worker;
    p->ssrc = c->ssrc;
    p->kind = c->kind;
    p->codec = c->codec;
    p->dd_ext_id = c->dd_ext_id <= 14 ? c->dd_ext_id : 0;
    if (sfu_idmap_put(&l->producers, p->id, p)) {
        free(p);
        return SFU_ENOMEM;
    }
    return SFU_OK;
}

void producer_set_remote_workers(sfu_loop_t *l, struct producer *p, uint64_t workers)
{
    uint64_t all = l->cfg.n_workers >= 64 ? ~0ull : ((1ull << l->cfg.n_workers) - 1);
    p->remote_workers = other_workers(l, workers & all);
}

void producer_free(sfu_loop_t *l, struct producer *p)
{
    /* consumers only waiting to switch to p stay with their producer; those
     * leaving p for another one switch now instead of going away with it */
    for (uint32_t i = 0; i < p->n_consumers;) {
        struct consumer *c = p->consumers[i];
        if (c->target == p && c->p != p) {
            c->target = NULL;
            REMOVE(p->consumers, p->n_consumers, c);
        } else if (c->p == p && c->target && c->target != p) {
            consumer_switch(c, c->target);       /* removes c from p's list */
        } else {
            i++;
        }
    }
    while (p->n_consumers)
        consumer_free(l, p->consumers[p->n_consumers - 1]);
    if (p->t)
        REMOVE(p->t->producers, p->t->n_producers, p);
    sfu_idmap_del(&l->producers, p->id);
    sfu_packet_cache_free(&p->cache);
    producer_recovery_free(p);
    free(p->consumers);
    free(p);
}
