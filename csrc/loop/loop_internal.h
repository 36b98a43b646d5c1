/* loop_internal.h - the state of one worker's forwarding loop (struct
 * sfu_loop), shared by the files of csrc/loop and the media drivers of
 * csrc/rtc.  All of it is owned by the loop thread, except what the
 * command hand-off (commands.c) and the Python queue (control_queue.c)
 * synchronise. */
#ifndef SFU_LOOP_INTERNAL_H
#define SFU_LOOP_INTERNAL_H
#include <pthread.h>
#include <stdatomic.h>
#include "sfu_api.h"
#include "util/idmap.h"
#include "loop/udp_io.h"
#include "loop/control_queue.h"
#include "loop/pipe_rings.h"
#include "loop/tcp_conn.h"
#include "rtc/rtc.h"

struct sfu_loop {
    sfu_loop_config_t cfg;
    int epfd;
    int cmd_fd;                    /* eventfd: a command is pending or stop */
    _Atomic int stop;
    _Atomic int running;

    /* command hand-off from the Python thread (commands.c) */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    const sfu_cmd_t *pending;
    int pending_rc;
    int pending_done;
    int in_command;                /* a command runs (the mutex is held) */

    sfu_idmap_t sockets, transports, producers, consumers;
    sfu_idmap_t addrs;             /* (socket, remote address) -> transport */
    sfu_idmap_t ufrags;            /* hash of our ICE ufrag -> transport (rtc/ice_ufrag_map.c) */

    sfu_pipe_rings_t rings;
    sfu_udp_rx_t rx;
    sfu_udp_tx_t tx;
    sfu_fanout_t fanout;
    sfu_control_queue_t pyq;

    uint64_t next_report_ns;       /* SR / RR */
    uint64_t next_tcc_ns;          /* transport-cc feedback, producer activity */
    uint64_t next_nack_ns;         /* NACKs to publishers */
    int nack_waiting;              /* a NACK generator has missing packets: wake for its timer */
    int keyframe_held;             /* a key frame request is held: wake for the 100 ms timer */
    uint64_t next_pace_ns;         /* pacers and probes */
    struct transport **paced;      /* transports with congestion control on */
    uint32_t n_paced, cap_paced;
    int pacing_busy;               /* a pacer holds packets or a probe runs: wake within a millisecond */
    struct sock **tcp_dirty;       /* ICE-TCP connections with frames queued this iteration */
    uint32_t n_tcp_dirty, cap_tcp_dirty;
    struct sock **tcp_closed;      /* ICE-TCP connections closed this iteration, freed at its end */
    uint32_t n_tcp_closed, cap_tcp_closed;
    sfu_stats_t stats;
};

/* commands.c: apply the command the Python thread handed over (loop thread) */
void loop_service_command(sfu_loop_t *l);

static inline void loop_drop(sfu_loop_t *l, int reason)
{
    l->stats.drops[reason]++;
}

#endif
