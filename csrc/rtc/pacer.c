/* pacer.c - the pacer of one subscriber transport (sfu_bwe.h): a leaky
 * bucket at the pacing rate with two FIFOs of packet handles behind it,
 * retransmissions before video; audio never waits.  The packets themselves
 * stay with the caller (slot `handle` of its storage).  Pure: `now_us` is
 * an argument. */
#include "util/sfu_common.h"
#include "sfu_bwe.h"

#define MIN_BURST_BYTES 3000       /* a low rate still lets two full packets through at once */

void sfu_pacer_init(sfu_pacer_t *p, int64_t now_us)
{
    memset(p, 0, sizeof(*p));
    p->last_us = now_us;
    for (uint32_t i = 0; i < SFU_PACER_SLOTS; i++)
        p->free_slots[i] = (uint16_t)(SFU_PACER_SLOTS - 1 - i);
    p->n_free = SFU_PACER_SLOTS;
}

/* the rate the queue drains at: the pacing rate, or faster when what waits would take longer
 * than SFU_PACER_DRAIN_US (as libwebrtc's pacer drains long queues: a key frame is late, not
 * lost), at most SFU_PACER_DRAIN_MAX_FACTOR x the pacing rate */
static uint64_t drain_rate(const sfu_pacer_t *p)
{
    uint64_t need = p->queued_bytes * 8 * 1000000 / SFU_PACER_DRAIN_US;
    uint64_t cap = p->rate_bps * SFU_PACER_DRAIN_MAX_FACTOR;
    if (need > cap)
        need = cap;
    return need > p->rate_bps ? need : p->rate_bps;
}

static int64_t burst_bytes(uint64_t rate_bps)
{
    int64_t b = (int64_t)(rate_bps * SFU_PACER_BURST_US / 8000000);
    return b < MIN_BURST_BYTES ? MIN_BURST_BYTES : b;
}

static void refill(sfu_pacer_t *p, int64_t now_us)
{
    if (now_us <= p->last_us)
        return;
    uint64_t rate = drain_rate(p);
    p->budget += (int64_t)(rate * (uint64_t)(now_us - p->last_us) / 8000000);
    if (p->budget > burst_bytes(rate))
        p->budget = burst_bytes(rate);
    p->last_us = now_us;
}

void sfu_pacer_set_rate(sfu_pacer_t *p, uint64_t bps, int64_t now_us)
{
    refill(p, now_us);
    if (!p->rate_bps && bps)
        p->budget = 0;           /* from passing through: start with what the first millisecond earns */
    p->rate_bps = bps;
    p->last_us = now_us;
}

/* fifo index of a queued class */
static int fifo_of(uint8_t cls)
{
    return cls == SFU_PACE_RTX ? 0 : 1;
}

static uint16_t fifo_pop(sfu_pacer_t *p, int f)
{
    uint16_t h = p->fifo[f][p->head[f]];
    p->head[f] = (uint16_t)((p->head[f] + 1) % SFU_PACER_SLOTS);
    p->count[f]--;
    p->queued_bytes -= p->item[h].size;
    return h;
}

static void drop_head(sfu_pacer_t *p, int f, int reason)
{
    uint16_t h = fifo_pop(p, f);
    p->free_slots[p->n_free++] = h;
    p->drops[reason]++;
}

/* packets that waited longer than SFU_PACER_MAX_DELAY_US are worth nothing now */
static void drop_late(sfu_pacer_t *p, int64_t now_us)
{
    for (int f = 0; f < 2; f++)
        while (p->count[f] && now_us - p->item[p->fifo[f][p->head[f]]].enqueued_us > SFU_PACER_MAX_DELAY_US)
            drop_head(p, f, SFU_PACER_DROP_LATE);
}

int sfu_pacer_enqueue(sfu_pacer_t *p, uint8_t cls, uint32_t size, int64_t now_us, uint16_t *handle)
{
    if (cls == SFU_PACE_AUDIO || !p->rate_bps) {
        /* audio never waits behind video (its bytes still count); no rate: passing through */
        refill(p, now_us);
        if (p->rate_bps)
            p->budget -= size;
        p->sent++;
        return 1;
    }
    refill(p, now_us);
    drop_late(p, now_us);
    int f = fifo_of(cls);
    int ahead = p->count[0] + (f == 1 ? p->count[1] : 0);
    if (!ahead && p->budget > 0) {
        p->budget -= size;
        p->sent++;
        return 1;
    }
    if (!p->n_free) {
        /* full: the oldest video makes room, else the oldest retransmission */
        drop_head(p, p->count[1] ? 1 : 0, SFU_PACER_DROP_FULL);
    }
    uint16_t h = p->free_slots[--p->n_free];
    p->item[h].enqueued_us = now_us;
    p->item[h].size = size > 0xFFFF ? 0xFFFF : (uint16_t)size;
    p->item[h].cls = cls;
    p->fifo[f][(p->head[f] + p->count[f]) % SFU_PACER_SLOTS] = h;
    p->count[f]++;
    p->queued_bytes += p->item[h].size;
    p->queued++;
    *handle = h;
    return 0;
}

int sfu_pacer_next(sfu_pacer_t *p, int64_t now_us, uint16_t *handle)
{
    refill(p, now_us);
    drop_late(p, now_us);
    if (p->budget <= 0)
        return 0;
    int f = p->count[0] ? 0 : (p->count[1] ? 1 : -1);
    if (f < 0)
        return 0;
    uint16_t h = fifo_pop(p, f);
    p->budget -= p->item[h].size;
    p->free_slots[p->n_free++] = h;
    p->sent++;
    *handle = h;
    return 1;
}

uint32_t sfu_pacer_queued(const sfu_pacer_t *p)
{
    return (uint32_t)p->count[0] + p->count[1];
}

int64_t sfu_pacer_delay_us(const sfu_pacer_t *p, int64_t now_us)
{
    int64_t oldest = INT64_MAX;
    for (int f = 0; f < 2; f++)
        if (p->count[f] && p->item[p->fifo[f][p->head[f]]].enqueued_us < oldest)
            oldest = p->item[p->fifo[f][p->head[f]]].enqueued_us;
    return oldest == INT64_MAX ? 0 : now_us - oldest;
}
