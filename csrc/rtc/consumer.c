/* consumer.c - consumers: sending a producer's packet as the subscriber's
 * stream (SSRC, payload type, sequence numbers and timestamps from the seq
 * manager, header extension ids; then the transport's pacer, numbering and
 * SRTP: transport_pacing.c), resending on NACK (retransmission buffer; as RTX
 * when the subscriber negotiated it), audio as RED with the two packets before
 * it (when the subscriber negotiated red), padding for probes, switching to
 * another producer at its key frame (simulcast layers), and their lifecycle. */
#include <stdlib.h>
#include "util/sfu_common.h"
#include "util/ptr_array.h"
#include "loop/loop_internal.h"

static inline uint32_t consumer_clock(const struct consumer *c)
{
    return (c->p && c->p->kind == SFU_KIND_AUDIO) ? 48000 : 90000;
}

/* the copy of src the subscriber gets (plaintext, before the transport
 * numbers and encrypts it): its payload type, seq, ts, SSRC and header
 * extension ids */
static void consumer_rewrite(struct consumer *c, uint8_t *b, const uint8_t *src, uint32_t len,
                             const sfu_rtp_t *rtp, uint16_t out_seq, uint32_t out_ts)
{
    memcpy(b, src, len);
    b[1] = (uint8_t)((src[1] & 0x80) | (c->payload_type & 0x7f));
    sfu_wr16(b + 2, out_seq);
    sfu_wr32(b + 4, out_ts);
    sfu_wr32(b + 8, c->ssrc);
    if (c->ext_rewrite && rtp->has_extension)
        sfu_header_ext_rewrite(b, rtp, c->ext_map);
}

/* room a packet keeps for the transport-wide sequence number it may be given and SRTP */
#define RED_HEADROOM 32

/* the earlier block of source packet `seq` for a RED packet of primary `rtp`, from the
 * producer's cache: 1 when it may go (sent by c since RED began or resumed, not the
 * primary, within the header fields' reach) */
static int red_block(const struct consumer *c, uint16_t seq, const sfu_rtp_t *rtp, sfu_red_block_t *out)
{
    if ((uint16_t)(seq - c->red_from_seq) >= 0x8000)
        return 0;                                   /* before RED began or the consumer resumed */
    uint32_t len = 0;
    const uint8_t *src = sfu_packet_cache_get(&c->p->cache, seq, &len);
    sfu_rtp_t r;
    if (!src || sfu_rtp_parse(src, len, &r) != SFU_DROP_NONE || r.ssrc != rtp->ssrc)
        return 0;
    uint32_t offset = rtp->ts - r.ts;
    if (offset == 0 || offset > SFU_RED_MAX_TS_OFFSET || r.payload_len > SFU_RED_MAX_BLOCK_LEN)
        return 0;
    out->data = src + r.header_len;
    out->len = r.payload_len;
    out->ts_offset = (uint16_t)offset;
    out->payload_type = c->payload_type;
    return 1;
}

/* the subscriber's copy of audio packet src as RED into b (its rewritten header, then the
 * RED payload of the two packets before it and this one): its length, 0 when this one goes
 * plain (too long for a block, or no earlier block to carry) */
static uint32_t consumer_red_packet(struct consumer *c, uint8_t *b, const uint8_t *src, uint32_t len,
                                    const sfu_rtp_t *rtp, uint16_t out_seq, uint32_t out_ts)
{
    if (c->red_restart) {
        c->red_from_seq = rtp->seq;
        c->red_restart = 0;
    }
    if (rtp->payload_len > SFU_RED_MAX_BLOCK_LEN)
        return 0;
    sfu_red_block_t blocks[SFU_RED_MAX_BLOCKS];
    uint32_t n = 0;
    for (uint16_t back = SFU_RED_MAX_BLOCKS; back >= 1; back--)
        n += (uint32_t)red_block(c, (uint16_t)(rtp->seq - back), rtp, &blocks[n]);
    if (!n)
        return 0;
    consumer_rewrite(c, b, src, rtp->header_len, rtp, out_seq, out_ts);
    uint32_t red = sfu_red_build(b + rtp->header_len, SFU_MTU - RED_HEADROOM - rtp->header_len,
                                 c->payload_type, blocks, n, src + rtp->header_len, rtp->payload_len);
    if (!red)
        return 0;
    b[0] &= (uint8_t)~0x20;                         /* the source's padding is not carried */
    b[1] = (uint8_t)((src[1] & 0x80) | (c->red_payload_type & 0x7f));
    return rtp->header_len + red;
}

static inline uint8_t consumer_pace_class(const struct consumer *c)
{
    return (c->p && c->p->kind == SFU_KIND_AUDIO) ? SFU_PACE_AUDIO : SFU_PACE_VIDEO;
}

