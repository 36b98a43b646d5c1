/* pipe_rings.c - this worker's ends of the cross-worker rings (pipe_rings.h);
 * ring.c is the ring itself. */
#include <unistd.h>
#include "util/sfu_common.h"
#include "loop/pipe_rings.h"

uint64_t sfu_shm_ring_offset(uint32_t n, uint32_t slots, uint32_t from, uint32_t to)
{
    /* ring index: from * (n - 1) + (to < from ? to : to - 1) */
    uint64_t idx = (uint64_t)from * (n - 1) + (to < from ? to : to - 1);
    return idx * sfu_ring_bytes(slots);
}

uint64_t sfu_shm_bytes(uint32_t n, uint32_t slots)
{
    return n < 2 ? 0 : (uint64_t)n * (n - 1) * sfu_ring_bytes(slots);
}

int sfu_pipe_rings_attach(sfu_pipe_rings_t *r, const sfu_loop_config_t *cfg, sfu_stats_t *stats)
{
    memset(r, 0, sizeof(*r));
    r->n_workers = cfg->n_workers;
    r->worker_id = cfg->worker_id;
    r->wake_fds = cfg->wake_fds;
    r->stats = stats;
    for (uint32_t w = 0; w < cfg->n_workers; w++) {
        if (w == cfg->worker_id)
            continue;
        uint8_t *base = cfg->shm_base;
        r->out[w] = sfu_ring_attach(base + sfu_shm_ring_offset(cfg->n_workers, cfg->ring_slots, cfg->worker_id, w),
                                    cfg->ring_slots);
        r->in[w] = sfu_ring_attach(base + sfu_shm_ring_offset(cfg->n_workers, cfg->ring_slots, w, cfg->worker_id),
                                   cfg->ring_slots);
        if (!r->out[w] || !r->in[w])
            return SFU_EINVAL;
        /* a (re)started worker continues its outbound rings where they were
         * published and discards whatever was queued for its predecessor */
        sfu_ring_resume_writer(r->out[w]);
        sfu_ring_reset_reader(r->in[w]);
    }
    return SFU_OK;
}

sfu_ring_t *sfu_pipe_rings_out(const sfu_pipe_rings_t *r, uint32_t w)
{
    return w < SFU_MAX_WORKERS ? r->out[w] : NULL;
}

void sfu_pipe_rings_put_rtp(sfu_pipe_rings_t *r, uint64_t workers, uint32_t producer_id, uint64_t now_ns,
                            const uint8_t *pkt, uint32_t len)
{
    while (workers) {
        int w = __builtin_ctzll(workers);
        workers &= workers - 1;
        sfu_ring_t *ring = r->out[w];
        if (!ring)
            continue;
        sfu_ring_slot_t *s = sfu_ring_reserve(ring);
        if (!s) {
            r->stats->drops[SFU_DROP_RING_FULL]++;
            continue;
        }
        memcpy(sfu_ring_slot_data(s), pkt, len);
        sfu_ring_commit(ring, s, SFU_RING_RTP, producer_id, now_ns, (uint16_t)len);
        r->dirty |= 1ull << w;
        r->stats->ring_tx++;
    }
    sfu_pipe_rings_publish(r);
}

void sfu_pipe_rings_put_keyframe_request(sfu_pipe_rings_t *r, uint32_t w, uint32_t producer_id, uint64_t now_ns)
{
    sfu_ring_slot_t *s = sfu_ring_reserve(r->out[w]);
    if (!s) {
        r->stats->drops[SFU_DROP_RING_FULL]++;
        return;
    }
    sfu_ring_commit(r->out[w], s, SFU_RING_RTCP_TO_PRODUCER, producer_id, now_ns, 0);
    r->dirty |= 1ull << w;
    r->stats->ring_tx++;
}

void sfu_pipe_rings_publish(sfu_pipe_rings_t *r)
{
    uint64_t dirty = r->dirty;
    r->dirty = 0;
    while (dirty) {
        int w = __builtin_ctzll(dirty);
        dirty &= dirty - 1;
        if (sfu_ring_publish(r->out[w]) && r->wake_fds[w] >= 0) {
            uint64_t v = 1;
            ssize_t n = write(r->wake_fds[w], &v, sizeof(v));
            (void)n;
            r->stats->wakeups++;
        }
    }
}

int sfu_pipe_rings_receive(sfu_pipe_rings_t *r, sfu_ring_msg_fn on_msg, sfu_ring_batch_fn on_batch_end,
                           void *ctx)
{
    int total = 0;
    for (uint32_t w = 0; w < r->n_workers; w++) {
        sfu_ring_t *ring = r->in[w];
        if (!ring)
            continue;
        int got = 0;
        while (got < RING_BUDGET) {
            int status;
            sfu_ring_slot_t *slot = sfu_ring_peek(ring, &status);
            if (!slot) {
                if (status == 0)
                    break;
                r->stats->drops[-status]++;   /* a skipped slot counts against the budget too */
                got++;
                continue;
            }
            sfu_ring_msg_t m;
            const uint8_t *data;
            sfu_ring_slot_msg(slot, &m, &data);
            got++;
            r->stats->ring_rx++;
            on_msg(ctx, &m, data);
            sfu_ring_advance(ring);
        }
        on_batch_end(ctx);
        if (got)
            sfu_ring_release(ring);
        total += got;
    }
    return total;
}

void sfu_pipe_rings_reset_reader(sfu_pipe_rings_t *r, uint32_t w)
{
    if (r->in[w])
        sfu_ring_reset_reader(r->in[w]);
}

int sfu_pipe_rings_prepare_sleep(sfu_pipe_rings_t *r)
{
    for (uint32_t w = 0; w < r->n_workers; w++)
        if (r->in[w] && sfu_ring_prepare_sleep(r->in[w])) {
            for (uint32_t v = 0; v < w; v++)
                if (r->in[v])
                    sfu_ring_cancel_sleep(r->in[v]);
            return 1;
        }
    return 0;
}

void sfu_pipe_rings_cancel_sleep(sfu_pipe_rings_t *r)
{
    for (uint32_t w = 0; w < r->n_workers; w++)
        if (r->in[w])
            sfu_ring_cancel_sleep(r->in[w]);
}
