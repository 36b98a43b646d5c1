/* fuzz_ring.c - stateful fuzzing of the shared-memory SPSC ring.
 *
 * The input is a program: byte 0 picks the ring size, every following
 * opcode byte (plus its argument bytes) is one producer or consumer call,
 * or a corruption of slot bytes.  A model of the ring predicts every
 * result; a message the consumer accepts must be exactly what was put,
 * and only a slot whose bytes were corrupted since it was written may be
 * reported as RING_BAD_SLOT / RING_LAPPED. */
#include "../util/common.c"
#include "../loop/ring.c"
#include "fuzz_common.h"

#define MAX_POS 16384 /* > positions one input can write (16 per 3-byte burst op) */

typedef struct {
    uint32_t serial;           /* distinct per write, selects the payload */
    uint32_t kind;
    uint32_t producer_id;
    uint64_t ts_ns;
    uint16_t len;
} rec_t;

typedef struct {
    sfu_ring_t *r;
    uint8_t *mem;
    uint32_t slots;
    uint64_t head, w_head, tail, r_tail;   /* model of the ring's indices */
    int sleeping;
    uint32_t serial;
    rec_t *rec;                            /* by position; written before read */
    uint8_t dirty[16];                     /* slot corrupted since last written */
    const uint8_t *in;
    size_t n, i;
} state_t;

static unsigned arg8(state_t *s) { return s->i < s->n ? s->in[s->i++] : 0; }
static unsigned arg16(state_t *s) { unsigned lo = arg8(s); return lo | (arg8(s) << 8); }

/* Payload of message `serial`: a window into a fixed pseudo-random pool,
 * different for consecutive messages (compared with memcmp, written by
 * pointer: the ring harness spends its time in the ring, not in loops). */
#define POOL_SPAN 4093u
static uint8_t pool[SFU_SLOT_DATA + 16 + POOL_SPAN]; /* + 16: puts longer than a slot */

static const uint8_t *payload(uint32_t serial)
{
    if (!pool[0]) {
        uint32_t x = 0x12345678u;
        for (size_t i = 0; i < sizeof pool; i++) {
            x ^= x << 13; x ^= x >> 17; x ^= x << 5;
            pool[i] = (uint8_t)(x >> 24);
        }
        pool[0] = 1;
    }
    return pool + (serial * 2654435761u) % POOL_SPAN;
}

static rec_t next_rec(state_t *s, uint16_t len)
{
    uint32_t k = ++s->serial;
    rec_t m = {k, (k & 1) ? SFU_RING_RTP : SFU_RING_RTCP_TO_PRODUCER,
               k * 2654435761u, (uint64_t)k * 0x9E3779B97F4A7C15ull, len};
    return m;
}

static void record_write(state_t *s, rec_t m)
{
    FUZZ_CHECK(s->w_head < MAX_POS);
    s->rec[s->w_head] = m;
    s->dirty[s->w_head & (s->slots - 1)] = 0;
    s->w_head++;
}

static int full(state_t *s) { return s->w_head - s->tail >= s->slots; }

static void op_put(state_t *s)
{
    uint16_t len = (uint16_t)(arg16(s) % (SFU_SLOT_DATA + 9));
    rec_t m = next_rec(s, len);
    sfu_ring_msg_t msg = {m.kind, m.producer_id, m.ts_ns, len};
    int rc = sfu_ring_put(s->r, &msg, payload(m.serial));
    if (len > SFU_SLOT_DATA) {
        FUZZ_CHECK(rc == SFU_DROP_TOO_LONG);
    } else if (full(s)) {
        FUZZ_CHECK(rc == SFU_DROP_RING_FULL);
    } else {
        FUZZ_CHECK(rc == SFU_DROP_NONE);
        record_write(s, m);
    }
}

static void op_reserve_commit(state_t *s)
{
    uint16_t len = (uint16_t)(arg16(s) % (SFU_SLOT_DATA + 1));
    sfu_ring_slot_t *slot = sfu_ring_reserve(s->r);
    if (full(s)) {
        FUZZ_CHECK(slot == NULL);
        return;
    }
    FUZZ_CHECK(slot != NULL);
    rec_t m = next_rec(s, len);
    memcpy(sfu_ring_slot_data(slot), payload(m.serial), len);
    sfu_ring_commit(s->r, slot, m.kind, m.producer_id, m.ts_ns, len);
    record_write(s, m);
}

static void op_publish(state_t *s)
{
    int rc = sfu_ring_publish(s->r);
    int want = 0;
    if (s->head != s->w_head) {
        s->head = s->w_head;
        want = s->sleeping;
        s->sleeping = 0;
    }
    FUZZ_CHECK(rc == want);
}

/* The consumer's verdict on the slot at r_tail: 1 with the message, or a
 * negative reason.  Checks it against the model and advances the model. */
static void consumed(state_t *s, int rc, const sfu_ring_msg_t *m, const uint8_t *data, size_t cap)
{
    if (s->r_tail == s->head) {
        FUZZ_CHECK(rc == 0);
        return;
    }
    FUZZ_CHECK(rc != 0);
    const rec_t *want = &s->rec[s->r_tail];
    int dirty = s->dirty[s->r_tail & (s->slots - 1)];
    s->r_tail++;
    if (rc == -SFU_DROP_RING_BAD_SLOT || rc == -SFU_DROP_RING_LAPPED) {
        FUZZ_CHECK(dirty); /* an intact slot must never be rejected */
        return;
    }
    if (rc == -SFU_DROP_TOO_LONG) {
        FUZZ_CHECK(want->len > cap);
        return;
    }
    FUZZ_CHECK(rc == 1);
    FUZZ_CHECK(m->len <= SFU_SLOT_DATA && m->len <= cap);
    FUZZ_CHECK(m->len == want->len);
    FUZZ_CHECK(m->kind == want->kind && m->producer_id == want->producer_id);
    FUZZ_CHECK(m->ts_ns == want->ts_ns);
    FUZZ_CHECK(memcmp(data, payload(want->serial), m->len) == 0);
}