/* a packet of a scalable stream: 1 when it is within the layers c forwards (*marker: the
 * marker bit it goes with), 0 when it is left out (its sequence number given up) */
static int consumer_select_layers(sfu_loop_t *l, struct consumer *c, const uint8_t *pkt, const sfu_rtp_t *rtp,
                                  int *marker)
{
    sfu_svc_selector_t *s = &c->svc;
    if (SFU_LIKELY(s->target_spatial == SFU_SVC_ALL && s->spatial == SFU_SVC_ALL &&
                   s->target_temporal == SFU_SVC_ALL && s->temporal == SFU_SVC_ALL))
        return 1;
    int keyframe = rtp->layers.start && rtp->layers.spatial == 0 && sfu_rtp_is_keyframe(pkt, rtp, c->p->codec) == 1;
    uint64_t switches = s->switches;
    int go = sfu_svc_selector_select(s, &rtp->layers, keyframe, marker);
    l->stats.svc_switches += s->switches - switches;
    if (go)
        return 1;
    sfu_seq_manager_drop(&c->seq, rtp->seq);
    l->stats.svc_filtered++;
    if (s->want_keyframe) {
        s->want_keyframe = 0;
        producer_keyframe_needed(l, c->p);          /* throttled per producer */
    }
    return 0;
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
    sfu_rtp_t marked;
    if (SFU_UNLIKELY(rtp->layers.spatial >= 0)) {
        int marker = rtp->marker;
        if (!consumer_select_layers(l, c, pkt, rtp, &marker))
            return;
        if (marker != rtp->marker) {
            marked = *rtp;
            marked.marker = 1;
            rtp = &marked;
        }
    }
    uint64_t now = sfu_now_ns();
    uint16_t out_seq;
    uint32_t out_ts;
    sfu_seq_manager_map(&c->seq, rtp->seq, rtp->ts, consumer_clock(c), now, &out_seq, &out_ts);
    struct tx_entry *e = sfu_udp_tx_slot(&l->tx);
    sfu_rtp_t red_rtp;
    uint32_t red = c->red_payload_type ? consumer_red_packet(c, e->buf, pkt, len, rtp, out_seq, out_ts) : 0;
    if (red) {
        red_rtp = *rtp;
        red_rtp.payload_type = c->red_payload_type;
        red_rtp.payload_len = (uint16_t)(red - rtp->header_len);
        red_rtp.pad_len = 0;
        rtp = &red_rtp;
        len = red;
        l->stats.red_sent++;
    } else {
        consumer_rewrite(c, e->buf, pkt, len, rtp, out_seq, out_ts);
        if (rtp == &marked)
            e->buf[1] |= 0x80;
    }
    if (transport_send_rtp(l, t, e, len, rtp, consumer_pace_class(c), SFU_TCC_SENT_MEDIA, now) < 0) {
        c->stats.dropped++;
        return;
    }
    sfu_seq_manager_sent(&c->seq, out_seq, out_ts, rtp->marker, now);
    if (c->history) {
        sfu_send_history_put(c->history, out_seq, rtp->seq, out_ts, c->p->id);
        if (rtp == &marked) {
            sfu_sent_packet_t *h = sfu_send_history_get(c->history, out_seq);
            if (h)
                h->marker = 1;       /* a resend ends the subscriber's picture too */
        }
    }
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

/* the RTX packet (RFC 4588) of src for the subscriber, in the clear (the transport numbers
 * and encrypts it): on its RTX SSRC and payload type with the RTX stream's next sequence
 * number, the output sequence number it repairs as OSN, its output timestamp and header
 * extension ids; a plain copy when the OSN does not fit in the MTU (*as_rtx stays 0).
 * Returns the length */
static uint32_t consumer_rtx_packet(struct consumer *c, uint8_t *b, const uint8_t *src, uint32_t src_len,
                                    const sfu_rtp_t *rtp, uint16_t out_seq, uint32_t out_ts, int *as_rtx)
{
    uint32_t len = sfu_rtx_wrap(b, SFU_MTU, src, rtp, out_seq, c->rtx_ssrc, c->rtx_payload_type, c->rtx_seq);
    if (!len) {
        consumer_rewrite(c, b, src, src_len, rtp, out_seq, out_ts);
        return src_len;
    }
    c->rtx_seq++;
    sfu_wr32(b + 4, out_ts);
    if (c->ext_rewrite && rtp->has_extension)
        sfu_header_ext_rewrite(b, rtp, c->ext_map);   /* the header layout is src's */
    *as_rtx = 1;
    return len;
}

/* answer a NACK for one of consumer c's output sequence numbers */
void consumer_resend(sfu_loop_t *l, struct consumer *c, uint16_t out_seq, uint64_t now)
{
    l->stats.nacks++;
    if (!c->history && (c->t->flags & SFU_TF_RTCP)) {
        /* an audio consumer's first NACK: its subscriber's link loses packets, so keep a
         * history from now on (this one cannot be answered) */
        c->history = calloc(1, sizeof(*c->history));
        if (c->history && producer_want_cache(c->p) != SFU_OK) {
            free(c->history);
            c->history = NULL;
        }
        l->stats.nack_misses++;
        return;
    }
    sfu_sent_packet_t *h = c->history ? sfu_send_history_get(c->history, out_seq) : NULL;
    if (h && h->producer_id == SFU_PADDING_PRODUCER) {
        l->stats.nack_padding++;              /* a probe: nothing worth sending again */
        return;
    }
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
    int as_rtx = 0;
    uint32_t outlen = len;
    if (c->rtx_ssrc)
        outlen = consumer_rtx_packet(c, e->buf, src, len, &rtp, out_seq, h->out_ts, &as_rtx);
    else
        consumer_rewrite(c, e->buf, src, len, &rtp, out_seq, h->out_ts);
    if (h->marker)
        e->buf[1] |= 0x80;
    if (transport_send_rtp(l, t, e, outlen, &rtp, SFU_PACE_RTX, SFU_TCC_SENT_RTX, now) < 0)
        return;
    if (as_rtx)
        l->stats.rtx_sent++;
    sfu_resend_done(h, now);
    l->stats.retransmits++;
}

/* ------------------------------------------------------------------ */
/* padding (probes: transport_pacing.c) */

/* 1 when padding may follow what c sent last: a video stream at a frame boundary that the
 * subscriber has reported on (as LiveKit's downtrack: a report is proof that the receiver
 * has set the stream up).  Paused too: with every video paused for bandwidth, only probes
 * can show that the link has room again */
int consumer_can_pad(const struct consumer *c)
{
    return c->p && c->p->kind == SFU_KIND_VIDEO && c->receiver_reported && c->seq.frame_end;
}

/* a padding-only packet of pad_len bytes on c's stream into buf (plaintext,
 * not numbered yet), taking c's next sequence number; 0 when c is not at a
 * frame boundary.  Its history entry says padding, so a NACK for it is not
 * answered. */
uint32_t consumer_build_padding(struct consumer *c, uint8_t *buf, uint32_t pad_len)
{
    uint16_t seq;
    uint32_t ts;
    if (!sfu_seq_manager_pad(&c->seq, &seq, &ts))
        return 0;
    if (c->history)
        sfu_send_history_put(c->history, seq, 0, ts, SFU_PADDING_PRODUCER);
    return sfu_rtp_build_padding(buf, SFU_MTU, c->payload_type, seq, ts, c->ssrc, pad_len);
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
    sfu_svc_selector_init(&k->svc);
    k->ext_rewrite = c->ext_rewrite ? 1 : 0;
    memcpy(k->ext_map, c->ext_map, sizeof(k->ext_map));
    k->ext_map[0] = 0;
    k->ext_map[15] = 0;
    consumer_set_rtx(k, c->rtx_ssrc, c->rtx_payload_type);
    k->rtx_seq = (uint16_t)(c->seq_start ^ 0x8000);   /* any start will do: its own numbering */
    /* the send history answers NACKs; a subscriber on a clean link never NACKs audio, so an
     * audio consumer gets one with its first NACK (that one unanswered): 12 KiB saved per audio
     * subscription in a large room */
    if ((t->flags & SFU_TF_RTCP) && p->kind == SFU_KIND_VIDEO) {
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
    if (c->paused && !paused) {
        sfu_seq_manager_resync(&c->seq);
        c->red_restart = 1;            /* what was sent before the pause had other timestamps */
    }
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

void consumer_set_rtx(struct consumer *c, uint32_t rtx_ssrc, uint8_t rtx_payload_type)
{
    c->rtx_ssrc = rtx_ssrc;
    c->rtx_payload_type = rtx_ssrc ? rtx_payload_type : 0;
}

int consumer_set_layers(struct consumer *c, int spatial, int temporal)
{
    if (!c->p || c->p->kind != SFU_KIND_VIDEO)
        return SFU_EINVAL;
    sfu_svc_selector_set_target(&c->svc, spatial, temporal);
    return SFU_OK;
}

int consumer_set_red(struct consumer *c, uint8_t red_payload_type)
{
    if (red_payload_type && (!c->p || c->p->kind != SFU_KIND_AUDIO))
        return SFU_EINVAL;
    if (red_payload_type && producer_want_cache(c->p) != SFU_OK)
        return SFU_ENOMEM;            /* the earlier blocks come from the producer's cache */
    if (red_payload_type && red_payload_type != c->red_payload_type)
        c->red_restart = 1;
    c->red_payload_type = red_payload_type & 0x7f;
    return SFU_OK;
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
    if (!c->seq.started || c->paused || np->kind != SFU_KIND_VIDEO || np->codec == SFU_CODEC_OTHER) {
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
