/* ring.c - shared-memory single-producer/single-consumer packet ring.
 *
 * Lives in a memfd mapped MAP_SHARED by every worker.  The producer writes
 * slots privately and publishes its head once per batch; the consumer reads
 * up to the published head and publishes its tail once per batch, so the
 * index cache lines move once per batch, not once per packet.  Each slot
 * carries its own position and a check word, so a reader detects a slot
 * that was not (or not completely) written instead of forwarding garbage.
 * A full ring drops (counted by the caller); the producer never blocks.
 * Sleep/wake: the consumer raises `sleeping` before it blocks; a producer
 * that publishes while it is raised clears it and reports that a wake-up
 * (eventfd write) is due: at most one wake-up per sleep, never per packet. */
#include <stdatomic.h>
#include "sfu_common.h"
#include "ring.h"

#define RING_MAGIC 0x53465552494e4731ull /* "SFURING1" */

struct sfu_ring_slot {
    uint64_t pos1;             /* position + 1 of the message in this slot */
    uint32_t kind;
    uint32_t producer_id;
    uint64_t ts_ns;
    uint16_t len;
    uint16_t check;
    uint32_t _pad;
    uint8_t  data[SFU_SLOT_DATA];
};

struct sfu_ring {
    /* line 0: constant after init */
    uint64_t magic;
    uint32_t slots;
    uint32_t mask;
    uint8_t  _pad0[48];
    /* line 1: producer */
    _Atomic uint64_t head;     /* published */
    uint64_t w_head;           /* producer's private write position */
    uint64_t w_cached_tail;
    uint8_t  _pad1[40];
    /* line 2: consumer */
    _Atomic uint64_t tail;     /* published */
    uint64_t r_tail;           /* consumer's private read position */
    uint64_t r_cached_head;
    uint8_t  _pad2[40];
    /* line 3: sleep flag */
    _Atomic uint32_t sleeping;
    uint8_t  _pad3[60];
    struct sfu_ring_slot slot[];
};

_Static_assert(sizeof(struct sfu_ring_slot) == 32 + SFU_SLOT_DATA, "slot layout");
_Static_assert(sizeof(struct sfu_ring) == 256, "ring header is 4 cache lines");

static inline uint16_t slot_check(uint64_t pos1, uint32_t kind, uint32_t pid, uint16_t len)
{
    uint64_t x = pos1 * 0x9E3779B97F4A7C15ull ^ ((uint64_t)kind << 48) ^ ((uint64_t)pid << 16) ^ len;
    return (uint16_t)(x ^ (x >> 16) ^ (x >> 32) ^ (x >> 48));
}

uint64_t sfu_ring_bytes(uint32_t slots)
{
    return sizeof(struct sfu_ring) + (uint64_t)slots * sizeof(struct sfu_ring_slot);
}

sfu_ring_t *sfu_ring_init(void *mem, uint32_t slots)
{
    if (!mem || slots < 2 || (slots & (slots - 1)))
        return NULL;
    memset(mem, 0, sfu_ring_bytes(slots));
    sfu_ring_t *r = mem;
    r->slots = slots;
    r->mask = slots - 1;
    atomic_store(&r->head, 0);
    atomic_store(&r->tail, 0);
    atomic_store_explicit((_Atomic uint64_t *)&r->magic, RING_MAGIC, memory_order_release);
    return r;
}

sfu_ring_t *sfu_ring_attach(void *mem, uint32_t slots)
{
    sfu_ring_t *r = mem;
    if (!r || r->magic != RING_MAGIC || r->slots != slots || r->mask != slots - 1)
        return NULL;
    return r;
}

sfu_ring_slot_t *sfu_ring_reserve(sfu_ring_t *r)
{
    if (r->w_head - r->w_cached_tail >= r->slots) {
        r->w_cached_tail = atomic_load_explicit(&r->tail, memory_order_acquire);
        if (r->w_head - r->w_cached_tail >= r->slots)
            return NULL;
    }
    return &r->slot[r->w_head & r->mask];
}

void sfu_ring_commit(sfu_ring_t *r, sfu_ring_slot_t *s, uint32_t kind, uint32_t pid,
                     uint64_t ts_ns, uint16_t len)
{
    uint64_t pos1 = r->w_head + 1;
    s->kind = kind;
    s->producer_id = pid;
    s->ts_ns = ts_ns;
    s->len = len;
    s->check = slot_check(pos1, kind, pid, len);
    s->pos1 = pos1;
    r->w_head = pos1;
}

uint8_t *sfu_ring_slot_data(sfu_ring_slot_t *s) { return s->data; }

