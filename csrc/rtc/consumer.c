/* consumer.c - consumers: sending a producer's packet as the subscriber's
 * stream (SSRC, payload type, sequence numbers and timestamps from the seq
 * manager, header extension ids, SRTP once per consumer), resending on NACK
 * (retransmission buffer), switching to another producer at its key frame
 * (simulcast layers), and their lifecycle. */
#include <stdlib.h>
#include "util/sfu_common.h"
#include "util/ptr_array.h"
#include "loop/loop_internal.h"

static inline uint32_t consumer_clock(const struct consumer *c)
{
    return (c->p && c->p->kind == SFU_KIND_AUDIO) ? 48000 : 90000;
}

/* the copy of src the subscriber gets: its payload type, seq, ts, SSRC and
 * header extension ids, the transport's transport-wide sequence number
 * (entered in its send history with `tcc_flags`), encrypted when the
 * transport is secure; returns the length, or -1 (counted) when SRTP fails */
static int consumer_rewrite(sfu_loop_t *l, struct consumer *c, uint8_t *b, const uint8_t *src, uint32_t len,
                            const sfu_rtp_t *rtp, uint16_t out_seq, uint32_t out_ts, uint8_t tcc_flags,
                            uint64_t now)
{
    memcpy(b, src, len);
    b[1] = (uint8_t)((src[1] & 0x80) | (c->payload_type & 0x7f));
    sfu_wr16(b + 2, out_seq);
    sfu_wr32(b + 4, out_ts);
    sfu_wr32(b + 8, c->ssrc);
    if (c->ext_rewrite && rtp->has_extension)
        sfu_header_ext_rewrite(b, rtp, c->ext_map);
    struct transport *t = c->t;
    int stamped = transport_bwe_stamp(t, b, &len, rtp);
    int outlen = (int)len;
    if ((t->flags & SFU_TF_SRTP) && (!t->send_srtp || sfu_srtp_protect(t->send_srtp, b, &outlen) != 0)) {
        loop_drop(l, SFU_DROP_SRTP_PROTECT);
        return -1;
    }
    if (stamped)
        transport_bwe_sent(t, (uint32_t)outlen, tcc_flags, now);
    return outlen;
}

static void consumer_send(sfu_loop_t *l, struct consumer *c, const uint8_t *pkt, uint32_t len,
                          const sfu_rtp_t *rtp)
{
    struct transport *t = c->t;
    if (c->paused) {
        sfu_seq_manager_resync(&c->seq);
        c->stats.dropped++;
        loop_drop(l, SFU_DROP_CONSUMER_PAUSED);
        return;
    }
    if (SFU_UNLIKELY(!t->has_remote)) {
        c->stats.dropped++;
        loop_drop(l, SFU_DROP_NO_REMOTE);
        return;
    }
    if (SFU_UNLIKELY((t->flags & SFU_TF_SRTP) && !t->send_srtp)) {
        c->stats.dropped++;
        loop_drop(l, SFU_DROP_NO_SRTP);
        return;
    }
    uint64_t now = sfu_now_ns();
    uint16_t out_seq;
    uint32_t out_ts;
    sfu_seq_manager_map(&c->seq, rtp->seq, rtp->ts, consumer_clock(c), now, &out_seq, &out_ts);
    struct tx_entry *e = sfu_udp_tx_slot(&l->tx);
    int outlen = consumer_rewrite(l, c, e->buf, pkt, len, rtp, out_seq, out_ts, SFU_TCC_SENT_MEDIA, now);
    if (outlen < 0) {
        c->stats.dropped++;
        return;
    }
    sfu_udp_tx_queue(&l->tx, e, t->sock->fd, (uint32_t)outlen, &t->remote_sa, t->remote_salen);
    sfu_seq_manager_sent(&c->seq, out_seq, out_ts, now);
    if (c->history)
        sfu_send_history_put(c->history, out_seq, rtp->seq, out_ts, c->p->id);
    c->stats.packets++;
    c->stats.bytes += len;
    c->stats.last_seq = out_seq;
    c->stats.last_ts = out_ts;
}

/* move consumer c from its producer to `np` (both in c's lists until now) */
void consumer_switch(struct consumer *c, struct producer *np)
{
    if (c->p && c->p != np)
        REMOVE(c->p->consumers, c->p->n_consumers, c);
    c->p = np;
    c->target = NULL;
    sfu_seq_manager_source_switch(&c->seq);
}

/* a packet of producer p for consumer c: its own stream, or the stream it is
 * switching to (taken over at the first key frame) */
void consumer_on_packet(sfu_loop_t *l, struct consumer *c, struct producer *p, const uint8_t *pkt, uint32_t len,
                        const sfu_rtp_t *rtp)
{
    if (SFU_LIKELY(c->p == p)) {
        consumer_send(l, c, pkt, len, rtp);
        return;
    }
    if (c->target != p)
        return;
    if (sfu_rtp_is_keyframe(pkt, rtp, p->codec) != 0) {   /* key frame, or not detectable */
        consumer_switch(c, p);
        consumer_send(l, c, pkt, len, rtp);
    } else {
        producer_keyframe_needed(l, p);                     /* throttled */
    }
}

