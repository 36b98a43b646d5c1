/* rtp_retransmission_buffer.c - what answers a NACK (sfu_units.h): the
 * producer's packet cache, the consumer's send history and the resend
 * policy.  Pure: the resend time is an argument. */
#include <stdlib.h>
#include "util/sfu_common.h"
#include "sfu_units.h"

/* ------------------------------------------------------------------ */
/* packet cache; slots validate their own sequence number */

int sfu_packet_cache_init(sfu_packet_cache_t *c, uint32_t slots)
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

void sfu_packet_cache_free(sfu_packet_cache_t *c)
{
    free(c->data);
    free(c->meta);
    c->data = NULL;
    c->meta = NULL;
}

void sfu_packet_cache_put(sfu_packet_cache_t *c, uint16_t seq, const uint8_t *pkt, uint32_t len)
{
    if (!c->data || len > SFU_MTU)
        return;
    uint32_t i = seq & c->mask;
    memcpy(c->data + (size_t)i * SFU_MTU, pkt, len);
    c->meta[i].seq1 = (uint32_t)seq + 1;
    c->meta[i].len = (uint16_t)len;
}

const uint8_t *sfu_packet_cache_get(const sfu_packet_cache_t *c, uint16_t seq, uint32_t *len)
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

void sfu_send_history_put(sfu_send_history_t *h, uint16_t out_seq, uint16_t in_seq, uint32_t out_ts, uint32_t producer_id)
{
    sfu_sent_packet_t *e = &h->e[out_seq & (SFU_SEND_HISTORY_SLOTS - 1)];
    e->out_seq1 = (uint32_t)out_seq + 1;
    e->in_seq = in_seq;
    e->out_ts = out_ts;
    e->producer_id = producer_id;
    e->resends = 0;
    e->marker = 0;
    e->last_ns = 0;
}

sfu_sent_packet_t *sfu_send_history_get(sfu_send_history_t *h, uint16_t out_seq)
{
    sfu_sent_packet_t *e = &h->e[out_seq & (SFU_SEND_HISTORY_SLOTS - 1)];
    return e->out_seq1 == (uint32_t)out_seq + 1 ? e : NULL;
}

/* ------------------------------------------------------------------ */
/* resend policy */

int sfu_resend_allowed(const sfu_sent_packet_t *e, uint64_t now_ns)
{
    return e && e->resends < SFU_RESEND_MAX && !(e->last_ns && now_ns - e->last_ns < SFU_RESEND_MIN_GAP_NS);
}

void sfu_resend_done(sfu_sent_packet_t *e, uint64_t now_ns)
{
    e->resends++;
    e->last_ns = now_ns;
}