int sfu_ring_put(sfu_ring_t *r, const sfu_ring_msg_t *m, const uint8_t *data)
{
    if (m->len > SFU_SLOT_DATA)
        return SFU_DROP_TOO_LONG;
    sfu_ring_slot_t *s = sfu_ring_reserve(r);
    if (!s)
        return SFU_DROP_RING_FULL;
    memcpy(s->data, data, m->len);
    sfu_ring_commit(r, s, m->kind, m->producer_id, m->ts_ns, m->len);
    return SFU_DROP_NONE;
}

int sfu_ring_publish(sfu_ring_t *r)
{
    if (atomic_load_explicit(&r->head, memory_order_relaxed) == r->w_head)
        return 0;
    atomic_store_explicit(&r->head, r->w_head, memory_order_release);
    atomic_thread_fence(memory_order_seq_cst);
    if (atomic_load_explicit(&r->sleeping, memory_order_relaxed)) {
        uint32_t one = 1;
        return atomic_compare_exchange_strong(&r->sleeping, &one, 0);
    }
    return 0;
}

sfu_ring_slot_t *sfu_ring_peek(sfu_ring_t *r, int *status)
{
    if (r->r_tail == r->r_cached_head) {
        r->r_cached_head = atomic_load_explicit(&r->head, memory_order_acquire);
        if (r->r_tail == r->r_cached_head) {
            *status = 0;
            return NULL;
        }
    }
    sfu_ring_slot_t *s = &r->slot[r->r_tail & r->mask];
    uint64_t want = r->r_tail + 1;
    if (s->pos1 != want) {
        *status = s->pos1 > want ? -SFU_DROP_RING_LAPPED : -SFU_DROP_RING_BAD_SLOT;
        r->r_tail++;
        return NULL;
    }
    if (s->len > SFU_SLOT_DATA || s->check != slot_check(s->pos1, s->kind, s->producer_id, s->len)) {
        *status = -SFU_DROP_RING_BAD_SLOT;
        r->r_tail++;
        return NULL;
    }
    *status = 1;
    return s;
}

void sfu_ring_advance(sfu_ring_t *r) { r->r_tail++; }

void sfu_ring_slot_msg(const sfu_ring_slot_t *s, sfu_ring_msg_t *m, const uint8_t **data)
{
    m->kind = s->kind;
    m->producer_id = s->producer_id;
    m->ts_ns = s->ts_ns;
    m->len = s->len;
    *data = s->data;
}

int sfu_ring_get(sfu_ring_t *r, sfu_ring_msg_t *m, uint8_t *data, size_t cap)
{
    int status;
    sfu_ring_slot_t *s = sfu_ring_peek(r, &status);
    if (!s)
        return status;
    const uint8_t *src;
    sfu_ring_slot_msg(s, m, &src);
    if (cap < m->len) {
        r->r_tail++;
        return -SFU_DROP_TOO_LONG;
    }
    memcpy(data, src, m->len);
    r->r_tail++;
    return 1;
}

void sfu_ring_release(sfu_ring_t *r)
{
    if (atomic_load_explicit(&r->tail, memory_order_relaxed) != r->r_tail)
        atomic_store_explicit(&r->tail, r->r_tail, memory_order_release);
}

int sfu_ring_prepare_sleep(sfu_ring_t *r)
{
    atomic_store_explicit(&r->sleeping, 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_seq_cst);
    if (atomic_load_explicit(&r->head, memory_order_relaxed) != r->r_tail) {
        atomic_store_explicit(&r->sleeping, 0, memory_order_relaxed);
        return 1;
    }
    return 0;
}

void sfu_ring_cancel_sleep(sfu_ring_t *r)
{
    atomic_store_explicit(&r->sleeping, 0, memory_order_relaxed);
}

void sfu_ring_reset_reader(sfu_ring_t *r)
{
    uint64_t h = atomic_load_explicit(&r->head, memory_order_acquire);
    r->r_tail = h;
    r->r_cached_head = h;
    atomic_store_explicit(&r->tail, h, memory_order_release);
    atomic_store_explicit(&r->sleeping, 0, memory_order_relaxed);
}

void sfu_ring_resume_writer(sfu_ring_t *r)
{
    r->w_head = atomic_load_explicit(&r->head, memory_order_acquire);
    r->w_cached_tail = atomic_load_explicit(&r->tail, memory_order_acquire);
}

uint64_t sfu_ring_pending(sfu_ring_t *r)
{
    return atomic_load_explicit(&r->head, memory_order_acquire) -
           atomic_load_explicit(&r->tail, memory_order_acquire);
}