/* answer a NACK for one of consumer c's output sequence numbers */
void consumer_resend(sfu_loop_t *l, struct consumer *c, uint16_t out_seq, uint64_t now)
{
    l->stats.nacks++;
    sfu_sent_packet_t *h = c->history ? sfu_send_history_get(c->history, out_seq) : NULL;
    if (!sfu_resend_allowed(h, now)) {
        l->stats.nack_misses++;
        return;
    }
    struct producer *p = sfu_idmap_get(&l->producers, h->producer_id);
    uint32_t len = 0;
    const uint8_t *src = p ? sfu_packet_cache_get(&p->cache, h->in_seq, &len) : NULL;
    sfu_rtp_t rtp;
    if (!src || sfu_rtp_parse(src, len, &rtp) != SFU_DROP_NONE || !c->t->has_remote) {
        l->stats.nack_misses++;
        return;
    }
    struct transport *t = c->t;
    struct tx_entry *e = sfu_udp_tx_slot(&l->tx);
    int outlen = consumer_rewrite(l, c, e->buf, src, len, &rtp, out_seq, h->out_ts, SFU_TCC_SENT_RTX, now);
    if (outlen < 0)
        return;
    sfu_udp_tx_queue(&l->tx, e, t->sock->fd, (uint32_t)outlen, &t->remote_sa, t->remote_salen);
    sfu_resend_done(h, now);
    l->stats.retransmits++;
}

/* ------------------------------------------------------------------ */
/* lifecycle and control (commands) */

int consumer_create(sfu_loop_t *l, struct transport *t, struct producer *p, const sfu_cmd_t *c)
{
    if (sfu_idmap_get(&l->consumers, c->id))
        return SFU_EEXIST;
    struct consumer *k = calloc(1, sizeof(*k));
    if (!k)
        return SFU_ENOMEM;
    k->id = c->id;
    k->t = t;
    k->p = p;
    k->ssrc = c->ssrc;
    k->payload_type = c->payload_type;
    k->paused = c->paused ? 1 : 0;
    sfu_seq_manager_init(&k->seq, c->seq_start, c->ts_offset);
    k->ext_rewrite = c->ext_rewrite ? 1 : 0;
    memcpy(k->ext_map, c->ext_map, sizeof(k->ext_map));
    k->ext_map[0] = 0;
    k->ext_map[15] = 0;
    if (t->flags & SFU_TF_RTCP) {
        k->history = calloc(1, sizeof(*k->history));
        if (!k->history || producer_want_cache(p) != SFU_OK) {
            free(k->history);
            free(k);
            return SFU_ENOMEM;
        }
    }
    if (sfu_idmap_put(&l->consumers, k->id, k)) {
        free(k->history);
        free(k);
        return SFU_ENOMEM;
    }
    if (PUSH(p->consumers, p->n_consumers, p->cap_consumers, k) ||
        PUSH(t->consumers, t->n_consumers, t->cap_consumers, k)) {
        REMOVE(p->consumers, p->n_consumers, k);
        sfu_idmap_del(&l->consumers, k->id);
        free(k->history);
        free(k);
        return SFU_ENOMEM;
    }
    if (p->kind == SFU_KIND_VIDEO && !k->paused)
        producer_keyframe_needed(l, p);   /* a new video subscriber needs a key frame */
    return SFU_OK;
}

void consumer_set_paused(sfu_loop_t *l, struct consumer *c, int paused)
{
    if (c->paused && !paused)
        sfu_seq_manager_resync(&c->seq);
    c->paused = (uint8_t)(paused ? 1 : 0);
    if (!paused && c->p && c->p->kind == SFU_KIND_VIDEO)
        producer_keyframe_needed(l, c->p);   /* a resumed video consumer needs a key frame */
}

void consumer_request_key_frame(sfu_loop_t *l, struct consumer *c)
{
    /* what resuming a running consumer does, without touching its state */
    if (c->p && c->p->kind == SFU_KIND_VIDEO)
        producer_keyframe_needed(l, c->p);
}

int consumer_set_producer(sfu_loop_t *l, struct consumer *c, struct producer *np)
{
    if (c->target == np)
        return SFU_OK;
    if (c->target && c->target != c->p) {    /* an earlier switch not done yet: forget it */
        REMOVE(c->target->consumers, c->target->n_consumers, c);
        c->target = NULL;
    }
    if (c->p == np)
        return SFU_OK;
    if ((c->history && producer_want_cache(np) != SFU_OK) ||
        PUSH(np->consumers, np->n_consumers, np->cap_consumers, c))
        return SFU_ENOMEM;
    if (!c->seq.started || c->paused || np->kind != SFU_KIND_VIDEO || np->codec == SFU_CODEC_OTHER ||
        np->codec == SFU_CODEC_AV1) {
        consumer_switch(c, np);                 /* nothing to wait for */
    } else {
        c->target = np;                         /* switch at np's next key frame */
        producer_keyframe_needed(l, np);
    }
    if (np->kind == SFU_KIND_VIDEO && !c->paused && !c->target)
        producer_keyframe_needed(l, np);
    return SFU_OK;
}

void consumer_free(sfu_loop_t *l, struct consumer *c)
{
    free(c->history);
    if (c->target)
        REMOVE(c->target->consumers, c->target->n_consumers, c);
    if (c->p)
        REMOVE(c->p->consumers, c->p->n_consumers, c);
    if (c->t)
        REMOVE(c->t->consumers, c->t->n_consumers, c);
    sfu_idmap_del(&l->consumers, c->id);
    free(c);
}
