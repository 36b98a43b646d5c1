/* ring.c - shared-memory single-producer/single-consumer packet ring.
 *
 * Lives in a memfd mapped MAP_SHARED by every worker.  The producer writes
 * slots privately and publishes its head once per batch; the consumer reads
 * up to the published head and publishes its tail once per batch, so the
 * index cache lines move once per batch, not once per packet.  Each slot
 * carries its own position and a 32-bit check over its position, header
 * fields and payload bytes, so a reader detects a slot that was not (or not
 * completely, or not only) written by the producer instead of forwarding
 * garbage.
 * A full ring drops (counted by the caller); the producer never blocks.
 * Sleep/wake: the consumer raises `sleeping` before it blocks; a producer
 * that publishes while it is raised clears it and reports that a wake-up
 * (eventfd write) is due: at most one wake-up per sleep, never per packet. */
#include <stdatomic.h>
#include "util/sfu_common.h"
#include "sfu_api.h"
#include "loop/ring.h"

#define RING_MAGIC 0x53465552494e4732ull /* "SFURING2": slot check covers the payload */

struct sfu_ring_slot {
    uint64_t pos1;             /* position + 1 of the message in this slot */
    uint32_t kind;
    uint32_t producer_id;
    uint64_t ts_ns;
    uint16_t len;
    uint16_t _pad;
    uint32_t check;            /* slot_check(): every field above and data[0..len) */
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

/* 64x64->128-bit multiply folded to 64 bits */
static inline uint64_t mum(uint64_t a, uint64_t b)
{
    __uint128_t r = (__uint128_t)a * b;
    return (uint64_t)r ^ (uint64_t)(r >> 64);
}

static inline uint64_t rd64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);          /* host order: both ends run on this machine */
    return v;
}

static inline uint64_t rotl64(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

/* one 16-byte step of a lane; the state feeds both multiplicands, so no
 * fixed data value makes a step ignore the other word */
static inline uint64_t lane(uint64_t a, uint64_t w0, uint64_t w1)
{
    return a + mum(a ^ w0, rotl64(a, 32) ^ w1 ^ 0x9E3779B97F4A7C15ull);
}

/* Check word of a slot: a 64-bit hash of the position, the header fields
 * and the payload, folded to 32 bits.  Not cryptographic: it catches torn,
 * stale or stray writes, not a deliberate forger.  Four independent lanes
 * keep it near memcpy speed (the payload is hashed once by the producer
 * and once by the consumer).  Requires s->len <= SFU_SLOT_DATA. */
static uint32_t slot_check(const struct sfu_ring_slot *s)
{
    uint64_t a0 = mum(s->pos1 ^ 0xa0761d6478bd642full, s->ts_ns ^ 0xe7037ed1a0b428dbull);
    uint64_t a1 = mum(((uint64_t)s->kind << 32 | s->producer_id) ^ 0x8ebc6af09c88c6e3ull,
                      (uint64_t)s->len ^ 0x589965cc75374cc3ull);
    uint64_t a2 = a0 ^ 0x1d8e4e27c47d124full, a3 = a1 ^ 0xd6e8feb86659fd93ull;
    const uint8_t *d = s->data;
    size_t n = s->len, i = 0;
    for (; i + 64 <= n; i += 64) {
        a0 = lane(a0, rd64(d + i), rd64(d + i + 8));
        a1 = lane(a1, rd64(d + i + 16), rd64(d + i + 24));
        a2 = lane(a2, rd64(d + i + 32), rd64(d + i + 40));
        a3 = lane(a3, rd64(d + i + 48), rd64(d + i + 56));
    }
    for (; i + 16 <= n; i += 16)
        a0 = lane(a0, rd64(d + i), rd64(d + i + 8));
    if (i < n) {               /* zero-padded tail; the length is in a1 already */
        uint8_t t[16] = {0};
        memcpy(t, d + i, n - i);
        a1 = lane(a1, rd64(t), rd64(t + 8));
    }
    uint64_t x = a0 + rotl64(a1, 16) + rotl64(a2, 32) + rotl64(a3, 48);
    x ^= x >> 33;              /* murmur3 finaliser: a bijection, every bit mixed */
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return (uint32_t)(x ^ (x >> 32));
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
    SFU_ASSERT(len <= SFU_SLOT_DATA);
    uint64_t pos1 = r->w_head + 1;
    s->pos1 = pos1;
    s->kind = kind;
    s->producer_id = pid;
    s->ts_ns = ts_ns;
    s->len = len;
    s->_pad = 0;
    s->check = slot_check(s);
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
    if (s->len > SFU_SLOT_DATA || s->check != slot_check(s)) {
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