static void op_get(state_t *s, size_t cap)
{
    /* exactly cap bytes, so the sanitizer sees a write past the caller's
     * buffer (a global array has redzones too, and costs no malloc) */
    static uint8_t full_buf[SFU_SLOT_DATA];
    uint8_t *buf = cap == SFU_SLOT_DATA ? full_buf : malloc(cap ? cap : 1);
    FUZZ_CHECK(buf != NULL);
    sfu_ring_msg_t m;
    memset(&m, 0xa5, sizeof m);
    int rc = sfu_ring_get(s->r, &m, buf, cap);
    consumed(s, rc, &m, buf, cap);
    if (buf != full_buf)
        free(buf);
}

static void op_peek(state_t *s)
{
    int status = 0x7777;
    sfu_ring_slot_t *slot = sfu_ring_peek(s->r, &status);
    FUZZ_CHECK((slot != NULL) == (status == 1));
    sfu_ring_msg_t m;
    const uint8_t *data = NULL;
    if (slot)
        sfu_ring_slot_msg(slot, &m, &data);
    consumed(s, status, &m, data, SFU_SLOT_DATA);
    if (slot)
        sfu_ring_advance(s->r);
}

static void op_corrupt(state_t *s)
{
    unsigned k = arg8(s) & (s->slots - 1);
    size_t off = arg16(s) % sizeof(struct sfu_ring_slot);
    uint8_t x = (uint8_t)arg8(s);
    if (!x)
        x = 0x80;
    ((uint8_t *)&s->r->slot[k])[off] ^= x;
    s->dirty[k] = 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > SFU_MTU || size == 0)
        return 0;
    static rec_t recs[MAX_POS];
    state_t st, *s = &st;
    memset(s, 0, sizeof *s);
    s->rec = recs;
    s->in = data;
    s->n = size;
    s->slots = 2u << (data[0] & 3); /* 2..16 */
    s->i = 1;
    uint64_t bytes = sfu_ring_bytes(s->slots);
    s->mem = malloc(bytes);
    FUZZ_CHECK(s->mem != NULL);
    memset(s->mem, 0xee, bytes);
    FUZZ_CHECK(sfu_ring_attach(s->mem, s->slots) == NULL); /* not initialised yet */
    s->r = sfu_ring_init(s->mem, s->slots);
    FUZZ_CHECK(s->r == (sfu_ring_t *)s->mem);
    FUZZ_CHECK(sfu_ring_attach(s->mem, s->slots) == s->r);
    FUZZ_CHECK(sfu_ring_attach(s->mem, s->slots * 2) == NULL);
    FUZZ_CHECK(sfu_ring_init(s->mem, s->slots + 1) == NULL);

    while (s->i < s->n) {
        unsigned op = s->in[s->i++] % 14;
        switch (op) {
        case 0: op_put(s); break;
        case 1: op_publish(s); break;
        case 2: op_get(s, SFU_SLOT_DATA); break;
        case 3:
            sfu_ring_release(s->r);
            s->tail = s->r_tail;
            break;
        case 4:
            sfu_ring_reset_reader(s->r);
            s->r_tail = s->tail = s->head;
            s->sleeping = 0;
            break;
        case 5:
            sfu_ring_resume_writer(s->r);
            s->w_head = s->head;
            break;
        case 6: {
            int rc = sfu_ring_prepare_sleep(s->r);
            int want = s->head != s->r_tail;
            s->sleeping = !want;
            FUZZ_CHECK(rc == want);
            break;
        }
        case 7:
            sfu_ring_cancel_sleep(s->r);
            s->sleeping = 0;
            break;
        case 8: op_corrupt(s); break;
        case 9: op_reserve_commit(s); break;
        case 10: op_peek(s); break;
        case 11: op_get(s, arg16(s) % (SFU_SLOT_DATA + 1)); break;
        case 12: /* drain */
            for (uint32_t j = 0; j <= s->slots; j++)
                op_get(s, SFU_SLOT_DATA);
            sfu_ring_release(s->r);
            s->tail = s->r_tail;
            break;
        case 13: { /* burst to full, then publish */
            uint16_t len = (uint16_t)arg16(s);
            for (uint32_t j = 0; j <= s->slots; j++) {
                rec_t m = next_rec(s, (uint16_t)((len + j * 97u) % (SFU_SLOT_DATA + 1)));
                sfu_ring_msg_t msg = {m.kind, m.producer_id, m.ts_ns, m.len};
                int rc = sfu_ring_put(s->r, &msg, payload(m.serial));
                if (full(s)) {
                    FUZZ_CHECK(rc == SFU_DROP_RING_FULL);
                } else {
                    FUZZ_CHECK(rc == SFU_DROP_NONE);
                    record_write(s, m);
                }
            }
            op_publish(s);
            break;
        }
        }
        FUZZ_CHECK(sfu_ring_pending(s->r) == s->head - s->tail);
    }
    free(s->mem);
    return 0;
}
