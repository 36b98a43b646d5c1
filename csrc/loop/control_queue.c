/* control_queue.c - the loop -> Python queue (control_queue.h) and its
 * Python-side API (sfu_loop_py_fd / drain / arm). */
#include <sys/eventfd.h>
#include <stdlib.h>
#include <unistd.h>
#include "util/sfu_common.h"
#include "loop/control_queue.h"
#include "loop/loop_internal.h"

int sfu_control_queue_init(sfu_control_queue_t *q, uint32_t cap, sfu_stats_t *stats)
{
    q->cap = cap >= 65536 ? cap : 1u << 22;
    q->buf = malloc(q->cap);
    q->fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    q->stats = stats;
    return q->buf && q->fd >= 0 ? SFU_OK : SFU_ENOMEM;
}

void sfu_control_queue_free(sfu_control_queue_t *q)
{
    if (q->fd >= 0)
        close(q->fd);
    free(q->buf);
    q->buf = NULL;
}

void sfu_control_queue_push(sfu_control_queue_t *q, uint32_t kind, uint32_t socket_id, uint32_t transport_id,
                            uint32_t pkt_class, uint32_t arg, const sfu_addr_t *from, const uint8_t *data,
                            uint32_t len)
{
    uint32_t need = (uint32_t)((sizeof(sfu_py_rec_t) + len + 7) & ~7u);
    uint64_t head = atomic_load_explicit(&q->head, memory_order_relaxed);
    uint64_t tail = atomic_load_explicit(&q->tail, memory_order_acquire);
    uint32_t pos = (uint32_t)(head % q->cap);
    uint32_t to_end = q->cap - pos;
    uint32_t extra = 0;
    if (to_end < need)
        extra = to_end;            /* wrap: the reader skips the tail end */
    if (head + extra + need - tail > q->cap) {
        q->stats->drops[SFU_DROP_TO_PY_FULL]++;
        return;
    }
    if (extra) {
        if (to_end >= sizeof(uint32_t))
            memset(q->buf + pos, 0, sizeof(uint32_t)); /* kind 0 = skip to start */
        head += extra;
        pos = 0;
    }
    sfu_py_rec_t rec = {
        .kind = kind, .len = len, .socket_id = socket_id, .transport_id = transport_id,
        .pkt_class = pkt_class, .arg = arg, .ts_ns = sfu_now_ns(),
    };
    if (from)
        rec.from = *from;
    memcpy(q->buf + pos, &rec, sizeof(rec));
    if (len)
        memcpy(q->buf + pos + sizeof(rec), data, len);
    atomic_store_explicit(&q->head, head + need, memory_order_release);
    q->stats->to_py++;
    q->dirty = 1;
}

void sfu_control_queue_notify(sfu_control_queue_t *q)
{
    if (!q->dirty)
        return;
    q->dirty = 0;
    atomic_thread_fence(memory_order_seq_cst);
    int one = 1;
    if (atomic_load_explicit(&q->waiting, memory_order_relaxed) &&
        atomic_compare_exchange_strong(&q->waiting, &one, 0)) {
        uint64_t v = 1;
        ssize_t w = write(q->fd, &v, sizeof(v));
        (void)w;
    }
}

/* ------------------------------------------------------------------ */
/* Python side */

int sfu_loop_py_fd(sfu_loop_t *l) { return l->pyq.fd; }

int64_t sfu_loop_py_drain(sfu_loop_t *l, uint8_t *out, size_t cap)
{
    sfu_control_queue_t *q = &l->pyq;
    uint64_t tail = atomic_load_explicit(&q->tail, memory_order_relaxed);
    uint64_t head = atomic_load_explicit(&q->head, memory_order_acquire);
    size_t written = 0;
    while (tail < head) {
        uint32_t pos = (uint32_t)(tail % q->cap);
        uint32_t to_end = q->cap - pos;
        if (to_end < sizeof(sfu_py_rec_t)) {
            tail += to_end;
            continue;
        }
        sfu_py_rec_t rec;
        memcpy(&rec, q->buf + pos, sizeof(rec));
        if (rec.kind == 0) {
            tail += to_end;
            continue;
        }
        uint32_t need = (uint32_t)((sizeof(sfu_py_rec_t) + rec.len + 7) & ~7u);
        if (written + need > cap)
            break;
        memcpy(out + written, q->buf + pos, need);
        written += need;
        tail += need;
    }
    atomic_store_explicit(&q->tail, tail, memory_order_release);
    return (int64_t)written;
}

int sfu_loop_py_arm(sfu_loop_t *l)
{
    sfu_control_queue_t *q = &l->pyq;
    uint64_t v;
    ssize_t r = read(q->fd, &v, sizeof(v));   /* clear a pending wake-up */
    (void)r;
    atomic_store_explicit(&q->waiting, 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_seq_cst);
    if (atomic_load_explicit(&q->head, memory_order_acquire) !=
        atomic_load_explicit(&q->tail, memory_order_relaxed)) {
        atomic_store_explicit(&q->waiting, 0, memory_order_relaxed);
        return 1;
    }
    return 0;
}
