/* pipe_rings.h - this worker's ends of the cross-worker rings: where they
 * sit in the shared memory, putting packets and key frame requests on the
 * ring to another worker, publishing (and waking a sleeping reader),
 * reading this worker's inbound rings, and the sleep handshake. */
#ifndef SFU_PIPE_RINGS_H
#define SFU_PIPE_RINGS_H
#include "sfu_api.h"
#include "loop/ring.h"

#define RING_BUDGET 256            /* ring messages per ring per receive call */

typedef struct {
    sfu_ring_t *out[SFU_MAX_WORKERS];   /* this worker -> w */
    sfu_ring_t *in[SFU_MAX_WORKERS];    /* w -> this worker */
    uint64_t dirty;                /* out rings with unpublished writes */
    uint32_t n_workers;
    uint32_t worker_id;
    const int *wake_fds;           /* eventfd per worker (the loop's config) */
    sfu_stats_t *stats;            /* ring_tx, ring_rx, wakeups, drops */
} sfu_pipe_rings_t;

/* find and take over this worker's rings in cfg's shared memory: outbound
 * rings continue where they were published, inbound rings drop what was
 * queued for a predecessor.  SFU_OK or SFU_EINVAL. */
int sfu_pipe_rings_attach(sfu_pipe_rings_t *r, const sfu_loop_config_t *cfg, sfu_stats_t *stats);
/* the ring to worker w, NULL when there is none */
sfu_ring_t *sfu_pipe_rings_out(const sfu_pipe_rings_t *r, uint32_t w);
/* one RTP packet of producer_id to every worker in the bitmask, published at once */
void sfu_pipe_rings_put_rtp(sfu_pipe_rings_t *r, uint64_t workers, uint32_t producer_id, uint64_t now_ns,
                            const uint8_t *pkt, uint32_t len);
/* ask worker w (which has a ring from here) for a key frame of its producer */
void sfu_pipe_rings_put_keyframe_request(sfu_pipe_rings_t *r, uint32_t w, uint32_t producer_id, uint64_t now_ns);
/* publish every ring written since the last call; wake readers that sleep */
void sfu_pipe_rings_publish(sfu_pipe_rings_t *r);

typedef void (*sfu_ring_msg_fn)(void *ctx, const sfu_ring_msg_t *m, const uint8_t *data);
typedef void (*sfu_ring_batch_fn)(void *ctx);
/* read up to RING_BUDGET messages from each inbound ring: on_msg per
 * message (data valid until on_batch_end, which runs once per ring before
 * its slots are released); returns the messages read */
int sfu_pipe_rings_receive(sfu_pipe_rings_t *r, sfu_ring_msg_fn on_msg, sfu_ring_batch_fn on_batch_end,
                           void *ctx);
/* worker w restarted: forget what it had queued for us */
void sfu_pipe_rings_reset_reader(sfu_pipe_rings_t *r, uint32_t w);
/* before sleeping: 0 when every inbound ring is empty (sleep; writers will
 * wake us), 1 when data arrived meanwhile (do not sleep) */
int sfu_pipe_rings_prepare_sleep(sfu_pipe_rings_t *r);
void sfu_pipe_rings_cancel_sleep(sfu_pipe_rings_t *r);
#endif
